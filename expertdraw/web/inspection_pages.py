"""Supervisor's inspection pages: the daily, weekly and monthly reports the scheduler issues
(list, one report, its XLSX and CSV, and issuing a finished period's report now, with its
progress shown), and the expert-use alerts (acknowledge, or suspend the
expert). The views register on the supervisor blueprint; the roles are the API's
(``api/inspection.py``): supervisors and administrators.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth, clock
from ..models.inspection import REPORT_KINDS
from ..services import alerts, reports, reports_export
from ..services.errors import ServiceError
from . import progress
from .access import roles_required
from .forms import FormState, parse_day, parse_page, zone
from .supervisor import SUPERVISE, bp

PER_PAGE = 25


def _page_number() -> int:
    return parse_page(request.args.get("page"))


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


@bp.get("/reports")
@roles_required(*SUPERVISE)
def reports_list() -> tuple[str, int]:
    """Reports, most recent period first; ``?kind=daily|weekly|monthly`` narrows the list."""
    state = FormState(request.args, fields={"kind"})
    kind = request.args.get("kind") or None
    status = 200
    if kind is not None and kind not in REPORT_KINDS:
        state.add("kind", _("Choose daily, weekly or monthly reports."))
        kind, status = None, 422
    return _reports_page(kind or "", status, filter_form=state)


def _reports_page(
    kind: str,
    status: int,
    *,
    filter_form: FormState | None = None,
    issue_form: FormState | None = None,
) -> tuple[str, int]:
    """The list (filtered by ``kind``) and the form issuing a report now, each form with its
    own state (values typed, errors)."""
    page = _page_number()
    items, total = reports.list_reports(kind or None, page=page, per_page=PER_PAGE)
    return render_template(
        "supervisor/reports.html",
        reports=items,
        kind=kind,
        kinds=REPORT_KINDS,
        form=filter_form or FormState({}),
        issue=issue_form or FormState({}),
        yesterday=(clock.now().astimezone(zone()) - timedelta(days=1)).date().isoformat(),
        page=page,
        pages=_pages(total),
        total=total,
    ), status


def _report_page(item: Any, issued: bool | None = None) -> str:
    return render_template(
        "supervisor/report.html",
        report=item,
        c=item.content,
        rows=reports_export.flatten(item.content),
        issued=issued,
    )


@bp.post("/reports")
@roles_required(*SUPERVISE)
def issue_report() -> Response | tuple[str, int]:
    """Issue the report of a finished day, week or month now, without waiting for the
    scheduler; the page's script shows the progress (the ledger audit takes a while)."""
    state = FormState(request.form, fields={"report_kind", "day"})
    kind = request.form.get("report_kind", "")
    if kind not in REPORT_KINDS:
        state.add("report_kind", _("Choose daily, weekly or monthly reports."))
    day = parse_day(request.form.get("day"))
    if day is None:
        state.add("day", _("Enter a date as YYYY-MM-DD."))
    period = None
    if state.ok:
        try:
            period = reports.requested_period(kind, day)
        except ServiceError as exc:
            state.fail(exc, aliases={"kind": "report_kind"})
    if period is None:
        return _reports_page("", 422, issue_form=state)
    if progress.wanted():
        return progress.stream(
            reports.issue_steps(period),
            lambda result: progress.Page(_report_page(result[0], result[1])),
        )
    item, new = reports.issue(period)
    if new:
        flash(_("Report %(code)s is issued.", code=item.code), "success")
    else:
        flash(_("Report %(code)s was issued already.", code=item.code), "success")
    return redirect(url_for("supervisor.report", report_id=item.id))


@bp.get("/reports/<int:report_id>")
@roles_required(*SUPERVISE)
def report(report_id: int) -> str:
    """One report: its key figures, the ledger checks, every figure as ``metric, value``."""
    return _report_page(reports.get_report(report_id))


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/reports/<int:report_id>.xlsx")
@roles_required(*SUPERVISE)
def report_xlsx(report_id: int) -> Response:
    """The report as an XLSX workbook (``metric, value`` rows)."""
    item = reports.get_report(report_id)
    return _download(
        reports_export.to_xlsx(item),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"{item.code}.xlsx",
    )


@bp.get("/reports/<int:report_id>.csv")
@roles_required(*SUPERVISE)
def report_csv(report_id: int) -> Response:
    """The report as CSV (UTF-8 with a byte-order mark)."""
    item = reports.get_report(report_id)
    return _download(reports_export.to_csv(item), "text/csv", f"{item.code}.csv")


def _alerts_page(form: FormState | None = None, failed: int | None = None) -> str:
    show_all = request.args.get("all") == "1"
    page = _page_number()
    items, total = alerts.list_alerts(show_all, page=page, per_page=PER_PAGE)
    return render_template(
        "supervisor/alerts.html",
        alerts=items,
        show_all=show_all,
        form=form or FormState({}),
        failed=failed,
        page=page,
        pages=_pages(total),
        total=total,
    )


@bp.get("/alerts")
@roles_required(*SUPERVISE)
def alerts_list() -> str:
    """Open alerts, newest first (``?all=1``: acknowledged ones too)."""
    return _alerts_page()


def _user() -> Any:
    return auth.current_user()


@bp.post("/alerts/<int:alert_id>/ack")
@roles_required(*SUPERVISE)
def alert_ack(alert_id: int) -> Response | tuple[str, int]:
    """Acknowledge an alert: seen and handled; the expert is not changed."""
    state = FormState(request.form)
    try:
        alerts.acknowledge(alert_id, _user())
    except ServiceError as exc:
        state.fail(exc)
        return _alerts_page(state, alert_id), exc.http_status
    flash(_("The alert is acknowledged."), "success")
    return redirect(url_for("supervisor.alerts_list"))


@bp.post("/alerts/<int:alert_id>/suspend")
@roles_required(*SUPERVISE)
def alert_suspend(alert_id: int) -> Response | tuple[str, int]:
    """Suspend the alert's expert with a reason (``pool.changed``); acknowledges the alert in
    the same transaction."""
    state = FormState(request.form, fields={"reason"})
    reason = request.form.get("reason", "")
    try:
        alert = alerts.get_alert(alert_id)
        alerts.suspend_expert(alert.expert_code, reason, _user(), alert_id)
    except ServiceError as exc:
        state.fail(exc)
        return _alerts_page(state, alert_id), exc.http_status
    flash(_("Expert %(code)s is suspended.", code=alert.expert_code), "success")
    return redirect(url_for("supervisor.alerts_list"))
