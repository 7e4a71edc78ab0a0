"""Experts in the pool as admins and experts themselves keep them: search, suspend and
reactivate, the expert's own data and its periodic confirmation.

Every change that affects eligibility appends ``pool.changed`` in the same transaction
(values are codes and dates, never personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..extensions import db
from ..models import Expert, ExpertRelation, Organisation, User
from . import ledger
from .errors import Conflict, Forbidden, NotFound, ServiceError

# Statuses an admin may switch between on the page (retire / remove go through imports).
SWITCHABLE = ("active", "suspended")
STATUS_REASONS = (
    "penalty",
    "investigation",
    "own-request",
    "qualification",
    "review-cleared",
    "other",
)
MAX_RESULTS = 100


@dataclass(frozen=True)
class ExpertRow:
    """One expert as the admin's list shows it."""

    code: str
    name: str
    kind: str
    status: str
    home_region: str
    data_confirmed_on: date | None


def _actor(user: User) -> dict[str, str]:
    return {"role": user.role, "id": user.pseudonym}


def search(query: str = "", *, status: str | None = None, limit: int = 50) -> list[ExpertRow]:
    """Experts whose code starts with, or whose name contains, ``query`` (by code).

    An empty query lists the first ``limit`` experts by code.
    """
    stmt = sa.select(Expert).order_by(Expert.code).limit(max(1, min(limit, MAX_RESULTS)))
    text = (query or "").strip()
    if text:
        stmt = stmt.where(
            sa.or_(
                Expert.code.startswith(text.upper(), autoescape=True),
                Expert.code.startswith(text, autoescape=True),
                Expert.name.contains(text, autoescape=True),
            )
        )
    if status:
        stmt = stmt.where(Expert.status == status)
    return [
        ExpertRow(e.code, e.name, e.kind, e.status, e.home_region, e.data_confirmed_on)
        for e in db.session.scalars(stmt)
    ]


def get_by_code(code: str) -> Expert:
    """An expert by code.

    Raises:
        NotFound
    """
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == (code or "").strip()))
    if expert is None:
        raise NotFound("expert", code)
    return expert


def set_status(code: str, status: str, reason: str, user: User) -> Expert:
    """Suspend or reactivate an expert, appending ``pool.changed`` (commits).

    Raises:
        Forbidden: not an admin; NotFound: no such expert; ServiceError: ``invalid:status``,
        ``invalid:reason``; Conflict: ``conflict:status`` when the expert already has it.
    """
    if user.role != "admin":
        raise Forbidden("auth:forbidden", "only administrators change an expert's status")
    if status not in SWITCHABLE:
        raise ServiceError("invalid:status", f"status is one of {', '.join(SWITCHABLE)}", "status")
    if reason not in STATUS_REASONS:
        raise ServiceError(
            "invalid:reason", f"reason is one of {', '.join(STATUS_REASONS)}", "reason"
        )
    ledger.lock()
    expert = get_by_code(code)
    if expert.status == status:
        raise Conflict("conflict:status", f"expert {expert.code} is already {status}", "status")
    previous = expert.status
    expert.status = status
    ledger.append(
        "pool.changed",
        {
            "expert": expert.code,
            "field": "status",
            "from": previous,
            "to": status,
            "reason": reason,
        },
        _actor(user),
    )
    db.session.commit()
    return expert


def _own(user: User) -> Expert:
    if user.role != "expert" or user.expert_id is None:
        raise Forbidden("auth:forbidden", "only experts see their own data")
    expert = db.session.get(Expert, user.expert_id)
    if expert is None:
        raise NotFound("expert", user.expert_id)
    return expert


def own_profile(user: User) -> dict[str, Any]:
    """What the expert confirms: employer, related organisations, last confirmation date.

    Raises:
        Forbidden: the user is not an expert.
    """
    expert = _own(user)
    employer = db.session.get(Organisation, expert.employer_id) if expert.employer_id else None
    relations = db.session.execute(
        sa.select(ExpertRelation.kind, Organisation.uscc, Organisation.name)
        .join(Organisation, Organisation.id == ExpertRelation.organisation_id)
        .where(ExpertRelation.expert_id == expert.id)
        .order_by(ExpertRelation.kind, Organisation.uscc)
    ).all()
    return {
        "code": expert.code,
        "name": expert.name,
        "status": expert.status,
        "employer": {"uscc": employer.uscc, "name": employer.name} if employer else None,
        "relations": [{"kind": k, "uscc": u, "name": n} for k, u, n in relations],
        "specialties": sorted(s.specialty_code for s in expert.specialties),
        "data_confirmed_on": expert.data_confirmed_on,
    }


def local_today() -> date:
    """Today's date in the trading centre's time zone (the eligibility rules' offset)."""
    from .draws import rules

    return clock.now().astimezone(rules().zone).date()


def confirm_data(user: User) -> date:
    """The expert confirms employer and relations are still correct (commits).

    Sets ``Expert.data_confirmed_on`` to today and appends ``pool.changed`` (the ``stale-data``
    exclusion depends on it). Confirming twice on one day changes nothing.

    Raises:
        Forbidden: the user is not an expert.
    """
    ledger.lock()
    expert = _own(user)
    today = local_today()
    if expert.data_confirmed_on == today:
        db.session.rollback()
        return today
    previous = expert.data_confirmed_on.isoformat() if expert.data_confirmed_on else ""
    expert.data_confirmed_on = today
    ledger.append(
        "pool.changed",
        {
            "expert": expert.code,
            "field": "data-confirmed",
            "from": previous,
            "to": today.isoformat(),
            "reason": "confirmed by the expert",
        },
        _actor(user),
    )
    db.session.commit()
    return today
