"""Supervisors' spreadsheet of the draws of a period (XLSX), for whoever may see the draw record.

The form asks for the first and last day (local dates, at most ``MAX_DAYS`` days); the file
has one row per draw and never any member identity (``services.draw_export``), so downloading
it opens no sealed list and is not a ``list.opened`` entry.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Response, render_template, request
from flask_babel import gettext as _

from .. import auth, clock
from ..services import draw_export
from ..services.draw_export import MAX_DAYS, Cell, DrawSummary
from ..services.errors import ServiceError
from .access import roles_required
from .forms import FormState, parse_day, zone
from .i18n import zone_label
from .labels import label
from .record import SUPERVISE, bp

FIELDS = {"from", "to"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(state: FormState, status: int = 200) -> tuple[str, int]:
    return render_template("supervisor/draw_export.html", form=state, max_days=MAX_DAYS), status


def _day(state: FormState, name: str, missing: str) -> date | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        state.add(name, missing)
        return None
    day = parse_day(text)
    if day is None:
        state.add(name, _("Enter a date as YYYY-MM-DD, e.g. 2027-03-01."))
    return day


def _period(state: FormState) -> tuple[date, date] | None:
    """The first and last day asked for, or None with the errors beside their fields."""
    first = _day(state, "from", _("Enter the first day of the period."))
    last = _day(state, "to", _("Enter the last day of the period."))
    if first is None or last is None:
        return None
    if last < first:
        state.add("to", _("The last day must not be before the first day."))
    elif (last - first).days + 1 > MAX_DAYS:
        state.add("to", _("A period is at most %(days)s days.", days=MAX_DAYS))
    return (first, last) if state.ok else None


def _local(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(zone()).replace(tzinfo=None)


def _row(d: DrawSummary) -> list[Cell]:
    strata = "; ".join(
        f"{s.get('name')} {s.get('specialty')}: {s.get('count', 0)} + {s.get('alternates', 0)}"
        for s in d.strata
    )
    return [
        d.id,
        d.root_id or "",
        d.project,
        _local(d.announced_at),
        _local(d.deadline_at),
        _local(d.finished_at),
        str(label("draw_state", d.state)),
        d.reason or "",
        strata,
        sum(int(s.get("count", 0)) for s in d.strata),
        sum(int(s.get("alternates", 0)) for s in d.strata),
        str(label("entropy", d.entropy_kind)),
        d.commitment,
        d.seed or "",
        d.checkpoint_size,
    ]


def _header() -> list[str]:
    return [
        _("Draw"),
        _("Supplementary draw of"),
        _("Project code"),
        _("Requested and announced"),
        _("Entropy deadline"),
        _("Finished"),
        _("State"),
        _("Reason"),
        _("Strata (name specialty: members + alternates)"),
        _("Members"),
        _("Alternates"),
        _("Entropy"),
        _("Commitment"),
        _("Seed"),
        _("Covering checkpoint (size)"),
    ]


def _about(first: date, last: date, count: int) -> list[tuple[str, Any]]:
    user = auth.current_user()
    return [
        (_("Draws announced from"), first),
        (_("to (inclusive)"), last),
        (_("Draws"), count),
        (_("Times"), zone_label()),
        (_("Exported at"), _local(clock.now())),
        (_("Exported by"), user.username if user else ""),
        (_("Member identities"), _("Not included: members are in the sealed list.")),
    ]


@bp.get("/export/draws")
@roles_required(*SUPERVISE)
def export_draws() -> Response | tuple[str, int]:
    """The period form; with ``from`` and ``to`` the XLSX of the draws announced in it."""
    state = FormState(request.args, fields=FIELDS)
    if "from" not in request.args and "to" not in request.args:
        return _page(state)
    period = _period(state)
    if period is None:
        return _page(state, 422)
    first, last = period
    start = datetime.combine(first, time.min, tzinfo=zone())
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone())
    try:
        summaries = draw_export.draws_between(start, end)
    except ServiceError as exc:
        state.fail(exc)
        return _page(state, exc.http_status)
    data = draw_export.to_xlsx(
        _header(), (_row(d) for d in summaries), _about(first, last, len(summaries))
    )
    name = f"draws-{first.isoformat()}-{last.isoformat()}.xlsx"
    return Response(
        data,
        mimetype=XLSX,
        headers={
            "Content-Disposition": f"attachment; filename={name}",
            "Cache-Control": "no-store",
        },
    )
