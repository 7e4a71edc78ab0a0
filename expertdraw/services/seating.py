"""Turning a draw result into seats: members, alternates, bookings and notices.

Runs inside the draw's transaction while the ledger lock is held; every transaction that books
a workstation holds that lock too, so the clash check and the bookings cannot interleave with
another draw's. The database's exclusion constraints stay as the last guard.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from ..extensions import db
from ..models import Alternate, Booking, Draw, Expert, Member, Notice, Project
from ..personal_data import protector
from . import ledger

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def root_of(draw: Draw) -> str:
    """The committee's draw id (``D`` for ``D`` and its ``D-R<n>``)."""
    return draw.root_id or draw.id


def expert_ids(codes: list[str]) -> dict[str, int]:
    """Database ids of experts by code."""
    return dict(
        db.session.execute(sa.select(Expert.code, Expert.id).where(Expert.code.in_(codes))).all()
    )


def _window(draw: Draw) -> tuple[datetime, datetime]:
    project = db.session.get(Project, draw.project_id)
    assert project is not None
    return project.window_start, project.window_end


@dataclass(frozen=True)
class Prepared:
    """What seating a result reads, read before the ledger lock is taken: the window, the
    database ids of the drawn experts (members and alternates) and the members' rows (for
    the delivery channels). None of it changes with other draws' bookings."""

    start: datetime
    end: datetime
    ids: dict[str, int]
    experts: dict[int, Expert]


def prepare(draw: Draw, body: dict[str, Any]) -> Prepared:
    """The reads of :func:`clashes` and :func:`seat_committee` for a ``draw.completed`` body."""
    start, end = _window(draw)
    codes = [m["expert"] for m in body["members"]]
    codes += [e for a in body["alternates"] for e in a["experts"]]
    ids = expert_ids(codes)
    return Prepared(start, end, ids, _experts([ids[m["expert"]] for m in body["members"]]))


def _experts(ids: list[int]) -> dict[int, Expert]:
    return {
        expert.id: expert
        for expert in db.session.scalars(
            sa.select(Expert).where(Expert.id.in_(ids)).options(orm.lazyload("*"))
        )
    }


def clashes(seats: list[dict[str, Any]], prepared: Prepared) -> str | None:
    """A failure reason if a drawn workstation or expert was booked since the snapshot."""
    on_workstation = Booking.workstation_id.in_([s["workstation"] for s in seats])
    of_expert = Booking.expert_id.in_([prepared.ids[s["expert"]] for s in seats])
    taken, busy = db.session.execute(
        sa.select(
            sa.func.count(Booking.id).filter(on_workstation),
            sa.func.count(Booking.id).filter(of_expert),
        ).where(
            Booking.released_at.is_(None),
            Booking.start < prepared.end,
            Booking.end > prepared.start,
            sa.or_(on_workstation, of_expert),
        )
    ).one()
    if taken:
        return "conflict:workstation-booked"
    return "conflict:expert-booked" if busy else None


def new_check_in_code() -> str:
    """Ten characters from an unambiguous alphabet, shown as ``XXXXX-XXXXX``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(code: str) -> str:
    """What the hash is taken of: upper case, no separators or spaces."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def response_due(now: datetime, window_start: datetime) -> datetime:
    """The response window (default 30 minutes), shorter when the evaluation is near."""
    window = timedelta(minutes=current_app.config["RESPONSE_WINDOW_MINUTES"])
    return now + min(window, max((window_start - now) / 4, timedelta(minutes=5)))


def _notice_id() -> str:
    """A random notice id: it is printed on the notice, so it must not reveal the draw or
    let members of one committee recognise each other."""
    return "N" + secrets.token_hex(6).upper()


def seat_member(
    draw: Draw, seat: dict[str, Any], expert_id: int, now: datetime, actor: dict[str, str]
) -> Member:
    """Create the member, its booking and its notice, and append ``notice.sent``."""
    return seat_members(draw, [(seat, expert_id)], now, actor)[0]


def seat_members(
    draw: Draw,
    seats: list[tuple[dict[str, Any], int]],
    now: datetime,
    actor: dict[str, str],
    prepared: Prepared | None = None,
) -> list[Member]:
    """Members, bookings and notices for ``(seat, expert id)`` pairs, then ``notice.sent``
    for each in seat order. The rows are written in a few statements for all seats at once,
    since this runs under the ledger lock; ``prepared`` holds what was read before it."""
    root = root_of(draw)
    start, end = (prepared.start, prepared.end) if prepared else _window(draw)
    members = [
        Member(
            draw_id=root,
            source_draw_id=draw.id,
            expert_id=expert_id,
            stratum=seat["stratum"],
            venue_id=seat["venue"],
            room_id=seat["room"],
            workstation_id=seat["workstation"],
            state="active",
            joined_at=now,
        )
        for seat, expert_id in seats
    ]
    db.session.add_all(members)
    db.session.flush()
    experts = prepared.experts if prepared else _experts([e for _, e in seats])
    notices = []
    for member, (seat, expert_id) in zip(members, seats, strict=True):
        db.session.add(
            Booking(
                workstation_id=seat["workstation"],
                expert_id=expert_id,
                draw_id=root,
                member_id=member.id,
                start=start,
                end=end,
            )
        )
        code = new_check_in_code()
        notices.append(
            Notice(
                id=_notice_id(),
                draw_id=root,
                member_id=member.id,
                expert_id=expert_id,
                check_in_code=code,
                check_in_hash=protector().lookup_hash(normalise_code(code)),
                status="pending",
                sent_at=now,
                due_at=response_due(now, start),
            )
        )
    db.session.add_all(notices)
    db.session.flush()
    for notice, (seat, expert_id) in zip(notices, seats, strict=True):
        _queue(notice, experts.get(expert_id))
        ledger.append(
            "notice.sent",
            {"draw": root, "notice": notice.id, "expert": seat["expert"], "channel": "inbox"},
            actor,
            draw_id=root,
            now=now,
        )
    return members


def _queue(notice: Notice, expert: Expert | None) -> None:
    try:
        from . import delivery
    except ImportError:  # channels not configured in this build
        return
    delivery.queue_deliveries(notice, new=True, expert=expert)


def seat_committee(draw: Draw, body: dict[str, Any], now: datetime, prepared: Prepared) -> None:
    """Members, alternates, bookings and notices of a completed draw (``prepared`` from
    :func:`prepare` on the same body)."""
    ids = prepared.ids
    seat_members(
        draw,
        [(seat, ids[seat["expert"]]) for seat in body["members"]],
        now,
        ledger.SYSTEM,
        prepared,
    )
    for group in body["alternates"]:
        for position, code in enumerate(group["experts"]):
            db.session.add(
                Alternate(
                    draw_id=draw.id,
                    stratum=group["stratum"],
                    position=position,
                    expert_id=ids[code],
                )
            )
    db.session.flush()


def after_commit(draw: Draw) -> None:
    """Hand new notices to the delivery channels once the result is committed."""
    try:
        from . import delivery
    except ImportError:
        return
    deliver = getattr(delivery, "deliver_due", None)
    if deliver is not None and current_app.config.get("DELIVER_IMMEDIATELY", False):
        deliver()
