"""Experts' declared leave (periods of unavailability): declare, list, cancel.

A leave overlapping a project's evaluation window excludes the expert from that project's
later draws (``unavailable``, rules.md). Declaring or cancelling one changes eligibility, so
each appends ``pool.changed`` (field ``leave``, the period as ``start/end`` in ledger times)
in the same transaction.

A leave over a seat the expert holds is no silent note beside it: over a seat still offered
(its notice pending) it is refused, the expert declines the notice (a decline, with its
reason, brings in an alternate); over a seat accepted, before its evaluation starts, the
leave stands and the expert leaves the committee (replaced as ``unavailable``, the seat
withdrawn), so that no committee counts on a member who said they will not come; once the
evaluation has begun it is refused (the centre handles who is at the seat).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import clock
from ..domain.ledger import format_time
from ..extensions import db
from ..models import Draw, Expert, Leave, Member, Notice, Project, User
from . import ledger
from .errors import Conflict, Forbidden, NotFound, ServiceError

# A leave longer than this is a change of status (own request), which an administrator makes.
MAX_LEAVE = timedelta(days=366)


def _expert_of(user: User) -> Expert:
    if user.role != "expert" or user.expert_id is None:
        raise Forbidden("auth:forbidden", "only experts declare their own leave")
    expert = db.session.get(Expert, user.expert_id)
    if expert is None:
        raise NotFound("expert", user.expert_id)
    return expert


def _period(leave: Leave) -> str:
    return f"{format_time(leave.start)}/{format_time(leave.end)}"


def own_leave(user: User, now: datetime | None = None) -> list[Leave]:
    """The expert's leave that has not ended yet, earliest first.

    Raises:
        Forbidden: the user is not an expert.
    """
    expert = _expert_of(user)
    now = now or clock.now()
    return list(
        db.session.scalars(
            sa.select(Leave)
            .where(Leave.expert_id == expert.id, Leave.end > now)
            .order_by(Leave.start, Leave.id)
        )
    )


def declare(user: User, start: datetime, end: datetime, now: datetime | None = None) -> Leave:
    """The expert declares a period of unavailability (commits).

    Raises:
        Forbidden: not an expert; ServiceError: ``invalid:leave`` naming ``start`` or ``end``
            (naive times, end not after start, already over, longer than a year);
        Conflict: ``conflict:leave`` when it overlaps a leave already declared;
        ``conflict:leave-offered`` when it overlaps a seat offered and not yet answered,
        ``conflict:leave-begun`` when it overlaps an evaluation the expert sits on that has
        begun.
    """
    expert = _expert_of(user)
    now = now or clock.now()
    if start.tzinfo is None or end.tzinfo is None:
        raise ServiceError("invalid:leave", "times must be timezone-aware", "start")
    if end <= start:
        raise ServiceError("invalid:leave", "the leave must end after it starts", "end")
    if end <= now:
        raise ServiceError("invalid:leave", "the leave is already over", "end")
    if end - start > MAX_LEAVE:
        raise ServiceError("invalid:leave", "a leave lasts at most a year", "end")
    ledger.lock()
    overlapping = db.session.scalar(
        sa.select(Leave.id).where(
            Leave.expert_id == expert.id, Leave.start < end, Leave.end > start
        )
    )
    if overlapping is not None:
        db.session.rollback()
        raise Conflict("conflict:leave", "the period overlaps a leave already declared", "start")
    given_up = _seats_given_up(expert.id, start, end, now)
    leave = Leave(expert_id=expert.id, start=start, end=end)
    db.session.add(leave)
    try:
        ledger.append(
            "pool.changed",
            {
                "expert": expert.code,
                "field": "leave",
                "from": "",
                "to": _period(leave),
                "reason": "declared by the expert",
            },
            {"role": user.role, "id": user.pseudonym},
            now=now,
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    from .replacements import replace_member

    for member in given_up:
        replace_member(member, "unavailable", {"role": user.role, "id": user.pseudonym}, now)
    return leave


def _seats_given_up(expert_id: int, start: datetime, end: datetime, now: datetime) -> list[Member]:
    """The accepted seats a leave over ``[start, end)`` gives up: the expert's seats on
    completed committees whose evaluation windows overlap it.

    Raises:
        Conflict (after a rollback): ``conflict:leave-offered``, one of them is still
        offered (answer its notice); ``conflict:leave-begun``, its evaluation has begun.
    """
    offered = sa.exists().where(Notice.member_id == Member.id, Notice.status == "pending")
    seats = db.session.execute(
        sa.select(Member, Project.window_start, offered.label("offered"))
        .join(Draw, Draw.id == Member.draw_id)
        .join(Project, Project.id == Draw.project_id)
        .where(
            Member.expert_id == expert_id,
            Member.state == "active",
            Draw.state == "completed",
            Project.window_start < end,
            Project.window_end > start,
            Project.window_end > now,
        )
        .order_by(Project.window_start, Member.id)
    ).all()
    given_up = []
    for member, window_start, still_offered in seats:
        if still_offered:
            db.session.rollback()
            raise Conflict(
                "conflict:leave-offered",
                "you are offered a seat during this leave: decline that notice (an alternate "
                "takes the seat), then declare the leave",
                "start",
            )
        if window_start <= now:
            db.session.rollback()
            raise Conflict(
                "conflict:leave-begun",
                "an evaluation you sit on has begun during this leave: tell the trading centre",
                "start",
            )
        given_up.append(member)
    return given_up


def cancel(user: User, leave_id: int, now: datetime | None = None) -> None:
    """The expert withdraws one of their own leaves that has not ended (commits).

    Raises:
        Forbidden: not an expert; NotFound: no such leave of this expert (another expert's
            leave is not found either); Conflict: ``conflict:leave-over`` when it is already over.
    """
    expert = _expert_of(user)
    now = now or clock.now()
    ledger.lock()
    leave = db.session.get(Leave, leave_id)
    if leave is None or leave.expert_id != expert.id:
        db.session.rollback()
        raise NotFound("leave", leave_id)
    if leave.end <= now:
        db.session.rollback()
        raise Conflict("conflict:leave-over", "the leave is already over")
    try:
        ledger.append(
            "pool.changed",
            {
                "expert": expert.code,
                "field": "leave",
                "from": _period(leave),
                "to": "",
                "reason": "cancelled by the expert",
            },
            {"role": user.role, "id": user.pseudonym},
            now=now,
        )
        db.session.delete(leave)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
