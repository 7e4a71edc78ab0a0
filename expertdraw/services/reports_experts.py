"""Expert use and capacity figures: selections, frequency, same-tenderer runs, stale data,
venue utilisation. Expert codes only, never names.

A *selection* is a ``notice.sent`` entry: the expert was seated as a member of a committee
(first draw, replacement or supplementary draw alike). The tenderer of a selection is the
tenderer of the committee's project.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..domain.ledger import format_time
from ..extensions import db
from ..models import Booking, Draw, Expert, Organisation, Project, Room, Venue, Workstation
from .reports_figures import rate, rows


@dataclass(frozen=True)
class Selection:
    """An expert seated on a committee: when, and for which tenderer (its credit code)."""

    seq: int
    time: str
    expert: str
    draw: str
    tenderer: str | None


def selections(begin: datetime, end: datetime) -> list[Selection]:
    """Selections with ``begin <= time < end``, in ``seq`` order."""
    found = rows(format_time(begin), format_time(end), ("notice.sent",))
    draws = sorted({r.body["draw"] for r in found})
    tenderers: dict[str, str] = {}
    if draws:
        tenderers = dict(
            db.session.execute(
                sa.select(Draw.id, Organisation.uscc)
                .join(Project, Project.id == Draw.project_id)
                .join(Organisation, Organisation.id == Project.tenderer_id)
                .where(Draw.id.in_(draws))
            ).all()
        )
    return [
        Selection(r.seq, r.time, r.body["expert"], r.body["draw"], tenderers.get(r.body["draw"]))
        for r in found
    ]


def frequent(history: list[Selection], count: int) -> dict[str, int]:
    """Experts with at least ``count`` selections in ``history``: ``{code: selections}``."""
    counts = Counter(s.expert for s in history)
    return {code: n for code, n in sorted(counts.items()) if n >= count}


def same_tenderer_runs(history: list[Selection], count: int) -> dict[str, dict[str, Any]]:
    """Experts whose latest ``count`` or more selections were all for one tenderer.

    ``{code: {"run": n, "last_seq": seq}}``; the tenderer itself is not reported.
    """
    by_expert: dict[str, list[Selection]] = defaultdict(list)
    for selection in history:
        by_expert[selection.expert].append(selection)
    found: dict[str, dict[str, Any]] = {}
    for code in sorted(by_expert):
        picks = by_expert[code]
        last = picks[-1]
        if last.tenderer is None:
            continue
        run = 0
        for pick in reversed(picks):
            if pick.tenderer != last.tenderer:
                break
            run += 1
        if run >= count:
            found[code] = {"run": run, "last_seq": last.seq}
    return found


def stale_share(on: date, stale_days: int) -> dict[str, Any]:
    """Active experts whose data was never confirmed or not since ``on - stale_days``."""
    active = db.session.scalar(sa.select(sa.func.count(Expert.id)).where(Expert.status == "active"))
    limit = on - timedelta(days=stale_days)
    stale = db.session.scalar(
        sa.select(sa.func.count(Expert.id)).where(
            Expert.status == "active",
            sa.or_(Expert.data_confirmed_on.is_(None), Expert.data_confirmed_on < limit),
        )
    )
    return {"active": active, "stale": stale, "share": rate(stale, active)}


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds()) // 60


def venue_utilisation(begin: datetime, end: datetime) -> dict[str, Any]:
    """Booked workstation-minutes over available ones in ``[begin, end)``.

    Booked: the part of each live (not released) booking inside the period. Available: the
    whole period of every workstation in service (of a room and venue in service), and of
    every workstation out of service that still holds such a booking (booked seats stay
    booked when a place closes): both sides count the same workstations, so the share is
    never more than one (the database refuses overlapping bookings of a workstation).
    """
    live = (
        Booking.released_at.is_(None),
        Booking.start < end,
        Booking.end > begin,
    )
    in_service = sa.and_(
        Workstation.active.is_(True), Room.active.is_(True), Venue.active.is_(True)
    )
    workstations = db.session.scalar(
        sa.select(sa.func.count(Workstation.id))
        .join(Room, Room.id == Workstation.room_id)
        .join(Venue, Venue.id == Room.venue_id)
        .where(
            sa.or_(in_service, Workstation.id.in_(sa.select(Booking.workstation_id).where(*live)))
        )
    )
    available = workstations * _minutes(end - begin)
    booked = 0
    for start, stop in db.session.execute(sa.select(Booking.start, Booking.end).where(*live)):
        booked += _minutes(min(stop, end) - max(start, begin))
    return {
        "workstations": workstations,
        "booked_workstation_minutes": booked,
        "available_workstation_minutes": available,
        "utilisation": rate(booked, available),
    }
