"""Import of organisations (by USCC) and of venues, rooms and workstations (by id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..domain.codes import validate_region, validate_uscc
from ..models import ORGANISATION_KINDS, Organisation, Region, Room, Venue, Workstation
from .bulk import insert_rows
from .import_rows import Checker, Row, all_codes, lookup


@dataclass
class OrganisationPlan:
    rows: list[dict[str, Any]] = field(default_factory=list)
    present: set[str] = field(default_factory=set)


def _region(checker: Checker, row: Row, name: str, regions: set[str], required: bool) -> Any:
    value = checker.code(row, name, validate_region, required=required, number_ok=True)
    if value is not None and value not in regions:
        checker.error(row.line, name, "region %(code)s is not in the region table", code=value)
        return None
    return value


def validate_organisations(
    conn: sa.Connection, checker: Checker, rows: list[Row]
) -> OrganisationPlan:
    """Check organisation rows: USCC check characters, kinds, regions, parents, duplicates."""
    regions = all_codes(conn, Region.code)
    plan = OrganisationPlan(present=set(checker.index))
    seen: dict[Any, int] = {}
    for row in rows:
        before = len(checker.errors)
        uscc = checker.code(row, "uscc", validate_uscc)
        name = checker.text(row, "name", required=True, max_len=200)
        kind = checker.choice(row, "kind", ORGANISATION_KINDS)
        region = _region(checker, row, "region_code", regions, required=False)
        parent = checker.code(row, "parent_uscc", validate_uscc, required=False)
        if parent is not None and parent == uscc:
            checker.error(row.line, "parent_uscc", "an organisation cannot be its own parent")
        checker.unique(seen, uscc, row, "uscc")
        if len(checker.errors) == before:
            plan.rows.append(
                {
                    "line": row.line,
                    "uscc": uscc,
                    "name": name,
                    "kind": kind,
                    "region_code": region,
                    "parent": parent,
                }
            )
    if "parent_uscc" in plan.present:
        _check_parents(conn, checker, plan)
    return plan


def _check_parents(conn: sa.Connection, checker: Checker, plan: OrganisationPlan) -> None:
    child, parent = sa.orm.aliased(Organisation), sa.orm.aliased(Organisation)
    parents: dict[str, str | None] = dict(
        conn.execute(
            sa.select(child.uscc, parent.uscc).outerjoin(parent, child.parent_id == parent.id)
        ).all()
    )
    in_file = {r["uscc"] for r in plan.rows}
    for r in plan.rows:
        parents[r["uscc"]] = r["parent"]
    for r in plan.rows:
        if r["parent"] and r["parent"] not in in_file and r["parent"] not in parents:
            checker.error(
                r["line"], "parent_uscc", "parent %(uscc)s is not registered", uscc=r["parent"]
            )
            continue
        step, steps = r["parent"], 0
        while step and steps <= len(parents):
            if step == r["uscc"]:
                checker.error(r["line"], "parent_uscc", "the parent chain loops back here")
                break
            step, steps = parents.get(step), steps + 1


def write_organisations(
    conn: sa.Connection, plan: OrganisationPlan
) -> tuple[dict[str, int], dict[str, int]]:
    """Insert new organisations, update the others, then set parents."""
    table = Organisation.__table__
    existing = lookup(conn, table.c.uscc, table.c.id, (r["uscc"] for r in plan.rows))
    with_region = "region_code" in plan.present
    new = [
        (r["uscc"], r["name"], r["kind"], r["region_code"])
        for r in plan.rows
        if r["uscc"] not in existing
    ]
    insert_rows(conn, table, ("uscc", "name", "kind", "region_code"), new)
    changes = [
        {
            "_id": existing[r["uscc"]],
            "_name": r["name"],
            "_kind": r["kind"],
            "_region": r["region_code"],
        }
        for r in plan.rows
        if r["uscc"] in existing
    ]
    if changes:
        values: dict[str, Any] = {"name": sa.bindparam("_name"), "kind": sa.bindparam("_kind")}
        if with_region:
            values["region_code"] = sa.bindparam("_region")
        conn.execute(
            sa.update(table).where(table.c.id == sa.bindparam("_id")).values(values), changes
        )
    if "parent_uscc" in plan.present:
        wanted = {r["uscc"] for r in plan.rows} | {r["parent"] for r in plan.rows if r["parent"]}
        ids = lookup(conn, table.c.uscc, table.c.id, wanted)
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values(parent_id=sa.bindparam("_parent")),
            [
                {"_id": ids[r["uscc"]], "_parent": ids[r["parent"]] if r["parent"] else None}
                for r in plan.rows
            ],
        )
    return {"organisations": len(new)}, {"organisations": len(changes)}


@dataclass
class VenuePlan:
    venues: dict[str, dict[str, Any]] = field(default_factory=dict)
    rooms: dict[str, dict[str, Any]] = field(default_factory=dict)
    workstations: dict[str, dict[str, Any]] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)


def _same(checker: Checker, row: Row, first: dict[str, Any], values: dict[str, Any]) -> None:
    for column, value in values.items():
        if value is not None and first[column] is not None and value != first[column]:
            checker.error(
                row.line,
                column,
                "%(column)s differs from line %(line)s (%(value)s)",
                column=column,
                line=first["line"],
                value=first[column],
            )


def validate_venues(conn: sa.Connection, checker: Checker, rows: list[Row]) -> VenuePlan:
    """Check workstation rows; a venue's and a room's fields must agree on every row."""
    regions = all_codes(conn, Region.code)
    plan = VenuePlan(present=set(checker.index))
    for row in rows:
        venue = checker.draw_id(row, "venue_id", 32)
        venue_values = {
            "venue_name": checker.text(row, "venue_name", required=True, max_len=200),
            "region_code": _region(checker, row, "region_code", regions, required=True),
            "address": checker.text(row, "address", required=True, max_len=300),
        }
        room = checker.draw_id(row, "room_id", 48)
        room_values = {
            "venue_id": venue,
            "room_name": checker.text(row, "room_name", required=True, max_len=100),
        }
        workstation = checker.draw_id(row, "workstation_id", 64)
        # A blank cell states nothing: a known workstation keeps its state (one taken out of
        # service stays out), a new one is in service.
        active = checker.flag(row, "active", default=None)
        if venue is not None:
            if venue in plan.venues:
                _same(checker, row, plan.venues[venue], venue_values)
            else:
                plan.venues[venue] = {"line": row.line, **venue_values}
        if room is not None:
            if room in plan.rooms:
                first = plan.rooms[room]
                if venue is not None and venue != first["venue_id"]:
                    checker.error(
                        row.line,
                        "room_id",
                        "room %(room)s is in venue %(venue)s on line %(line)s",
                        room=room,
                        venue=first["venue_id"],
                        line=first["line"],
                    )
                _same(checker, row, first, {"room_name": room_values["room_name"]})
            else:
                plan.rooms[room] = {"line": row.line, **room_values}
        if workstation is not None:
            if workstation in plan.workstations:
                first_line = plan.workstations[workstation]["line"]
                checker.error(
                    row.line,
                    "workstation_id",
                    "workstation_id %(workstation)s repeats line %(line)s",
                    workstation=workstation,
                    line=first_line,
                )
            else:
                plan.workstations[workstation] = {
                    "line": row.line,
                    "room_id": room,
                    "active": True if active is None else active,
                    "stated": active is not None,
                }
    for room, venue in lookup(conn, Room.id, Room.venue_id, plan.rooms).items():
        if venue != plan.rooms[room]["venue_id"]:
            line = plan.rooms[room]["line"]
            checker.error(
                line,
                "room_id",
                "room %(room)s belongs to venue %(venue)s already",
                room=room,
                venue=venue,
            )
    for ws, room in lookup(conn, Workstation.id, Workstation.room_id, plan.workstations).items():
        if room != plan.workstations[ws]["room_id"]:
            line = plan.workstations[ws]["line"]
            checker.error(
                line,
                "workstation_id",
                "workstation %(workstation)s belongs to room %(room)s already",
                workstation=ws,
                room=room,
            )
    return plan


def _upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: dict[str, dict[str, Any]],
    columns: dict[str, str],
    update: tuple[str, ...],
    defaults: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """Insert rows with a new id, update the ``update`` columns of the others.

    ``columns`` maps a table column to the plan's field; ``defaults`` are constant columns of
    new rows.
    """
    defaults = defaults or {}
    existing = lookup(conn, table.c.id, table.c.id, rows)
    new = [
        (key, *(row[field] for field in columns.values()), *defaults.values())
        for key, row in rows.items()
        if key not in existing
    ]
    insert_rows(conn, table, ("id", *columns, *defaults), new)
    changes = [
        {"_id": key, **{f"_{c}": row[columns[c]] for c in update}}
        for key, row in rows.items()
        if key in existing
    ]
    if changes and update:
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({c: sa.bindparam(f"_{c}") for c in update}),
            changes,
        )
    return len(new), len(changes)


def write_venues(conn: sa.Connection, plan: VenuePlan) -> tuple[dict[str, int], dict[str, int]]:
    """Insert or update venues, then rooms, then workstations."""
    inserted, updated = {}, {}
    inserted["venues"], updated["venues"] = _upsert(
        conn,
        Venue.__table__,
        plan.venues,
        {"name": "venue_name", "region_code": "region_code", "address": "address"},
        ("name", "region_code", "address"),
        {"active": True},
    )
    inserted["rooms"], updated["rooms"] = _upsert(
        conn,
        Room.__table__,
        plan.rooms,
        {"venue_id": "venue_id", "name": "room_name"},
        ("name",),
        {"active": True},
    )
    inserted["workstations"], updated["workstations"] = _upsert(
        conn,
        Workstation.__table__,
        {key: row for key, row in plan.workstations.items() if row["stated"]},
        {"room_id": "room_id", "active": "active"},
        ("active",),
    )
    unstated = {key: row for key, row in plan.workstations.items() if not row["stated"]}
    added, kept = _upsert(
        conn, Workstation.__table__, unstated, {"room_id": "room_id", "active": "active"}, ()
    )
    inserted["workstations"] += added
    updated["workstations"] += kept
    return inserted, updated
