"""Experts in the pool as admins and experts themselves keep them: search, suspend and
reactivate, correct an expert's data, the expert's own data and its periodic confirmation.

Every change that affects eligibility appends ``pool.changed`` in the same transaction
(values are codes and dates, never personal data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..domain.codes import CodeError, validate_uscc
from ..extensions import db
from ..input_text import EMAIL_ADDRESS
from ..models import (
    EXPERT_KINDS,
    Employment,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    Organisation,
    Region,
    Specialty,
    User,
)
from ..personal_data import protector
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
# Rows read at a time when a search decrypts names.
SCAN_BATCH = 2000


@dataclass(frozen=True)
class ExpertRow:
    """One expert as the admin's list shows it."""

    code: str
    name: str
    kind: str
    status: str
    home_region: str
    data_confirmed_on: date | None
    #: Seated on a committee whose evaluation is on: the name is not shown (sealed_pool).
    sealed: bool = False


def _actor(user: User) -> dict[str, str]:
    return {"role": user.role, "id": user.pseudonym}


def search(
    query: str = "",
    *,
    status: str | None = None,
    limit: int = 50,
    hidden: Callable[[list[str]], set[str]] | None = None,
) -> list[ExpertRow]:
    """Experts whose code starts with, or whose name contains, ``query`` (by code).

    An empty query lists the first ``limit`` experts by code. Names are encrypted at rest, so
    the database cannot match them: the pool's rows (of ``status``) are read in code order,
    their names decrypted here, until ``limit`` match (about 5 µs an expert; a name found in
    none reads the whole pool). ``hidden`` tells, of the codes found, those whose names the
    reader may not see (``sealed_pool.hidden``): they are found by code only and listed
    without their names.
    """
    limit = max(1, min(limit, MAX_RESULTS))
    columns = (
        Expert.code,
        Expert.name,
        Expert.kind,
        Expert.status,
        Expert.home_region,
        Expert.data_confirmed_on,
    )
    stmt = sa.select(*columns).order_by(Expert.code)
    if status:
        stmt = stmt.where(Expert.status == status)
    text = (query or "").strip()
    if not text:
        rows = db.session.execute(stmt.limit(limit)).all()
        sealed = hidden([row.code for row in rows]) if hidden and rows else set()
        return [_row(row, sealed) for row in rows]
    found: list[ExpertRow] = []
    prefixes = (text, text.upper())
    result = db.session.execute(stmt.execution_options(yield_per=SCAN_BATCH))
    for batch in result.partitions():
        by_code = [(row, row.code.startswith(prefixes)) for row in batch]
        matched = [(row, code) for row, code in by_code if code or text in row.name]
        while matched:  # asked of ``hidden`` no more rows than the page still needs
            wanted, matched = matched[: limit - len(found)], matched[limit - len(found) :]
            sealed = hidden([row.code for row, _ in wanted]) if hidden else set()
            found += [
                _row(row, sealed) for row, by_code in wanted if by_code or row.code not in sealed
            ]
            if len(found) == limit:
                result.close()
                return found
    result.close()
    return found


def _row(row: Any, sealed: Collection[str]) -> ExpertRow:
    if row.code in sealed:
        return ExpertRow(row.code, "", *row[2:], sealed=True)
    return ExpertRow(*row)


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
        ``invalid:reason``; Conflict: ``conflict:status`` when the expert already has it, or
        is retired or removed.
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
    if expert.status not in SWITCHABLE:  # retired and removed experts leave by import only
        raise Conflict(
            "conflict:status",
            f"expert {expert.code} is {expert.status}: only an import changes that",
            "status",
        )
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
    _recheck(expert, user)
    return expert


def _recheck(expert: Expert, user: User) -> int:
    """Re-check the committees the expert sits on after a change to them (rules.md: a
    later-found conflict triggers a replacement); returns how many seats they left."""
    from .replacements import recheck_expert

    return recheck_expert(expert.id, _actor(user))


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


