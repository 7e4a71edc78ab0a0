"""Import of experts: row checks and the write (columns in ``import_rows``).

An expert's natural key is the expert code. On update only the columns present in the file
change; the specialties given replace the expert's specialties. When the file has an
``employer_uscc`` column, a new employer opens an employment (from ``employer_since``, else
the import day) and closes the open one; an empty employer closes the open one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..domain.codes import CodeError, validate_id_number, validate_region, validate_uscc
from ..input_text import carries_personal_data
from ..models import (
    EXPERT_KINDS,
    EXPERT_STATUSES,
    Employment,
    Expert,
    ExpertSpecialty,
    Organisation,
    Region,
    Specialty,
)
from ..personal_data import protector
from . import sealed_pool
from .bulk import insert_rows
from .import_rows import EMAIL, LIST_SEPARATORS, PHONE, Checker, Row, all_codes, lookup

# Columns written on update when present in the file (required ones always are).
_ALWAYS = ("name", "id_number", "home_region", "title", "kind")
_WHEN_PRESENT = ("phone", "email", "status", "qualification_expiry", "data_confirmed_on")


@dataclass
class ExpertRecord:
    line: int
    code: str
    values: dict[str, Any]
    specialties: list[str]
    employer_uscc: str | None = None
    employer_since: date | None = None


@dataclass
class ExpertPlan:
    records: list[ExpertRecord] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    today: date = date(1970, 1, 1)


def _id_number(value: str) -> str:
    number = validate_id_number(value)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise CodeError(
            "invalid:id-number", "the birth date in the identity number is not a date"
        ) from None
    if born.year < 1900:
        raise CodeError("invalid:id-number", "the birth date in the identity number is too early")
    if born > clock.now().date():
        raise CodeError(
            "invalid:id-number", "the birth date in the identity number is in the future"
        )
    return number


def _phone(checker: Checker, row: Row) -> str | None:
    value = checker.text(row, "phone", max_len=32)
    if value is None:
        return None
    phone = value.replace(" ", "").replace("-", "").removeprefix("+86")
    if not PHONE.fullmatch(phone):
        checker.error(row.line, "phone", "phone must be an 11-digit mobile number 1xxxxxxxxxx")
        return None
    return phone


def validate_experts(
    conn: sa.Connection, checker: Checker, rows: list[Row], today: date
) -> ExpertPlan:
    """Check expert rows and what they refer to; problems go to ``checker``."""
    regions = all_codes(conn, Region.code)
    specialties = all_codes(conn, Specialty.code)
    plan = ExpertPlan(present={n for n in checker.index}, today=today)
    if "employer_since" in checker.index and "employer_uscc" not in checker.index:
        # The date belongs to an employer the file does not name: it would be dropped.
        checker.error(
            1,
            "employer_since",
            "column %(column)s needs the column %(other)s",
            column="employer_since",
            other="employer_uscc",
        )
        return plan
    seen_codes: dict[Any, int] = {}
    seen_ids: dict[Any, int] = {}
    for row in rows:
        before = len(checker.errors)
        code = checker.draw_id(row, "code", 32)
        if code is not None and carries_personal_data(code):
            # The code names the expert in the ledger for ever: it must be a pseudonym, never
            # the identity or mobile number a centre may have numbered its experts by.
            checker.error(
                row.line,
                "code",
                "code %(value)s looks like an identity or mobile number: give the expert a "
                "code of the centre's own",
                value=code,
            )
            code = None
        name = checker.text(row, "name", required=True, max_len=100)
        id_number = checker.code(row, "id_number", _id_number)
        phone = _phone(checker, row)
        email = checker.text(row, "email", max_len=200)
        if email is not None and not EMAIL.fullmatch(email):
            checker.error(
                row.line, "email", "%(value)s is not an e-mail address", value=repr(email)
            )
        home = checker.code(row, "home_region", validate_region, number_ok=True)
        if home is not None and home not in regions:
            checker.error(
                row.line, "home_region", "region %(code)s is not in the region table", code=home
            )
        employer = checker.code(row, "employer_uscc", validate_uscc, required=False)
        since = checker.date(row, "employer_since")
        if since is not None and since > today:
            checker.error(row.line, "employer_since", "employer_since is in the future")
        title = checker.text(row, "title", required=True, max_len=50)
        kind = checker.choice(row, "kind", EXPERT_KINDS)
        # Blank: active for a new expert, unchanged for a known one (write_experts): a blank
        # cell says nothing of a suspension an admin made since.
        status = checker.choice(row, "status", EXPERT_STATUSES, default="")
        expiry = checker.date(row, "qualification_expiry")
        confirmed = checker.date(row, "data_confirmed_on")
        if confirmed is not None and confirmed > today:
            checker.error(row.line, "data_confirmed_on", "data_confirmed_on is in the future")
        listed = checker.text(row, "specialties", required=True, max_len=2000)
        codes: list[str] = []
        for item in LIST_SEPARATORS.split(listed or ""):
            if not item:
                continue
            if item.upper() not in specialties:
                checker.error(
                    row.line,
                    "specialties",
                    "specialty %(code)s is not in the code tree",
                    code=item,
                )
            elif item.upper() not in codes:
                codes.append(item.upper())
        if listed is not None and not codes and len(checker.errors) == before:
            checker.error(row.line, "specialties", "at least one specialty is required")
        checker.unique(seen_codes, code, row, "code")
        checker.unique(seen_ids, id_number, row, "id_number")
        if len(checker.errors) > before:
            continue
        plan.records.append(
            ExpertRecord(
                row.line,
                code,
                {
                    "name": name,
                    "id_number": id_number,
                    "phone": phone,
                    "email": email,
                    "home_region": home,
                    "title": title,
                    "kind": kind,
                    "status": status,
                    "qualification_expiry": expiry,
                    "data_confirmed_on": confirmed,
                },
                codes,
                employer,
                since,
            )
        )
    _check_against_database(conn, checker, plan)
    return plan


def _check_against_database(conn: sa.Connection, checker: Checker, plan: ExpertPlan) -> None:
    lookup_hash = protector().lookup_hash
    by_hash = {lookup_hash(r.values["id_number"]): r for r in plan.records}
    owners = lookup(conn, Expert.id_number_hash, Expert.code, by_hash)
    taken = {digest: owner for digest, owner in owners.items() if owner != by_hash[digest].code}
    # An owner seated on a committee whose evaluation is on is not named: the message would
    # join an identity number to the code the ledger names the committee by (sealed_pool).
    sealed = sealed_pool.committees(taken.values())
    for digest, owner in taken.items():
        record = by_hash[digest]
        if owner in sealed:
            checker.error(record.line, "id_number", "this ID number belongs to another expert")
        else:
            checker.error(
                record.line,
                "id_number",
                "this ID number belongs to expert %(expert)s already",
                expert=owner,
            )
    employers = {r.employer_uscc for r in plan.records if r.employer_uscc}
    known = lookup(conn, Organisation.uscc, Organisation.id, employers)
    for record in plan.records:
        if record.employer_uscc and record.employer_uscc not in known:
            checker.error(
                record.line,
                "employer_uscc",
                "organisation %(uscc)s is not registered; import it first",
                uscc=record.employer_uscc,
            )


def write_experts(conn: sa.Connection, plan: ExpertPlan) -> tuple[dict[str, int], dict[str, int]]:
    """Insert or update the experts of a checked plan, with specialties and employments."""
    table = Expert.__table__
    lookup_hash = protector().lookup_hash
    existing = lookup(conn, table.c.code, table.c.id, (r.code for r in plan.records))
    removed_at = lookup(conn, table.c.code, table.c.removed_at, existing)
    statuses = lookup(conn, table.c.code, table.c.status, existing)
    employer_ids = lookup(
        conn, Organisation.uscc, Organisation.id, (r.employer_uscc for r in plan.records)
    )
    now = clock.now()
    has_employer = "employer_uscc" in plan.present
    fields = list(_ALWAYS) + [f for f in _WHEN_PRESENT if f in plan.present]
    new_rows, changes = [], []
    for record in plan.records:
        values = {f: record.values[f] for f in fields}
        values["id_number_hash"] = lookup_hash(values["id_number"])
        if "phone" in values:
            phone = values["phone"]
            values["phone_hash"] = lookup_hash(phone) if phone else None
        if has_employer:
            values["employer_id"] = employer_ids.get(record.employer_uscc)
        if "status" in values:
            values["status"] = values["status"] or statuses.get(record.code, "active")
            removed = values["status"] == "removed"
            values["removed_at"] = (removed_at.get(record.code) or now) if removed else None
        if record.code in existing:
            changes.append(
                {"_id": existing[record.code], **{f"v_{k}": v for k, v in values.items()}}
            )
        else:
            full = {c: None for c in ("phone", "phone_hash", "email", "employer_id", "removed_at")}
            full.update({"status": "active", "qualification_expiry": None})
            full.update({"data_confirmed_on": None, **values, "code": record.code})
            new_rows.append(full)
    if new_rows:
        columns = list(new_rows[0])
        insert_rows(conn, table, columns, [tuple(r[c] for c in columns) for r in new_rows])
    if changes:
        names = [k[2:] for k in changes[0] if k.startswith("v_")]
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({n: sa.bindparam(f"v_{n}", type_=table.c[n].type) for n in names}),
            changes,
        )
    ids = lookup(conn, table.c.code, table.c.id, (r.code for r in plan.records))
    specialties = ExpertSpecialty.__table__
    updated_ids = [ids[r.code] for r in plan.records if r.code in existing]
    for i in range(0, len(updated_ids), 500):
        conn.execute(
            sa.delete(specialties).where(specialties.c.expert_id.in_(updated_ids[i : i + 500]))
        )
    pairs = [(ids[r.code], s) for r in plan.records for s in r.specialties]
    insert_rows(conn, specialties, ("expert_id", "specialty_code"), pairs)
    inserted = {"experts": len(new_rows), "expert_specialties": len(pairs)}
    if has_employer:
        inserted["employments"] = _write_employments(conn, plan, ids, employer_ids)
    return inserted, {"experts": len(changes)}


def _write_employments(
    conn: sa.Connection, plan: ExpertPlan, ids: dict[str, int], employer_ids: dict[str, int]
) -> int:
    table = Employment.__table__
    open_rows: dict[int, list[Any]] = {}
    expert_ids = list(ids.values())
    for i in range(0, len(expert_ids), 500):
        query = sa.select(table.c.id, table.c.expert_id, table.c.organisation_id, table.c.start)
        query = query.where(
            table.c.expert_id.in_(expert_ids[i : i + 500]),
            table.c.relation == "employee",
            table.c.end.is_(None),
        )
        for row in conn.execute(query):
            open_rows.setdefault(row.expert_id, []).append(row)
    closes, opens = [], []
    for record in plan.records:
        expert_id = ids[record.code]
        current = open_rows.get(expert_id, [])
        employer = employer_ids.get(record.employer_uscc) if record.employer_uscc else None
        if employer is not None and any(row.organisation_id == employer for row in current):
            continue
        start = record.employer_since or plan.today
        last_day = start - timedelta(days=1) if employer is not None else plan.today
        closes += [{"_id": row.id, "_end": max(row.start, last_day)} for row in current]
        if employer is not None:
            opens.append((expert_id, employer, "employee", start, None))
    if closes:
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values(end=sa.bindparam("_end")),
            closes,
        )
    return insert_rows(
        conn, table, ("expert_id", "organisation_id", "relation", "start", "end"), opens
    )
