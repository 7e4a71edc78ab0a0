"""The demo trading centre: load ``seed_data/*.csv`` into the database, and benchmark pools.

``seed()`` runs in one transaction and only inserts what is missing, by natural key (region and
specialty code, USCC, venue / room / workstation id, expert code, and for the pool's facts the
expert with the organisation, kind and start date), so running it twice changes nothing.
Rows go in with Core bulk inserts (COPY on PostgreSQL for large batches, see ``bulk``).

``extra_experts`` adds a generated pool after the seed experts (codes continue from the last
seed code); ``conflicts`` adds a deterministic set of declared-conflict / relative relations;
``venues`` adds generated venues (``VB00001``...) of ``ROOMS_PER_VENUE`` rooms of
``WORKSTATIONS_PER_ROOM`` workstations each, spread over the province's counties.
Demo users are created only in demo mode (``DEMO``) or under test (``TESTING``).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..extensions import db
from ..models import (
    Expert,
    Organisation,
    Region,
    Room,
    Specialty,
    User,
    Venue,
    Workstation,
)
from . import users as user_service
from .bulk import COPY_THRESHOLD, existing_keys, id_map, insert_rows
from .seed_pool import PoolLoader, SeedError, add_conflicts, load_generated

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"
ROOMS_PER_VENUE = 4
WORKSTATIONS_PER_ROOM = 5
MAX_EXTRA_VENUES = 99_999  # ids VB00001..VB99999


@dataclass
class SeedReport:
    """Rows inserted per table, seconds per step, and the time the whole load took."""

    inserted: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, table: str, count: int) -> None:
        self.inserted[table] = self.inserted.get(table, 0) + count

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.timings[step] = self.timings.get(step, 0.0) + elapsed


def data_dir() -> Path:
    """The folder of the seed CSVs: ``SEED_DATA_DIR`` in the config, else ``seed_data/``."""
    return Path(current_app.config.get("SEED_DATA_DIR") or SEED_DIR)


@cache
def generator(directory: Path = SEED_DIR) -> ModuleType:
    """``seed_data/generate.py``, loaded by path (it is a script, not a package module)."""
    path = directory / "generate.py"
    if not path.is_file():
        raise SeedError("seed:missing", f"{path} not found")
    spec = importlib.util.spec_from_file_location("expertdraw_seed_generate", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(directory: Path, name: str) -> list[dict[str, str]]:
    """Rows of ``<directory>/<name>.csv`` as dicts of strings."""
    path = directory / f"{name}.csv"
    if not path.is_file():
        raise SeedError("seed:missing", f"{path} not found; run seed_data/generate.py")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def confirmed_as_of(
    rows: list[dict[str, str]], reference: date, today: date
) -> list[dict[str, str]]:
    """The seed's confirmation dates moved to the seeding day, so that the demo pool does
    not age while it waits to be seeded: a confirmation ``n`` days before ``reference`` (the
    day the files were generated) becomes one ``n`` days before ``today``. Two in three of
    those older than a year are brought within it (by the expert code, so seeding again gives
    the same dates): about 5 % of the pool is then ``stale-data``, which shows the rule while
    most strata stay within rules.md's limit of a fifth and can be drawn."""
    moved = []
    for row in rows:
        if row.get("data_confirmed_on"):
            age = (reference - date.fromisoformat(row["data_confirmed_on"])).days
            if age > 365 and int(hashlib.sha256(row["code"].encode()).hexdigest()[:8], 16) % 3:
                age %= 300
            row = {**row, "data_confirmed_on": (today - timedelta(days=max(age, 0))).isoformat()}
        moved.append(row)
    return moved


