"""Turning a draw result into seats: members, alternates, bookings and notices.

Bookings are written inside the draw's transaction while the ledger lock is held; every
transaction that books a workstation holds that lock too, so the clash check and the bookings
cannot interleave with another draw's. The database's exclusion constraints stay as the last
guard. The rows that book nothing (members, notices, deliveries, alternates) of a draw's
committee are written before the lock, so that other draws wait less for it.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql

from ..domain import eligibility as el
from ..extensions import db
from ..models import (
    Alternate,
    Booking,
    Delivery,
    Draw,
    Expert,
    Member,
    Notice,
    Project,
    Room,
    Venue,
    Workstation,
)
from ..models.periods import overlapping
from ..personal_data import protector
from . import delivery, ledger

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def root_of(draw: Draw) -> str:
    """The committee's draw id (``D`` for ``D`` and its ``D-R<n>``)."""
    return draw.root_id or draw.id


def expert_ids(codes: list[str]) -> dict[str, int]:
    """Database ids of experts by code."""
    return dict(
        db.session.execute(sa.select(Expert.code, Expert.id).where(Expert.code.in_(codes))).all()
    )


def _project(draw: Draw) -> Project:
    project = db.session.get(Project, draw.project_id)
    assert project is not None
    return project


def _window(draw: Draw) -> tuple[datetime, datetime]:
    project = _project(draw)
    return project.window_start, project.window_end


@dataclass(frozen=True)
class Prepared:
    """What seating a result reads, read before the ledger lock is taken: the window, the
    database ids of the drawn experts (members and alternates) and their rows (for the
    members' delivery channels), read in one query. None of it changes with other draws'
    bookings."""

    start: datetime
    end: datetime
    ids: dict[str, int]
    experts: dict[int, delivery.Addressed]
    #: The project and the deployment's rules: ``busy``'s travel buffer and the rules on other
    #: committees (``same-tenderer``, ``frequency``), checked again under the ledger lock.
    project_id: int
    tenderer_id: int
    rules: el.Rules


# What seating reads of the drawn experts: their codes and their delivery addresses only (the
# other personal data would be decrypted for nothing).
_DRAWN = sa.select(Expert.id, Expert.code, Expert.email, Expert.phone)


def prepare(draw: Draw, body: dict[str, Any]) -> Prepared:
    """The reads of :func:`state_and_clashes` and :func:`write_committee` for a
    ``draw.completed`` body."""
    project = _project(draw)
    codes = [m["expert"] for m in body["members"]]
    codes += [e for a in body["alternates"] for e in a["experts"]]
    from .draws import rules  # draws imports this module

    experts = _drawn(Expert.code.in_(codes))
    ids = {e.code: e.id for e in experts.values()}
    return Prepared(
        project.window_start,
        project.window_end,
        ids,
        experts,
        project.id,
        project.tenderer_id,
        rules(),
    )


def _drawn(condition: sa.ColumnElement[bool]) -> dict[int, delivery.Addressed]:
    """The drawn experts' codes and addresses, by id."""
    return {row.id: row for row in db.session.execute(_DRAWN.where(condition))}


def state_and_clashes(
    draw_id: str, seats: list[dict[str, Any]], prepared: Prepared | None
) -> tuple[str | None, str | None]:
    """The draw's state as committed now, and a failure reason if a drawn workstation or
    expert was booked, a drawn workstation taken out of service, or a drawn member seated on
    another committee the rules on other committees count, since the snapshot (None without
    ``prepared``), in one round trip: all are read under the ledger lock, where every one
    counts."""
    state = sa.select(Draw.state).where(Draw.id == draw_id).scalar_subquery()
    if prepared is None:
        return db.session.execute(sa.select(state)).scalar_one(), None
    closed = _closed_count([s["workstation"] for s in seats])
    drawn = _drawn_elsewhere([prepared.ids[s["expert"]] for s in seats], prepared)
    taken, busy, shut, elsewhere, found = db.session.execute(
        _clash_counts(seats, prepared).add_columns(closed, drawn, state)
    ).one()
    return found, _clash(taken, busy, shut) or ("conflict:expert-drawn" if elsewhere else None)


