"""Experts' declared leave (periods of unavailability): declare, list, cancel.

A leave overlapping a project's evaluation window excludes the expert from that project's
later draws (``unavailable``, rules.md). Declaring or cancelling one changes eligibility, so
each appends ``pool.changed`` (field ``leave``, the period as ``start/end`` in ledger times)
in the same transaction. A leave changes nothing that was already drawn or answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import clock
from ..domain.ledger import format_time
from ..extensions import db
from ..models import Expert, Leave, User
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
        Conflict: ``conflict:leave`` when it overlaps a leave already declared.
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
    return leave


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
