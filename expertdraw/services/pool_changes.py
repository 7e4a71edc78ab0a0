"""``pool.changed`` for changes made in bulk (an import): the facts of the experts that decide
eligibility, compared before and after, one entry per changed field, as the admin page does
(ledger.md §4); then the committees of the changed experts are checked again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa

from ..models import Expert, ExpertSpecialty, Member, Organisation
from . import ledger

#: The fields, in the order entries are appended for one expert.
FIELDS = (
    "status",
    "kind",
    "region",
    "employer",
    "specialty",
    "qualification-expiry",
    "data-confirmed",  # stale data is an exclusion (rules.md): its date is a fact too
)


def facts_of(conn: sa.Connection, codes: Sequence[str]) -> dict[str, dict[str, str]]:
    """The eligibility facts of the experts with these codes that exist, by code."""
    facts: dict[str, dict[str, str]] = {}
    specialties: dict[int, list[str]] = defaultdict(list)
    ids: dict[int, str] = {}
    for chunk in _chunks(list(codes), 500):
        rows = conn.execute(
            sa.select(
                Expert.id,
                Expert.code,
                Expert.status,
                Expert.kind,
                Expert.home_region,
                Organisation.uscc,
                Expert.qualification_expiry,
                Expert.data_confirmed_on,
            )
            .outerjoin(Organisation, Organisation.id == Expert.employer_id)
            .where(Expert.code.in_(chunk))
        )
        for expert_id, code, status, kind, region, employer, expiry, confirmed in rows:
            ids[expert_id] = code
            facts[code] = {
                "status": status,
                "kind": kind,
                "region": region,
                "employer": employer or "",
                "specialty": "",
                "qualification-expiry": expiry.isoformat() if expiry else "",
                "data-confirmed": confirmed.isoformat() if confirmed else "",
            }
    for chunk in _chunks(list(ids), 500):
        for expert_id, specialty in conn.execute(
            sa.select(ExpertSpecialty.expert_id, ExpertSpecialty.specialty_code).where(
                ExpertSpecialty.expert_id.in_(chunk)
            )
        ):
            specialties[expert_id].append(specialty)
    for expert_id, codes_ in specialties.items():
        facts[ids[expert_id]]["specialty"] = ",".join(sorted(codes_))
    return facts


def record(
    before: dict[str, dict[str, str]],
    after: dict[str, dict[str, str]],
    actor: dict[str, str],
    reason: str,
) -> list[str]:
    """Append ``pool.changed`` for every field that changed (the caller holds the ledger lock
    and commits); returns the codes of the experts that changed."""
    changed = []
    for code in sorted(before):
        old, new = before[code], after.get(code, before[code])
        fields = [f for f in FIELDS if old[f] != new[f]]
        for field in fields:
            body = {"expert": code, "field": field, "from": old[field], "to": new[field]}
            ledger.append("pool.changed", {**body, "reason": reason}, actor)
        if fields:
            changed.append(code)
    return changed


def close_accounts_of_removed(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> int:
    """Close the user accounts of experts this change removed from the pool (no commit): a
    removed expert signs in no more (their tokens and page sessions end). Returns how many."""
    from .auth import close_account

    removed = [
        code
        for code, new in after.items()
        if new["status"] == "removed" and before.get(code, new)["status"] != "removed"
    ]
    if not removed:
        return 0
    users = _users_of(removed)
    for user in users:
        close_account(user)
    return len(users)


def _users_of(codes: Sequence[str]) -> list:
    """The users linked to the experts with these codes."""
    from ..extensions import db
    from ..models import User

    return list(
        db.session.scalars(
            sa.select(User)
            .join(Expert, Expert.id == User.expert_id)
            .where(Expert.code.in_(list(codes)))
        )
    )


def recheck(codes: Sequence[str], actor: dict[str, str]) -> int:
    """Check again the committees of the experts with these codes (each replacement commits);
    returns how many seats they left."""
    from ..extensions import db
    from .replacements import recheck_expert

    if not codes:
        return 0
    ids = db.session.scalars(sa.select(Expert.id).where(Expert.code.in_(list(codes)))).all()
    return sum(recheck_expert(expert_id, actor) for expert_id in ids)


def recheck_organisations(moved: Sequence[int], actor: dict[str, str]) -> int:
    """Check again the committees of the seated experts whom a new controlling organisation
    may have put in conflict (each replacement commits). rules.md's ``party-employer`` is a
    current employer that is a party, or controls or is controlled by one, at any depth
    (``domain.eligibility_rules._related``): so the employees of the moved organisations and
    of all below them (now under new controllers), and of the new parents and all above them
    (now controlling more). Returns how many seats they left."""
    from ..extensions import db
    from .control import moved_reach
    from .replacements import recheck_expert

    concerned = moved_reach(moved)
    if not concerned:
        return 0
    seated = db.session.scalars(
        sa.select(Member.expert_id)
        .join(Expert, Expert.id == Member.expert_id)
        .where(Member.state == "active", Expert.employer_id.in_(concerned))
        .distinct()
        .order_by(Member.expert_id)
    ).all()
    return sum(recheck_expert(expert_id, actor) for expert_id in seated)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]