def _drawn_elsewhere(expert_ids: list[int], prepared: Prepared) -> sa.ScalarSelect[Any]:
    """How many of the drawn members another project's committee, completed since the
    snapshot, now puts under ``same-tenderer`` or ``frequency`` (the pool left such experts
    out; two committees drawn at once must not both seat them): the rules' own spans
    (``eligibility_rules.recent_span``) over the memberships of completed draws."""
    rules = prepared.rules
    if not expert_ids:
        return sa.select(sa.literal(0)).scalar_subquery()
    sits = (
        sa.select(Member.expert_id, Project.tenderer_id, Project.window_start)
        .join(Draw, Draw.id == Member.draw_id)
        .join(Project, Project.id == Draw.project_id)
        .where(
            Member.expert_id.in_(expert_ids),
            Member.state == "active",
            Draw.state == "completed",
            Project.id != prepared.project_id,
        )
        .subquery("sits")
    )
    same_since, same_until = el.recent_span(prepared.start, rules.same_tenderer_days)
    often_since, often_until = el.recent_span(prepared.start, rules.frequency_days)
    same_tenderer = sa.select(sits.c.expert_id).where(
        sits.c.tenderer_id == prepared.tenderer_id,
        sits.c.window_start > same_since,
        sits.c.window_start < same_until,
    )
    too_often = (
        sa.select(sits.c.expert_id)
        .where(sits.c.window_start > often_since, sits.c.window_start < often_until)
        .group_by(sits.c.expert_id)
        .having(sa.func.count() >= rules.frequency_limit)
    )
    either = sa.union(same_tenderer, too_often).subquery("either")
    return sa.select(sa.func.count()).select_from(either).scalar_subquery()


def _closed_count(workstations: list[str]) -> sa.ScalarSelect[Any]:
    """How many of the drawn workstations, their rooms or their venues were taken out of
    service since the snapshot (no new seat goes there: README, places)."""
    return (
        sa.select(sa.func.count(Workstation.id))
        .join(Room, Room.id == Workstation.room_id)
        .join(Venue, Venue.id == Room.venue_id)
        .where(
            Workstation.id.in_(workstations),
            sa.not_(sa.and_(Workstation.active, Room.active, Venue.active)),
        )
        .scalar_subquery()
    )


def _clash_counts(seats: list[dict[str, Any]], prepared: Prepared) -> sa.Select[Any]:
    """Bookings held on a drawn workstation during the window, and of a drawn expert during
    the window widened by the travel buffer (``busy``: the pool left such an expert out, so a
    committee completed meanwhile must not seat them either)."""
    start, end, buffer = prepared.start, prepared.end, prepared.rules.travel_buffer
    on_workstation = Booking.workstation_id.in_([s["workstation"] for s in seats])
    of_expert = Booking.expert_id.in_([prepared.ids[s["expert"]] for s in seats])
    # One range over the widened window finds both kinds from the held bookings' index; the
    # workstations' count keeps to the window itself.
    in_window = sa.and_(Booking.start < end, Booking.end > start)
    return sa.select(
        sa.func.count(Booking.id).filter(on_workstation, in_window),
        sa.func.count(Booking.id).filter(of_expert),
    ).where(
        Booking.released_at.is_(None),
        overlapping(Booking.start, Booking.end, start - buffer, end + buffer),
        sa.or_(on_workstation, of_expert),
    )


def _clash(taken: int, busy: int, closed: int) -> str | None:
    if taken:
        return "conflict:workstation-booked"
    if busy:
        return "conflict:expert-booked"
    return "conflict:workstation-closed" if closed else None


