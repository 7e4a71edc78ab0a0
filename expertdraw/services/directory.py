"""Read-only listings the pages show: reference data, venues, organisations, draws, and a
venue's bookings by workstation.

Nothing here writes. What each listing returns is already cut to what its readers may see:
``venue_bookings`` has no expert, draw or project, so venue staff never learn who evaluates what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import (
    Booking,
    Draw,
    Expert,
    LedgerEntry,
    Notice,
    Organisation,
    Project,
    Region,
    Room,
    Specialty,
    User,
    Venue,
    Workstation,
)


@dataclass(frozen=True)
class SpecialtyRow:
    """A node of the specialty code tree."""

    code: str
    name: str
    level: int
    parent: str | None


@dataclass(frozen=True)
class DrawRow:
    """A draw with its project's code, as lists show it (no member identities)."""

    id: str
    project: str
    state: str
    entropy_kind: str
    witnesses: int
    announced_at: datetime
    finished_at: datetime | None
    root_id: str | None
    reason: str | None = None


def specialties() -> list[SpecialtyRow]:
    """Every specialty in code order (the tree nests by code prefix)."""
    rows = db.session.scalars(sa.select(Specialty).order_by(Specialty.code))
    return [SpecialtyRow(s.code, s.name, s.level, s.parent_code) for s in rows]


def regions() -> list[tuple[str, str, str]]:
    """Every region as ``(code, name, level)`` in code order."""
    return [
        (r.code, r.name, r.level)
        for r in db.session.scalars(sa.select(Region).order_by(Region.code))
    ]


def organisations(query: str = "", *, offset: int = 0, limit: int = 50) -> tuple[list[Any], int]:
    """A page of organisations (code starts with, or name contains, ``query``) and the total."""
    stmt = sa.select(Organisation)
    text = (query or "").strip()
    if text:
        stmt = stmt.where(
            sa.or_(
                Organisation.uscc.startswith(text.upper(), autoescape=True),
                Organisation.name.contains(text, autoescape=True),
            )
        )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(stmt.order_by(Organisation.uscc).offset(offset).limit(limit))
    return list(rows), total


def venues() -> list[Venue]:
    """Every venue with its rooms and workstations loaded, by id."""
    stmt = (
        sa.select(Venue)
        .options(selectinload(Venue.rooms).selectinload(Room.workstations))
        .order_by(Venue.id)
    )
    return list(db.session.scalars(stmt))


def venue(venue_id: str) -> Venue | None:
    """One venue, or None."""
    return db.session.get(Venue, venue_id)


