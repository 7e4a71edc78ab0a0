"""The sealed list: who the members are, hidden until the rules open it, every opening logged.

Before opening, project managers see counts only. The list opens for venue staff at the
window start (their own venue), for the project manager after the award is recorded, and for
a supervisor at any time with a stated purpose. Every opening appends ``list.opened``.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..domain.ledger import parse_time
from ..extensions import db
from ..input_text import carries_personal_data, visible_text
from ..models import (
    Draw,
    Expert,
    LedgerEntry,
    ListOpeningToken,
    Member,
    Notice,
    Project,
    User,
)
from . import ledger, replacements
from .errors import Conflict, Forbidden, ServiceError

# How long the page of an opening may be sent again (a reload) without a new opening.
SHOWN_AGAIN_FOR = timedelta(minutes=15)


def progress(draw: Draw) -> dict[str, Any]:
    """Counts only (safe for project managers): accepted, pending, declined, timeout, replaced;
    and the committee's open places (its strata's counts less its seated members, once its
    draw has completed) with the supplementary draw waiting to fill them, if any. Open places
    without a waiting draw are places the pool cannot fill (draw.md §6.4)."""
    root = draw.root_id or draw.id
    statuses = Counter(db.session.scalars(sa.select(Notice.status).where(Notice.draw_id == root)))
    replaced = db.session.scalar(
        sa.select(sa.func.count(Member.id)).where(
            Member.draw_id == root, Member.state == "replaced"
        )
    )
    seated = db.session.scalar(
        sa.select(sa.func.count(Member.id)).where(Member.draw_id == root, Member.state == "active")
    )
    root_draw = draw if draw.root_id is None else db.session.get(Draw, root)
    places = sum(s.count for s in db.session.get(Project, draw.project_id).strata)
    waiting = replacements.waiting_supplementary(root)
    return {
        "draw": draw.id,
        "state": draw.state,
        "members": seated,
        "open_places": max(places - seated, 0) if root_draw.state == "completed" else 0,
        "waiting_supplementary": waiting,
        "accepted": statuses.get("accepted", 0),
        "pending": statuses.get("pending", 0),
        "declined": statuses.get("declined", 0),
        "timeout": statuses.get("timeout", 0),
        "replaced": replaced,
    }


def _may_open(draw: Draw, project: Project, user: User, purpose: str, now: datetime) -> None:
    if user.role in ("supervisor", "admin"):
        if not purpose:
            raise ServiceError(
                "invalid:purpose", "opening the list early needs a purpose", "purpose"
            )
        return
    if user.role == "project_manager":
        if project.awarded_at is None:
            raise Forbidden("forbidden:list-sealed", "the list opens after the award is recorded")
        return
    if user.role == "venue_staff":
        # The evaluation staff see their venue's members during the evaluation only: after
        # it, a desk could walk the draw ids and learn who sat on which committee.
        if now < project.window_start:
            raise Forbidden("forbidden:list-sealed", "the list opens at the window start")
        if now >= project.window_end:
            raise Forbidden("forbidden:list-sealed", "the list closes at the window end")
        return
    raise Forbidden("forbidden:list-sealed", "this role never sees the list")


def checked_purpose(purpose: str | None) -> str:
    """The purpose of an opening, stripped: at most 300 characters and no personal data (the
    ledger keeps it for ever). Raises ServiceError (``invalid:purpose``,
    ``invalid:purpose-personal``)."""
    purpose = (purpose or "").strip()
    if len(purpose) > 300:
        raise ServiceError("invalid:purpose", "purpose is at most 300 characters", "purpose")
    if purpose and not visible_text(purpose):
        # A purpose nobody can read is none: opening the list early needs one, logged.
        raise ServiceError(
            "invalid:purpose",
            "the purpose is read by people: visible characters only, no invisible or "
            "direction-changing ones",
            "purpose",
        )
    if carries_personal_data(purpose):
        raise ServiceError(
            "invalid:purpose-personal",
            "the purpose is kept in the ledger for ever, which holds no personal data: write "
            "no identity number, phone number or e-mail address",
            "purpose",
        )
    return purpose


def open_list(draw: Draw, user: User, purpose: str = "") -> list[dict[str, Any]]:
    """The members (venue staff: of their venue) after checking the rules; logs the opening."""
    return open_list_logged(draw, user, purpose)[0]


#: How long a purpose form's token is kept (its page is shown again for SHOWN_AGAIN_FOR).
TOKENS_KEPT_FOR = timedelta(days=1)


def open_list_logged(
    draw: Draw,
    user: User,
    purpose: str = "",
    *,
    token: str | None = None,
    page: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """:func:`open_list`, and the ``seq`` of the ``list.opened`` entry that records it.

    ``token``: the purpose form's one-time token, sent from ``page``. The same form sent
    again (the same user, draw, page and purpose), even while its first answer is on its
    way, shows the list under the first opening (:func:`shown_again`) instead of recording
    another; the token is looked up under the ledger lock, which the first opening holds
    until it has recorded both."""
    now = clock.now()
    project = db.session.get(Project, draw.project_id)
    purpose = checked_purpose(purpose)
    root = draw.root_id or draw.id
    rows = _rows(root, user)
    if user.role == "venue_staff" and not rows:
        # A desk opens only a committee seated at its venue: any other opening would be a
        # ledger entry with no reason. Judged before the window, so that walking the draw ids
        # learns nothing of other venues' windows from the answers either.
        raise Forbidden("forbidden:list-venue", "no member of this draw sits at your venue")
    _may_open(draw, project, user, purpose, now)
    ledger.lock()
    earlier = db.session.get(ListOpeningToken, token) if token else None
    if earlier is not None:
        same = (earlier.user_id, earlier.draw_id, earlier.page, earlier.purpose) == (
            user.id,
            root,
            page,
            purpose,
        )
        if same:
            db.session.rollback()
            try:
                return shown_again(draw, user, earlier.seq), earlier.seq
            except ServiceError:
                ledger.lock()  # too old now: a new opening, recorded as such
        token = None  # the token stays the first opening's
    entry = ledger.append(
        "list.opened",
        {"draw": root, "by": user.pseudonym, "purpose": purpose or _default_purpose(user)},
        {"role": user.role, "id": user.pseudonym},
        draw_id=root,
        now=now,
    )
    seq = int(entry["seq"])
    if token:
        db.session.execute(
            sa.delete(ListOpeningToken).where(ListOpeningToken.created_at < now - TOKENS_KEPT_FOR)
        )
        db.session.add(
            ListOpeningToken(
                token=token,
                user_id=user.id,
                draw_id=root,
                page=page,
                purpose=purpose,
                seq=seq,
                created_at=now,
            )
        )
    db.session.commit()
    return _listed(rows, user), seq


def shown_again(draw: Draw, user: User, seq: int) -> list[dict[str, Any]]:
    """The members once more under the opening ``seq`` records, without a new entry: for the
    same page sent again (a reload resubmits its form), so one opening reads as one.

    Only the user's own ``list.opened`` of this draw qualifies, within ``SHOWN_AGAIN_FOR`` of
    it, and only while the rules still let them open the list.

    Raises:
        ServiceError: ``not-found:opening`` when ``seq`` is no such opening, or too old.
    """
    now = clock.now()
    root = draw.root_id or draw.id
    record = db.session.scalar(
        sa.select(LedgerEntry.record).where(
            LedgerEntry.seq == seq,
            LedgerEntry.type == "list.opened",
            LedgerEntry.draw_id == root,
        )
    )
    entry = json.loads(record)["entry"] if record is not None else None
    if (
        entry is None
        or entry["actor"].get("id") != user.pseudonym
        or parse_time(entry["time"]) + SHOWN_AGAIN_FOR < now
    ):
        raise ServiceError("not-found:opening", "no recent opening of this list by this user")
    project = db.session.get(Project, draw.project_id)
    _may_open(draw, project, user, entry["body"]["purpose"], now)
    return _listed(_rows(root, user), user)


def _rows(root: str, user: User) -> list[Any]:
    query = (
        sa.select(Member, Expert, Notice)
        .join(Expert, Expert.id == Member.expert_id)
        .outerjoin(Notice, Notice.member_id == Member.id)
        .where(Member.draw_id == root)
        .order_by(Member.id)
    )
    if user.role == "venue_staff":
        query = query.where(Member.venue_id == user.venue_id, Member.state == "active")
    return list(db.session.execute(query).all())


def _listed(rows: list[Any], user: User) -> list[dict[str, Any]]:
    staff = user.role == "venue_staff"  # who sits where and checked in: nothing more
    return [
        {
            "expert": expert.code,
            "name": expert.name,
            "stratum": None if staff else member.stratum,
            "state": member.state,
            "venue": member.venue_id,
            "room": member.room_id,
            "workstation": member.workstation_id,
            "answer": None if staff or notice is None else notice.status,
            "checked_in_at": notice.checked_in_at if notice else None,
        }
        for member, expert, notice in rows
    ]


def _default_purpose(user: User) -> str:
    return {"project_manager": "after award", "venue_staff": "check-in at window start"}.get(
        user.role, "review"
    )


def record_award(project: Project, user: User) -> Project:
    """The project manager records the award (定标); the list may then be opened to them.

    An award follows the evaluation: it needs the project's completed draw and the end of its
    evaluation window, so that recording it cannot open the list to the project manager while
    the experts are still answering or evaluating (rules.md: counts only until then).

    Raises:
        Forbidden: another role; Conflict ``conflict:award-early`` before the window ends or
        without a completed draw (nothing is recorded).
    """
    if user.role not in ("project_manager", "admin"):
        raise Forbidden("auth:forbidden", "only project managers record the award")
    if project.awarded_at is not None:
        return project
    now = clock.now()
    root = db.session.scalar(sa.select(Draw).where(Draw.project_id == project.id, Draw.live_root()))
    if root is None or root.state != "completed":
        raise Conflict("conflict:award-early", "the award follows a completed draw")
    if now < project.window_end:
        raise Conflict(
            "conflict:award-early", "the award is recorded after the evaluation window ends"
        )
    ledger.lock()
    db.session.refresh(project)
    if project.awarded_at is not None:  # recorded by a request that held the lock first
        db.session.rollback()
        return project
    project.awarded_at = now
    ledger.append(
        "project.awarded",
        {"project": project.code, "by": user.pseudonym},
        {"role": user.role, "id": user.pseudonym},
        now=now,
    )
    ledger.issue_checkpoint(now)
    db.session.commit()
    return project


def open_due(now: datetime | None = None) -> int:
    """Scheduler job: at window start, open completed draws' lists for the venue staff."""
    now = now or clock.now()
    rows = db.session.execute(
        sa.select(Draw)
        .join(Project, Project.id == Draw.project_id)
        .where(
            Draw.root_id.is_(None),
            Draw.state == "completed",
            Draw.list_opened_at.is_(None),
            Project.window_start <= now,
        )
    ).scalars()
    opened = 0
    for draw in list(rows):
        ledger.lock()
        db.session.refresh(draw)
        if draw.list_opened_at is not None:
            db.session.rollback()
            continue
        draw.list_opened_at = now
        ledger.append(
            "list.opened",
            {"draw": draw.id, "by": "scheduler", "purpose": "window start: venue staff check-in"},
            dict(ledger.SYSTEM),
            draw_id=draw.id,
            now=now,
        )
        db.session.commit()
        opened += 1
    return opened