def new_check_in_code() -> str:
    """Ten characters from an unambiguous alphabet, shown as ``XXXXX-XXXXX``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(code: str) -> str:
    """What the hash is taken of: upper case, no separators or spaces, and the ASCII letters
    and digits a full-width input method types (NFKC) read as such."""
    return "".join(
        ch for ch in unicodedata.normalize("NFKC", code).upper() if ch.isascii() and ch.isalnum()
    )


def response_due(
    now: datetime, window_start: datetime, window_end: datetime | None = None
) -> datetime:
    """The response window (default 30 minutes), shorter when the evaluation is near, never
    past its start while it has not begun, and never past its end (a seat offered in the
    last minutes of an evaluation could otherwise be accepted once it is over)."""
    window = timedelta(minutes=current_app.config["RESPONSE_WINDOW_MINUTES"])
    due = now + min(window, max((window_start - now) / 4, timedelta(minutes=5)))
    due = min(due, window_start) if now < window_start else due
    return min(due, window_end) if window_end is not None else due


def _notice_id() -> str:
    """A random notice id: it is printed on the notice, so it must not reveal the draw or
    let members of one committee recognise each other."""
    return "N" + secrets.token_hex(6).upper()


def seat_member(
    draw: Draw, seat: dict[str, Any], expert_id: int, now: datetime, actor: dict[str, str]
) -> int:
    """Create the member, its booking and its notice, and append ``notice.sent``; returns the
    member's id."""
    return seat_members(draw, [(seat, expert_id)], now, actor)[0]


@dataclass
class Written:
    """The rows of newly seated members that book nothing (members, notices and their
    deliveries, alternates), written before their bookings; their ids, so that a draw that
    fails under the ledger lock can take them back."""

    seats: list[tuple[dict[str, Any], int]]
    members: list[int]
    notices: list[str]
    alternates_of: str | None = None  # the draw whose alternates were written


def write_members(
    draw: Draw,
    seats: list[tuple[dict[str, Any], int]],
    now: datetime,
    prepared: Prepared | None = None,
    alternates: list[dict[str, Any]] | None = None,
) -> Written:
    """Members, notices and deliveries for ``(seat, expert id)`` pairs, and ``alternates``
    (rows of ``alternates``), one statement per table for all seats, or one statement for
    them all on PostgreSQL; the bookings and ``notice.sent`` come from :func:`book` and
    :func:`notices_sent`.

    Written as rows rather than ORM objects: nothing in the request reads them back, and the
    unit of work cost more than the statements."""
    alternates = alternates or []
    if not seats and not alternates:
        return Written(seats, [], [])
    root = root_of(draw)
    start, end = (prepared.start, prepared.end) if prepared else _window(draw)
    members = [
        {
            "draw_id": root,
            "source_draw_id": draw.id,
            "expert_id": expert_id,
            "stratum": seat["stratum"],
            "venue_id": seat["venue"],
            "room_id": seat["room"],
            "workstation_id": seat["workstation"],
            "state": "active",
            "joined_at": now,
        }
        for seat, expert_id in seats
    ]
    if prepared is not None:
        experts = prepared.experts
    else:
        experts = _drawn(Expert.id.in_([e for _, e in seats])) if seats else {}
    notices, deliveries = [], []
    due = response_due(now, start, end)
    for _, expert_id in seats:
        code = new_check_in_code()
        notice = {
            "id": _notice_id(),
            "draw_id": root,
            "expert_id": expert_id,
            "check_in_code": code,
            "check_in_hash": protector().lookup_hash(normalise_code(code)),
            "status": "pending",
            "sent_at": now,
            "due_at": due,
        }
        notices.append(notice)
        expert = experts.get(expert_id)
        if expert is None:
            raise ValueError(f"notice {notice['id']} names no known expert")
        deliveries += delivery.delivery_rows(notice["id"], expert, now)
    if db.session.get_bind().dialect.name == "postgresql":
        member_of = _insert_together(members, notices, deliveries, alternates)
        ids = [member_of[expert_id] for _, expert_id in seats]
    else:
        ids = _insert_apart(members, notices, deliveries, alternates)
    return Written(seats, ids, [n["id"] for n in notices])