# Fields an administrator corrects on the expert's page; identity numbers change only by import.
EDITABLE = (
    "name",
    "title",
    "kind",
    "home_region",
    "employer_uscc",
    "specialties",
    "email",
    "phone",
    "qualification_expiry",
)
_PHONE = re.compile(r"1[3-9][0-9]{9}")
_EMAIL = EMAIL_ADDRESS
_LIST = re.compile(r"[;；,，、\s]+")


@dataclass(frozen=True)
class ExpertForm:
    """An expert's editable data as the admin's form shows it (phone decrypted)."""

    code: str
    name: str
    title: str
    kind: str
    home_region: str
    employer_uscc: str
    specialties: str
    email: str
    phone: str
    qualification_expiry: str
    status: str


def editable(code: str) -> ExpertForm:
    """The expert's current editable data. Raises NotFound."""
    expert = get_by_code(code)
    employer = db.session.get(Organisation, expert.employer_id) if expert.employer_id else None
    expiry = expert.qualification_expiry
    return ExpertForm(
        code=expert.code,
        name=expert.name,
        title=expert.title,
        kind=expert.kind,
        home_region=expert.home_region,
        employer_uscc=employer.uscc if employer else "",
        specialties=" ".join(sorted(s.specialty_code for s in expert.specialties)),
        email=expert.email or "",
        phone=expert.phone or "",
        qualification_expiry=expiry.isoformat() if expiry else "",
        status=expert.status,
    )


def _required(values: dict[str, str], name: str, max_len: int) -> str:
    text = (values.get(name) or "").strip()
    if not text or len(text) > max_len:
        raise ServiceError(f"invalid:{name}", f"{name}: 1 to {max_len} characters", name)
    return text


def _checked(values: dict[str, str]) -> dict[str, Any]:
    """The submitted values, validated and normalised. Every field is checked, and the
    problems raise together (:meth:`ServiceError.of`): a form lists them all at once."""
    problems: list[ServiceError] = []
    clean: dict[str, Any] = {}
    for name, max_len in (("name", 100), ("title", 50)):
        try:
            clean[name] = _required(values, name, max_len)
        except ServiceError as exc:
            problems.append(exc)
    if values.get("kind") not in EXPERT_KINDS:
        problems.append(
            ServiceError("invalid:expert-kind", "kind is technical or economic", "kind")
        )
    clean["kind"] = values.get("kind")
    region = (values.get("home_region") or "").strip()
    if db.session.get(Region, region) is None:
        problems.append(
            ServiceError("invalid:region", f"region {region!r} is unknown", "home_region")
        )
    clean["home_region"] = region
    clean["employer_id"] = None
    try:
        clean["employer_id"] = _employer(values)
    except ServiceError as exc:
        problems.append(exc)
    codes: list[str] = []
    for item in _LIST.split(values.get("specialties") or ""):
        if item and item.upper() not in codes:
            codes.append(item.upper())
    known = set(db.session.scalars(sa.select(Specialty.code).where(Specialty.code.in_(codes))))
    if not codes or set(codes) - known:
        problems.append(
            ServiceError("invalid:specialty", "specialties from the code tree", "specialties")
        )
    clean["specialties"] = sorted(codes)
    email = (values.get("email") or "").strip()
    if email and (len(email) > 200 or not _EMAIL.fullmatch(email)):
        problems.append(ServiceError("invalid:email", "not an e-mail address", "email"))
    clean["email"] = email or None
    phone = (values.get("phone") or "").replace(" ", "").replace("-", "").removeprefix("+86")
    if phone and not _PHONE.fullmatch(phone):
        problems.append(ServiceError("invalid:phone", "an 11-digit mobile number", "phone"))
    clean["phone"] = phone or None
    expiry = (values.get("qualification_expiry") or "").strip()
    clean["qualification_expiry"] = None
    try:
        day = date.fromisoformat(expiry) if expiry else None
        if day is not None and not 1900 <= day.year <= 2099:
            raise ValueError(expiry)
        clean["qualification_expiry"] = day
    except ValueError:
        problems.append(
            ServiceError(
                "invalid:date", "a date as YYYY-MM-DD, 1900 to 2099", "qualification_expiry"
            )
        )
    if problems:
        raise ServiceError.of(problems)
    return clean


