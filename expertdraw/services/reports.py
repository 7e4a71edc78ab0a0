"""Inspection reports (日巡检、周汇总、月通报): daily, weekly and monthly, in local dates.

Each report is computed from the ledger (draw figures, rates, confirmation times), the pool
(frequency, same-tenderer runs, stale data) and the venues (utilisation), plus a ledger
audit with the period's draws and samples replayed, and a consistency check against the
previous report's checkpoint. It is stored with
the SHA-256 of its canonical JSON, and the ledger records that hash in a ``report.issued``
entry (codes only), in the same transaction, covered by a checkpoint.

The jobs :func:`daily`, :func:`weekly` and :func:`monthly` issue the report of every finished
period that has none yet (bounded look-back, oldest first), so they are idempotent and catch
up after downtime. :func:`daily` then raises the day's expert-use alerts. A supervisor may
also have a finished period's report issued at once (:func:`requested_period`,
:func:`issue_steps`, which reports its progress); it is the same report the job would issue.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .. import clock, logfmt, metrics
from ..domain.canonical import canonical
from ..domain.ledger import format_time, parse_time
from ..extensions import db
from ..models import LedgerEntry
from ..models.inspection import Report
from . import alerts, ledger, rules_record, steps
from . import reports_periods as periods
from .draws import rules
from .errors import NotFound, ServiceError
from .pagination import paginate
from .reports_audit import ledger_section
from .reports_experts import (
    frequent,
    same_tenderer_runs,
    selections,
    stale_share,
    venue_utilisation,
)
from .reports_figures import DRAW_TYPES, NOTICE_TYPES, confirmation, draw_figures, rows

log = logging.getLogger(__name__)


def _previous_checkpoint(kind: str, period: periods.Period) -> dict[str, Any] | None:
    content = db.session.scalar(
        sa.select(Report.content)
        .where(Report.kind == kind, Report.period_start < period.start)
        .order_by(Report.period_start.desc())
        .limit(1)
    )
    return content["ledger"]["checkpoint"] if content else None


def build_content(period: periods.Period, now: datetime | None = None) -> dict[str, Any]:
    """The report of ``period`` made at ``now`` as a JSON value without floats (rates are
    ``"n/d"``)."""
    return {**_figures(period, now or clock.now()), "ledger": _ledger(period)}


def _ledger(period: periods.Period) -> dict[str, Any]:
    """The ledger section: the audit, the period's replays and consistency with the previous
    report."""
    begin, end = period.bounds(periods.zone())
    return ledger_section(begin, end, _previous_checkpoint(period.kind, period))


def _figures(period: periods.Period, now: datetime) -> dict[str, Any]:
    """Every section of the report but the ledger's, made at ``now``."""
    tz = periods.zone()
    begin, end = period.bounds(tz)
    begin_text, end_text = period.text_bounds(tz)
    as_of = format_time(now)
    period_rows = rows(begin_text, end_text, DRAW_TYPES + NOTICE_TYPES)
    limits = alerts.thresholds()
    frequency, consecutive = limits["frequency"], limits["consecutive"]
    over = frequent(selections(end - timedelta(days=frequency["days"]), end), frequency["count"])
    runs = same_tenderer_runs(
        selections(end - timedelta(days=consecutive["days"]), end), consecutive["count"]
    )
    return {
        "kind": period.kind,
        "period": {
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "zone": tz.key,
            "from": begin_text,
            "until": end_text,
        },
        **draw_figures(period_rows),
        "confirmation": confirmation(period_rows, begin_text, end_text),
        "experts": {
            "over_frequency": sorted(over),
            "frequency_threshold": {"count": frequency["count"], "days": frequency["days"]},
            "consecutive_same_tenderer": sorted(runs),
            "consecutive_threshold": {
                "count": consecutive["count"],
                "days": consecutive["days"],
            },
        },
        # The pool's and the venues' state is read as it stands when the report is made (a
        # report issued late, by catch-up or on request, says so by its as_of).
        "stale_data": {**stale_share(period.end, rules().stale_days), "as_of": as_of},
        "venues": {**venue_utilisation(begin, end), "as_of": as_of},
    }


def digest(content: dict[str, Any]) -> str:
    """``hex(SHA-256(C(content)))``."""
    return hashlib.sha256(canonical(content)).hexdigest()


def find(kind: str, period: periods.Period) -> Report | None:
    """The stored report of a period, if issued."""
    return db.session.scalar(
        sa.select(Report).where(Report.kind == kind, Report.period_start == period.start)
    )


def issue(period: periods.Period, now: datetime | None = None) -> tuple[Report, bool]:
    """Issue the report of ``period`` unless it exists (commits). Returns ``(report, new)``."""
    return steps.run(issue_steps(period, now))


ISSUE_STAGES = 3