def _insert_apart(
    members: list[dict[str, Any]],
    notices: list[dict[str, Any]],
    deliveries: list[dict[str, Any]],
    alternates: list[dict[str, Any]],
) -> list[int]:
    """The rows one statement per table (SQLite); the members' ids in the given order."""
    ids: list[int] = []
    if members:
        returning = sa.insert(Member).returning(Member.id, sort_by_parameter_order=True)
        ids = list(db.session.scalars(returning, members))
        for notice, member in zip(notices, ids, strict=True):
            notice["member_id"] = member
        db.session.execute(sa.insert(Notice), notices)
        if deliveries:
            db.session.execute(sa.insert(Delivery), deliveries)
    if alternates:
        db.session.execute(sa.insert(Alternate), alternates)
    return ids


#: The columns each committee row gives, per table (the notices' ``member_id`` comes from
#: the members written in the same statement).
_TOGETHER = {
    "members": [
        "draw_id",
        "source_draw_id",
        "expert_id",
        "stratum",
        "venue_id",
        "room_id",
        "workstation_id",
        "state",
        "joined_at",
    ],
    "notices": [
        "id",
        "draw_id",
        "expert_id",
        "check_in_code",
        "check_in_hash",
        "status",
        "sent_at",
        "due_at",
    ],
    "deliveries": [
        "notice_id",
        "channel",
        "kind",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "maybe_taken",
    ],
    "alternates": ["draw_id", "stratum", "position", "expert_id", "used"],
}


def _unnested(table: sa.Table) -> sa.TableValuedAlias:
    """The rows of ``table`` given as one array per column (``:<table>_<column>``, typed by
    the column: encryption and UTC apply to each element as in an INSERT), as a table."""
    names = _TOGETHER[table.name]
    arrays = [
        sa.bindparam(f"{table.name}_{name}", type_=postgresql.ARRAY(table.c[name].type))
        for name in names
    ]
    return sa.func.unnest(*arrays).table_valued(*names, name=f"{table.name}_rows").render_derived()


@functools.cache
def _together() -> sa.Select[Any]:
    """One statement (PostgreSQL) writing a committee's members, their notices, the notices'
    deliveries and the alternates, each notice given the id of its expert's new member (an
    expert is seated once per committee); it gives ``(expert_id, member id)`` per member.
    Built once, so that it is compiled once and prepared by each connection."""
    members = _unnested(Member.__table__)
    written = (
        sa.insert(Member)
        .from_select(_TOGETHER["members"], sa.select(*members.c))
        .returning(Member.expert_id, Member.id)
        .cte("written_members")
    )
    notices = _unnested(Notice.__table__)
    parts = [
        sa.insert(Notice)
        .from_select(
            [*_TOGETHER["notices"], "member_id"],
            sa.select(*notices.c, written.c.id).join(
                written, written.c.expert_id == notices.c.expert_id
            ),
        )
        .cte("written_notices")
    ]
    for table in (Delivery.__table__, Alternate.__table__):
        rows = _unnested(table)
        insert = sa.insert(table).from_select(_TOGETHER[table.name], sa.select(*rows.c))
        parts.append(insert.cte(f"written_{table.name}"))
    return sa.select(written.c.expert_id, written.c.id).add_cte(*parts)


