"""Inspection for supervisors: reports (JSON, XLSX, CSV), expert-use alerts, suspending an
expert. Importing this route module also registers :mod:`expertdraw.api.sampling`
(supervision samples and their public list)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from flask import Response
from pydantic import Field, StringConstraints

from .. import auth
from ..services import alerts, reports, reports_export
from . import sampling  # noqa: F401  (registers the supervision-sample endpoints)
from .blueprint import bp
from .framework import api_route
from .pagination import Page, PageQuery, page_of
from .schemas import ApiModel, OutModel

SUPERVISE = {"supervisor", "admin"}
Reason = Annotated[str, StringConstraints(min_length=1, max_length=32)]


def _user() -> Any:
    user = auth.current_user()
    assert user is not None
    return user


class ReportQuery(PageQuery):
    kind: Literal["daily", "weekly", "monthly"] | None = None


class ReportSummaryOut(OutModel):
    id: int
    code: str
    kind: str
    period_start: date
    period_end: date
    sha256: str
    ledger_seq: int | None
    created_at: datetime


class ReportOut(ReportSummaryOut):
    content: dict[str, Any]


@api_route(
    bp,
    "GET",
    "/reports",
    roles=SUPERVISE,
    query=ReportQuery,
    response=Page[ReportSummaryOut],
    summary="Inspection reports",
)
def list_reports(query: ReportQuery) -> dict[str, Any]:
    """Daily, weekly and monthly reports, most recent period first."""
    items, total = reports.list_reports(query.kind, page=query.page, per_page=query.per_page)
    return page_of(items, total, query)


@api_route(
    bp, "GET", "/reports/<int:report_id>", roles=SUPERVISE, response=ReportOut, summary="A report"
)
def get_report(report_id: int) -> Any:
    """The report's figures; ``sha256`` is the hash the ``report.issued`` entry carries."""
    return reports.get_report(report_id)


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@api_route(
    bp,
    "GET",
    "/reports/<int:report_id>/xlsx",
    roles=SUPERVISE,
    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    summary="A report as XLSX",
)
def report_xlsx(report_id: int) -> Response:
    """One sheet, ``metric, value`` rows."""
    report = reports.get_report(report_id)
    return _download(
        reports_export.to_xlsx(report),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"{report.code}.xlsx",
    )


@api_route(
    bp,
    "GET",
    "/reports/<int:report_id>/csv",
    roles=SUPERVISE,
    media_type="text/csv",
    summary="A report as CSV",
)
def report_csv(report_id: int) -> Response:
    """UTF-8 with a byte-order mark, ``metric, value`` rows."""
    report = reports.get_report(report_id)
    return _download(reports_export.to_csv(report), "text/csv", f"{report.code}.csv")


class AlertQuery(PageQuery):
    include_acked: bool = False


class AlertOut(OutModel):
    id: int
    kind: str
    expert_code: str
    evidence: str
    detail: dict[str, Any]
    raised_at: datetime
    acked_at: datetime | None


@api_route(
    bp,
    "GET",
    "/alerts",
    roles=SUPERVISE,
    query=AlertQuery,
    response=Page[AlertOut],
    summary="Expert-use alerts",
)
def list_alerts(query: AlertQuery) -> dict[str, Any]:
    """Open alerts, newest first (``include_acked=true`` for all)."""
    items, total = alerts.list_alerts(query.include_acked, page=query.page, per_page=query.per_page)
    return page_of(items, total, query)


@api_route(
    bp,
    "POST",
    "/alerts/<int:alert_id>/ack",
    roles=SUPERVISE,
    response=AlertOut,
    summary="Acknowledge an alert",
)
def ack_alert(alert_id: int) -> Any:
    """Marks the alert as seen; it does not change the expert."""
    return alerts.acknowledge(alert_id, _user())


class SuspendIn(ApiModel):
    reason: Reason
    alert: int | None = Field(None, ge=1, le=2**31 - 1)


class ExpertStatusOut(OutModel):
    code: str
    status: str


@api_route(
    bp,
    "POST",
    "/experts/<code>/suspend",
    roles=SUPERVISE,
    body=SuspendIn,
    response=ExpertStatusOut,
    summary="Suspend an expert",
)
def suspend_expert(code: str, body: SuspendIn) -> Any:
    """The status change and its ``pool.changed`` entry commit together. ``reason`` is a code:
    ``penalty``, ``investigation``, ``own-request``, ``qualification``, ``other`` or
    ``alert:<kind>``; ``alert`` (optional) is acknowledged in the same transaction."""
    return alerts.suspend_expert(code, body.reason, _user(), body.alert)