def seed(
    *,
    directory: Path | None = None,
    extra_experts: int = 0,
    conflicts: int = 0,
    venues: int = 0,
    with_users: bool | None = None,
    copy_threshold: int = COPY_THRESHOLD,
) -> SeedReport:
    """Load the seed (and, if asked, the extra pool, conflicts and venues) in one transaction.

    Raises:
        SeedError: a file is missing, or a row names a code that no other file defines;
            ``seed:venues`` when ``venues`` is out of range.
    """
    started = time.perf_counter()
    if not 0 <= venues <= MAX_EXTRA_VENUES:
        raise SeedError("seed:venues", f"venues is 0 to {MAX_EXTRA_VENUES}, not {venues}")
    directory = directory or data_dir()
    tables = {name: read_csv(directory, name) for name in generator().COLUMNS}
    tables["experts"] = confirmed_as_of(
        tables["experts"], generator().REFERENCE_DATE, clock.now().date()
    )
    if venues:
        for name, rows in extra_venues(tables["regions"], venues).items():
            tables[name] = tables[name] + rows
    if with_users is None:
        with_users = bool(current_app.config.get("DEMO") or current_app.config.get("TESTING"))
    report = SeedReport()
    conn = db.session.connection()
    try:
        with report.timed("reference"):
            load_reference(conn, tables, report, copy_threshold)
        pool = PoolLoader(conn, report, copy_threshold)
        pool.load(tables)
        if extra_experts:
            load_generated(pool, extra_pool(tables, extra_experts))
        if conflicts:
            with report.timed("conflicts"):
                report.add("conflicts", add_conflicts(conn, conflicts, copy_threshold))
        if with_users:
            with report.timed("users"):
                report.add("users", load_users(tables["users"]))
        with report.timed("commit"):
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    report.seconds = time.perf_counter() - started
    return report


def seed_reference(directory: Path | None = None) -> SeedReport:
    """Load only regions, specialties, organisations and venues (no experts, no users)."""
    directory = directory or data_dir()
    names = ("regions", "specialties", "organisations", "venues", "rooms", "workstations")
    tables = {name: read_csv(directory, name) for name in names}
    report = SeedReport()
    try:
        load_reference(db.session.connection(), tables, report)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return report


def _opt(value: str) -> str | None:
    return value or None


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes"}


def _insert_missing(
    conn: sa.Connection,
    table: sa.Table,
    key: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    report: SeedReport,
    copy_threshold: int,
) -> list[tuple[Any, ...]]:
    """Insert the rows whose ``key`` columns are not in the table yet; returns those rows."""
    seen = existing_keys(conn, table, key)
    positions = [columns.index(k) for k in key]
    missing = []
    for row in rows:
        natural = tuple(row[i] for i in positions)
        if natural not in seen:
            seen.add(natural)
            missing.append(row)
    report.add(
        table.name, insert_rows(conn, table, columns, missing, copy_threshold=copy_threshold)
    )
    return missing


def load_reference(
    conn: sa.Connection,
    tables: dict[str, list[dict[str, str]]],
    report: SeedReport,
    copy_threshold: int = COPY_THRESHOLD,
) -> None:
    """Regions, specialties, organisations, venues, rooms and workstations."""
    t = copy_threshold
    _insert_missing(
        conn,
        Region.__table__,
        ("code",),
        ("code", "name", "level", "parent_code"),
        [(r["code"], r["name"], r["level"], _opt(r["parent_code"])) for r in tables["regions"]],
        report,
        t,
    )
    _insert_missing(
        conn,
        Specialty.__table__,
        ("code",),
        ("code", "name", "level", "parent_code"),
        [
            (r["code"], r["name"], int(r["level"]), _opt(r["parent_code"]))
            for r in tables["specialties"]
        ],
        report,
        t,
    )
    organisations = Organisation.__table__
    added = _insert_missing(
        conn,
        organisations,
        ("uscc",),
        ("uscc", "name", "kind", "region_code"),
        [
            (r["uscc"], r["name"], r["kind"], _opt(r["region_code"]))
            for r in tables["organisations"]
        ],
        report,
        t,
    )
    # Parents are set only on organisations inserted now, once every id is known.
    new = {row[0] for row in added}
    ids = id_map(conn, organisations, "uscc")
    parents = []
    for r in tables["organisations"]:
        if r["uscc"] in new and r["parent_uscc"]:
            if r["parent_uscc"] not in ids:
                raise SeedError("seed:organisation", f"unknown parent_uscc {r['parent_uscc']}")
            parents.append({"_id": ids[r["uscc"]], "_parent": ids[r["parent_uscc"]]})
    if parents:
        conn.execute(
            sa.update(organisations)
            .where(organisations.c.id == sa.bindparam("_id"))
            .values(parent_id=sa.bindparam("_parent")),
            parents,
        )
    _insert_missing(
        conn,
        Venue.__table__,
        ("id",),
        ("id", "name", "region_code", "address", "active"),
        [
            (r["id"], r["name"], r["region_code"], r["address"], _bool(r["active"]))
            for r in tables["venues"]
        ],
        report,
        t,
    )
    _insert_missing(
        conn,
        Room.__table__,
        ("id",),
        ("id", "venue_id", "name", "active"),
        [(r["id"], r["venue_id"], r["name"], _bool(r["active"])) for r in tables["rooms"]],
        report,
        t,
    )
    _insert_missing(
        conn,
        Workstation.__table__,
        ("id",),
        ("id", "room_id", "active"),
        [(r["id"], r["room_id"], _bool(r["active"])) for r in tables["workstations"]],
        report,
        t,
    )