def _insert_together(
    members: list[dict[str, Any]],
    notices: list[dict[str, Any]],
    deliveries: list[dict[str, Any]],
    alternates: list[dict[str, Any]],
) -> dict[int, int]:
    """The rows in one statement (:func:`_together`); the members' ids by expert id. Four
    round trips were a tenth of a seed-scale draw."""
    values = {}
    given = (members, notices, deliveries, alternates)
    for (table, names), rows in zip(_TOGETHER.items(), given, strict=True):
        if rows and set(rows[0]) != set(names):  # the same rows as SQLite gets, or none
            raise ValueError(f"{table} rows give {sorted(rows[0])}, not {sorted(names)}")
        for name in names:
            values[f"{table}_{name}"] = [row[name] for row in rows]
    return {expert_id: member for expert_id, member in db.session.execute(_together(), values)}


def book(draw: Draw, written: Written, prepared: Prepared | None = None) -> None:
    """The bookings of written members, in one statement (under the ledger lock)."""
    if not written.seats:
        return
    root = root_of(draw)
    start, end = (prepared.start, prepared.end) if prepared else _window(draw)
    db.session.execute(
        sa.insert(Booking),
        [
            {
                "workstation_id": seat["workstation"],
                "expert_id": expert_id,
                "draw_id": root,
                "member_id": member,
                "start": start,
                "end": end,
            }
            for member, (seat, expert_id) in zip(written.members, written.seats, strict=True)
        ],
    )


def notices_sent(draw: Draw, written: Written, now: datetime, actor: dict[str, str]) -> None:
    """``notice.sent`` for each written member, in seat order."""
    root = root_of(draw)
    for notice, (seat, _) in zip(written.notices, written.seats, strict=True):
        ledger.append(
            "notice.sent",
            {"draw": root, "notice": notice, "expert": seat["expert"], "channel": "inbox"},
            actor,
            draw_id=root,
            now=now,
        )


def seat_members(
    draw: Draw,
    seats: list[tuple[dict[str, Any], int]],
    now: datetime,
    actor: dict[str, str],
    prepared: Prepared | None = None,
) -> list[int]:
    """Members, bookings and notices for ``(seat, expert id)`` pairs, then ``notice.sent``
    for each in seat order, under the ledger lock (taken here if it is not held). Returns the
    members' ids."""
    ledger.lock()
    written = write_members(draw, seats, now, prepared)
    book(draw, written, prepared)
    notices_sent(draw, written, now, actor)
    return written.members


def write_committee(draw: Draw, body: dict[str, Any], now: datetime, prepared: Prepared) -> Written:
    """Members, notices and alternates of a completed draw, before its bookings
    (``prepared`` from :func:`prepare` on the same body).

    A root draw's committee is written before the ledger lock is taken: no other
    transaction writes the members of a draw that is still announced, and a second
    completion of the same draw waits on these rows' unique keys, then fails (the caller
    turns that into ``conflict:draw-state``)."""
    ids = prepared.ids
    alternates = [
        {
            "draw_id": draw.id,
            "stratum": group["stratum"],
            "position": position,
            "expert_id": ids[code],
            "used": False,
        }
        for group in body["alternates"]
        for position, code in enumerate(group["experts"])
    ]
    seats = [(seat, ids[seat["expert"]]) for seat in body["members"]]
    written = write_members(draw, seats, now, prepared, alternates)
    if alternates:
        written.alternates_of = draw.id
    return written


def unwrite(written: Written) -> None:
    """Take back the rows of a committee whose draw failed under the lock, those that name
    others first."""
    db.session.execute(sa.delete(Delivery).where(Delivery.notice_id.in_(written.notices)))
    if written.alternates_of is not None:
        db.session.execute(sa.delete(Alternate).where(Alternate.draw_id == written.alternates_of))
    db.session.execute(sa.delete(Notice).where(Notice.id.in_(written.notices)))
    db.session.execute(sa.delete(Member).where(Member.id.in_(written.members)))


def after_commit(draw: Draw) -> None:
    """Hand new notices to the delivery channels once the result is committed."""
    try:
        from . import delivery
    except ImportError:
        return
    deliver = getattr(delivery, "deliver_due", None)
    if deliver is not None and current_app.config.get("DELIVER_IMMEDIATELY", False):
        deliver()