def venue_bookings(venue_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Current bookings of a venue overlapping ``[start, end)``, by room and workstation.

    Each item: ``room``, ``room_name``, ``workstation``, ``start``, ``end``, ``checked_in``.
    Deliberately nothing about the expert, the draw or the project (rules.md, 四不见面).
    """
    rows = db.session.execute(
        sa.select(Booking.workstation_id, Booking.start, Booking.end, Room.id, Room.name)
        .add_columns(Notice.checked_in_at)
        .join(Workstation, Workstation.id == Booking.workstation_id)
        .join(Room, Room.id == Workstation.room_id)
        .outerjoin(Notice, Notice.member_id == Booking.member_id)
        .where(
            Room.venue_id == venue_id,
            Booking.released_at.is_(None),
            Booking.start < end,
            Booking.end > start,
        )
        .order_by(Room.id, Booking.workstation_id, Booking.start)
    ).all()
    return [
        {
            "room": room_id,
            "room_name": room_name,
            "workstation": workstation,
            "start": b_start,
            "end": b_end,
            "checked_in": checked is not None,
        }
        for workstation, b_start, b_end, room_id, room_name, checked in rows
    ]


def _draw_rows(stmt: sa.Select[Any]) -> list[DrawRow]:
    return [
        DrawRow(
            id=d.id,
            project=code,
            state=d.state,
            entropy_kind=str(d.entropy.get("kind", "")),
            witnesses=int(d.entropy.get("witnesses", 0) or 0),
            announced_at=d.announced_at,
            finished_at=d.finished_at,
            root_id=d.root_id,
            reason=d.reason,
        )
        for d, code in db.session.execute(stmt).all()
    ]


#: A supplementary draw still waiting for its entropy when the committee needed another one
#: fails with this reason (``services.replacements``); lists hide such draws unless asked.
SUPERSEDED = "superseded"


@dataclass(frozen=True)
class DrawSearch:
    """What a list of draws is narrowed to: a draw id or project code (its beginning, any
    case), a state, and whether superseded supplementary draws are shown."""

    text: str = ""
    state: str | None = None
    superseded: bool = False


def find_draws(search: DrawSearch, *, offset: int, limit: int) -> tuple[list[DrawRow], int, int]:
    """One page of draws: those waiting for entropy first, then the others, newest first;
    the number found, and how many superseded draws the search hid."""
    stmt = sa.select(Draw, Project.code).join(Project, Project.id == Draw.project_id)
    text = search.text.strip()
    if text:
        wanted = text.upper()
        stmt = stmt.where(
            sa.or_(
                sa.func.upper(Draw.id).startswith(wanted, autoescape=True),
                sa.func.upper(Project.code).startswith(wanted, autoescape=True),
            )
        )
    if search.state:
        stmt = stmt.where(Draw.state == search.state)
    hidden = 0
    if not search.superseded:
        reason = sa.func.coalesce(Draw.reason, "")
        superseded = sa.and_(Draw.state == "failed", reason == SUPERSEDED)
        hidden = int(
            db.session.scalar(
                sa.select(sa.func.count()).select_from(stmt.where(superseded).subquery())
            )
            or 0
        )
        stmt = stmt.where(sa.not_(superseded))
    total = int(db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0)
    waiting = sa.case((Draw.state == "announced", 0), else_=1)
    ordered = stmt.order_by(waiting, Draw.announced_at.desc(), Draw.id.desc())
    return _draw_rows(ordered.offset(offset).limit(limit)), total, hidden


def draws_of_project(project: Project) -> list[DrawRow]:
    """Every draw of a project (root and supplementary), newest first."""
    stmt = (
        sa.select(Draw, Project.code)
        .join(Project, Project.id == Draw.project_id)
        .where(Draw.project_id == project.id)
        .order_by(Draw.announced_at.desc(), Draw.id.desc())
    )
    return _draw_rows(stmt)


def project_code_of(draw: Draw) -> str:
    """The code of the project a draw belongs to."""
    return db.session.scalar(sa.select(Project.code).where(Project.id == draw.project_id))


def organisation_names(usccs: list[str | None]) -> dict[str, str]:
    """Names of organisations by unified social credit code (unknown codes are left out)."""
    wanted = [u for u in usccs if u]
    if not wanted:
        return {}
    rows = db.session.execute(
        sa.select(Organisation.uscc, Organisation.name).where(Organisation.uscc.in_(wanted))
    )
    return {uscc: name for uscc, name in rows}


def organisations_by_uscc(usccs: list[str]) -> dict[str, Organisation]:
    """Registered organisations by unified social credit code (unknown codes are left out)."""
    if not usccs:
        return {}
    rows = db.session.scalars(sa.select(Organisation).where(Organisation.uscc.in_(usccs)))
    return {org.uscc: org for org in rows}


def specialty_names() -> dict[str, str]:
    """Specialty names by code."""
    rows = db.session.execute(sa.select(Specialty.code, Specialty.name))
    return {code: name for code, name in rows}


def draw_entries(draw_id: str) -> list[tuple[int, str, str]]:
    """``(seq, type, time)`` of the ledger entries recorded for a draw, in order."""
    rows = db.session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.type, LedgerEntry.time)
        .where(LedgerEntry.draw_id == draw_id)
        .order_by(LedgerEntry.seq)
    )
    return [(seq, kind, time) for seq, kind, time in rows]


def counts() -> dict[str, int]:
    """Figures for the administrator's overview: experts by status, venues, organisations."""
    rows = db.session.execute(sa.select(Expert.status, sa.func.count()).group_by(Expert.status))
    by_status = {status: count for status, count in rows}
    return {
        "experts": sum(by_status.values()),
        "active": by_status.get("active", 0),
        "suspended": by_status.get("suspended", 0),
        "venues": db.session.scalar(sa.select(sa.func.count(Venue.id))) or 0,
        "workstations": db.session.scalar(sa.select(sa.func.count(Workstation.id))) or 0,
        "organisations": db.session.scalar(sa.select(sa.func.count(Organisation.id))) or 0,
        "users": db.session.scalar(sa.select(sa.func.count(User.id))) or 0,
    }
