"""What a notice says, read from the database: the seat, the window, the specialty drawn.

``notice_content_for`` is the one place that turns a ``Notice`` row into ``NoticeContent``,
for every channel and for the inbox page. It reads only the fields a notice may carry
(rules.md, "Notices and answers"); the project's name, parties and the other members are
never loaded, so no renderer can leak them.

Path: notice → member (seat: venue, room, workstation; stratum name) → draw → project (window;
strata by name → specialty) and venue (name, address).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context

from ..domain.eligibility_config import Rules
from ..domain.notice_text import NoticeContent
from ..extensions import db
from ..models import Draw, Member, Notice, Project, Room, Specialty, Stratum, Venue, Workstation


class NoticeDataError(LookupError):
    """A row a notice depends on is missing or inconsistent; ``code`` names which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def centre_offset() -> timedelta:
    """The rules' ``utc_offset`` (UTC+08:00 unless the settings file says otherwise)."""
    rules = current_app.config.get("ELIGIBILITY_RULES") if has_app_context() else None
    return Rules.from_mapping(rules or {}).utc_offset


def notice_content_for(notice: Notice, *, utc_offset: timedelta | None = None) -> NoticeContent:
    """The content of ``notice``, in the trading centre's offset: ``utc_offset``, else the
    rules' (``[eligibility] utc_offset``, which the settings keep equal to the zone of the
    pages; UTC+08:00 by default).

    Raises NoticeDataError (``data:member``, ``data:draw``, ``data:seat``,
    ``data:stratum``, ``data:invalid``) when the rows do not fit together.
    """
    member = db.session.get(Member, notice.member_id)
    if member is None:
        raise NoticeDataError("data:member", f"notice {notice.id} has no member")
    draw = db.session.get(Draw, member.draw_id)
    project = db.session.get(Project, draw.project_id) if draw else None
    if project is None:
        raise NoticeDataError("data:draw", f"member {member.id} has no draw or project")
    venue = db.session.get(Venue, member.venue_id)
    room = db.session.get(Room, member.room_id)
    workstation = db.session.get(Workstation, member.workstation_id)
    if (
        venue is None
        or room is None
        or workstation is None
        or room.venue_id != venue.id
        or workstation.room_id != room.id
    ):
        raise NoticeDataError("data:seat", f"member {member.id} has an inconsistent seat")
    stratum = db.session.scalars(
        sa.select(Stratum).where(Stratum.project_id == project.id, Stratum.name == member.stratum)
    ).one_or_none()
    specialty = db.session.get(Specialty, stratum.specialty_code) if stratum else None
    if stratum is None or specialty is None:
        raise NoticeDataError("data:stratum", f"member {member.id} has an unknown stratum")
    try:
        offset = utc_offset if utc_offset is not None else centre_offset()
        return _content(notice, project, venue, room, workstation, specialty, offset)
    except ValueError as exc:  # a blank address, an empty window: not worth sending
        raise NoticeDataError("data:invalid", str(exc)) from None


def _content(
    notice: Notice,
    project: Project,
    venue: Venue,
    room: Room,
    workstation: Workstation,
    specialty: Specialty,
    utc_offset: timedelta,
) -> NoticeContent:
    return NoticeContent(
        notice_id=notice.id,
        window_start=project.window_start,
        window_end=project.window_end,
        venue_name=venue.name,
        venue_address=venue.address,
        room_id=room.id,
        workstation_id=workstation.id,
        check_in_code=notice.check_in_code,
        specialty_code=specialty.code,
        specialty_name=specialty.name,
        response_due=notice.due_at,
        utc_offset=utc_offset,
    )