def issue_steps(
    period: periods.Period, now: datetime | None = None
) -> steps.Steps[tuple[Report, bool]]:
    """:func:`issue` step by step, for the page that shows its progress: yields
    ``report-figures``, ``report-audit`` (the ledger audit and replays, the long part) and
    ``report-sign``, then returns ``(report, new)``. An existing report is returned at once."""
    now = now or clock.now()
    existing = find(period.kind, period)
    if existing is not None:
        return existing, False
    yield steps.Step("report-figures", 0, ISSUE_STAGES)
    content = _figures(period, now)
    yield steps.Step("report-audit", 1, ISSUE_STAGES)
    content["ledger"] = _ledger(period)
    yield steps.Step("report-sign", 2, ISSUE_STAGES)
    return _store(period, content, now)


def requested_period(kind: str, day: date, now: datetime | None = None) -> periods.Period:
    """The finished period of ``kind`` containing local date ``day``, for a report issued on
    request (a supervisor need not wait for the scheduler).

    Only finished periods: a report is issued once and never changes, so one made before its
    period ends would miss the rest of the period (and the scheduler would not replace it).

    Raises:
        ServiceError: ``invalid:kind``; ``invalid:report-period`` when the period has not
            ended yet or ended before the ledger was created.
    """
    now = now or clock.now()
    period = periods.containing(kind, day)
    _start, end = period.bounds(periods.zone())
    if end > now:
        raise ServiceError(
            "invalid:report-period", f"the {kind} period {period.label} has not ended", "day"
        )
    since = _log_start()
    if since is None or end <= since:
        raise ServiceError(
            "invalid:report-period", f"the ledger did not exist in {period.label}", "day"
        )
    return period


def _store(period: periods.Period, content: dict[str, Any], now: datetime) -> tuple[Report, bool]:
    """Save the report and its ``report.issued`` entry, unless another issued it first."""
    sha = digest(content)
    ledger.lock()
    existing = find(period.kind, period)
    if existing is not None:
        db.session.rollback()
        return existing, False
    report = Report(
        kind=period.kind,
        period_start=period.start,
        period_end=period.end,
        content=content,
        sha256=sha,
        created_at=now,
    )
    try:
        db.session.add(report)
        db.session.flush()
        rules_record.record_if_changed(now)
        entry = ledger.append(
            "report.issued",
            {"report": report.code, "kind": period.kind, "period": period.label, "sha256": sha},
            dict(ledger.SYSTEM),
            now=now,
        )
        report.ledger_seq = entry["seq"]
        ledger.issue_checkpoint(now)
        db.session.commit()
    except IntegrityError:  # another instance issued it first
        db.session.rollback()
        found = find(period.kind, period)
        if found is None:
            raise
        return found, False
    except Exception:
        db.session.rollback()
        raise
    metrics.REPORTS_ISSUED.labels(kind=period.kind).inc()
    log.info(logfmt.event("report.issued", report=report.code, sha256=sha, seq=entry["seq"]))
    checks = content["ledger"]
    if not checks["audit"]["ok"] or checks["consistency"]["ok"] is False:
        log.error(
            logfmt.event(
                "report.ledger-problem",
                report=report.code,
                audit=checks["audit"]["ok"],
                consistency=checks["consistency"]["ok"],
            )
        )
    return report, True


def _log_start() -> datetime | None:
    first = db.session.scalar(sa.select(LedgerEntry.time).where(LedgerEntry.seq == 0))
    return parse_time(first) if first else None


def catch_up(kind: str, now: datetime) -> list[Report]:
    """Issue every finished period's missing report of ``kind`` (look-back bounded)."""
    since = _log_start()
    if since is None:
        return []
    due = periods.finished(kind, now, periods.zone(), periods.lookback(kind), since)
    issued = []
    for period in due:
        report, new = issue(period, now)
        if new:
            issued.append(report)
    return issued


def daily(now: datetime) -> list[str]:
    """Scheduler job: missing daily reports, then the expert-use alerts. Returns report ids."""
    issued = catch_up("daily", now)
    alerts.evaluate(now)
    return [r.code for r in issued]


def weekly(now: datetime) -> list[str]:
    """Scheduler job: missing weekly summaries (Monday to Sunday)."""
    return [r.code for r in catch_up("weekly", now)]


def monthly(now: datetime) -> list[str]:
    """Scheduler job: missing monthly reports."""
    return [r.code for r in catch_up("monthly", now)]


def list_reports(
    kind: str | None = None, *, page: int = 1, per_page: int = 50
) -> tuple[list[Report], int]:
    """One page of reports, most recent period first (all kinds unless ``kind``), and the
    total: ``(reports, total)``."""
    stmt = sa.select(Report).order_by(Report.period_start.desc(), Report.id.desc())
    if kind:
        stmt = stmt.where(Report.kind == kind)
    return paginate(stmt, page=page, per_page=per_page)


def get_report(report_id: int) -> Report:
    """A report by id. Raises NotFound."""
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound("report", report_id)
    return report