def _employer(values: dict[str, str]) -> int | None:
    """The id of the employer named by ``employer_uscc``; None when left empty."""
    employer = (values.get("employer_uscc") or "").strip().upper()
    if not employer:
        return None
    try:
        employer = validate_uscc(employer)
    except CodeError as exc:
        raise ServiceError("invalid:uscc", str(exc), "employer_uscc") from None
    found = db.session.scalar(sa.select(Organisation.id).where(Organisation.uscc == employer))
    if found is None:
        raise ServiceError("invalid:organisation", f"{employer} is unknown", "employer_uscc")
    return found


def update_expert(code: str, values: dict[str, str], user: User) -> list[str]:
    """Correct an expert's data (commits); returns the eligibility fields that changed.

    Each change that affects eligibility (kind, region, employer, specialties, qualification
    expiry) appends ``pool.changed`` with codes and dates only. A new employer closes the
    open employment the day before and opens one today, as an import does.

    Raises:
        Forbidden: not an admin; NotFound; ServiceError naming the first bad field.
    """
    if user.role != "admin":
        raise Forbidden("auth:forbidden", "only administrators edit experts")
    expert = get_by_code(code)
    clean = _checked(values)
    ledger.lock()
    before = _eligibility_facts(expert)
    expert.name, expert.title, expert.kind = clean["name"], clean["title"], clean["kind"]
    expert.home_region = clean["home_region"]
    expert.email = clean["email"]
    if clean["phone"] != expert.phone:
        expert.phone = clean["phone"]
        expert.phone_hash = protector().lookup_hash(clean["phone"]) if clean["phone"] else None
    expert.qualification_expiry = clean["qualification_expiry"]
    if clean["employer_id"] != expert.employer_id:
        _move_employment(expert, clean["employer_id"])
        expert.employer_id = clean["employer_id"]
    current = {s.specialty_code for s in expert.specialties}
    if current != set(clean["specialties"]):
        expert.specialties = [
            ExpertSpecialty(expert_id=expert.id, specialty_code=s) for s in clean["specialties"]
        ]
    db.session.flush()
    after = _eligibility_facts(expert)
    changed = [name for name in after if after[name] != before[name]]
    for name in changed:
        ledger.append(
            "pool.changed",
            {
                "expert": expert.code,
                "field": name,
                "from": before[name],
                "to": after[name],
                "reason": "corrected by an administrator",
            },
            _actor(user),
        )
    db.session.commit()
    if changed:
        _recheck(expert, user)
    return changed


def _eligibility_facts(expert: Expert) -> dict[str, str]:
    employer = db.session.get(Organisation, expert.employer_id) if expert.employer_id else None
    expiry = expert.qualification_expiry
    return {
        "kind": expert.kind,
        "region": expert.home_region,
        "employer": employer.uscc if employer else "",
        "specialty": ",".join(sorted(s.specialty_code for s in expert.specialties)),
        "qualification-expiry": expiry.isoformat() if expiry else "",
    }


def _move_employment(expert: Expert, employer_id: int | None) -> None:
    today = local_today()
    open_rows = db.session.scalars(
        sa.select(Employment).where(
            Employment.expert_id == expert.id,
            Employment.relation == "employee",
            Employment.end.is_(None),
        )
    )
    last_day = today - timedelta(days=1) if employer_id is not None else today
    for row in open_rows:
        row.end = max(row.start, last_day)
    if employer_id is not None:
        db.session.add(
            Employment(
                expert_id=expert.id,
                organisation_id=employer_id,
                relation="employee",
                start=today,
                end=None,
            )
        )