def extra_pool(
    tables: dict[str, list[dict[str, str]]], count: int, chunk: int = 10_000
) -> Iterator[dict[str, list[dict[str, str]]]]:
    """``count`` generated experts after the seed's last code, with their facts, in chunks.

    Deterministic: the same experts whatever ``count`` (a prefix) and ``chunk``.
    """
    last = max((int(r["code"][1:]) for r in tables["experts"]), default=0)
    return generator().iter_extra_experts(
        count,
        first_number=last + 1,
        organisations=tables["organisations"],
        specialties=tables["specialties"],
        used_id_numbers=[r["id_number"] for r in tables["experts"]],
        chunk=chunk,
    )


def extra_venues(regions: Sequence[dict[str, str]], count: int) -> dict[str, list[dict[str, str]]]:
    """``count`` generated venues ``VB00001``... with their rooms and workstations.

    Venue ``n`` lies in the ``n``-th county of ``regions`` (in file order, round robin), so the
    first k venues are the same whatever ``count``. Rows are CSV-like strings, as the seed's.
    """
    counties = [r for r in regions if r["level"] == "county"]
    if not counties:
        raise SeedError("seed:venues", "no county regions to place venues in")
    out: dict[str, list[dict[str, str]]] = {"venues": [], "rooms": [], "workstations": []}
    for n in range(1, count + 1):
        county = counties[(n - 1) % len(counties)]
        venue = f"VB{n:05d}"
        out["venues"].append(
            {
                "id": venue,
                "name": f"{county['name']}远程评标分中心{n:05d}",
                "region_code": county["code"],
                "address": f"{county['name']}政务服务中心{n % 9 + 1}楼",
                "active": "1",
            }
        )
        for r in range(1, ROOMS_PER_VENUE + 1):
            room = f"{venue}-R{r:02d}"
            out["rooms"].append(
                {"id": room, "venue_id": venue, "name": f"评标室{r:02d}", "active": "1"}
            )
            out["workstations"].extend(
                {"id": f"{room}-W{w:02d}", "room_id": room, "active": "1"}
                for w in range(1, WORKSTATIONS_PER_ROOM + 1)
            )
    return out


def load_users(rows: Sequence[dict[str, str]]) -> int:
    """Create the demo users that do not exist yet; returns how many were created."""
    existing = set(db.session.scalars(sa.select(User.username)))
    created = 0
    for r in rows:
        if r["username"] in existing:
            continue
        expert_id = None
        if r["expert_code"]:
            expert_id = db.session.scalar(
                sa.select(Expert.id).where(Expert.code == r["expert_code"])
            )
            if expert_id is None:
                raise SeedError("seed:users", f"unknown expert {r['expert_code']}")
        user_service.create_user(
            r["username"],
            r["password"],
            r["role"],
            expert_id=expert_id,
            venue_id=_opt(r["venue_id"]),
            language=_opt(r["language"]),
            commit=False,
            demo=True,
        )
        created += 1
    return created


@cache
def _published(directory: Path) -> dict[str, str]:
    try:
        return {r["username"]: r["password"] for r in read_csv(directory, "users")}
    except SeedError:
        return {}


def is_published_login(username: str, password: str) -> bool:
    """Whether this is a demo login whose password ``seed_data/users.csv`` publishes (the
    README prints the scheme): refused outside demo mode, however the account came to be."""
    published = _published(data_dir()).get(username)
    return published is not None and secrets.compare_digest(published.encode(), password.encode())


def demo_logins(directory: Path | None = None) -> list[dict[str, Any]]:
    """The demo users of ``users.csv`` with their passwords, and whether each exists."""
    rows = read_csv(directory or data_dir(), "users")
    existing = set(db.session.scalars(sa.select(User.username)))
    return [{**r, "exists": r["username"] in existing} for r in rows]


__all__ = [
    "SeedError",
    "SeedReport",
    "add_conflicts",
    "demo_logins",
    "extra_venues",
    "seed",
    "seed_reference",
]
