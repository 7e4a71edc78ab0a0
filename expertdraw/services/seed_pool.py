"""Loading experts and the facts about them: the seed pool, larger generated pools, conflicts.

``PoolLoader.load`` inserts the experts not present yet (by code) and their specialties,
employments, relations, penalties and leaves. Facts of experts inserted by this loader go in
without checks; facts of experts that existed before are inserted only if missing by natural
key, so loading twice changes nothing.

``load_generated`` loads a generated pool chunk by chunk, so memory stays bounded.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..models import (
    Employment,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    Leave,
    Organisation,
    Penalty,
)
from ..personal_data import protector
from .bulk import COPY_THRESHOLD, existing_keys, id_map, insert_rows, insert_stream

EXPERT_COLUMNS = (
    "code",
    "name",
    "id_number",
    "id_number_hash",
    "phone",
    "phone_hash",
    "email",
    "home_region",
    "employer_id",
    "title",
    "kind",
    "status",
    "qualification_expiry",
    "data_confirmed_on",
)


class SeedError(Exception):
    """Seed files are missing or inconsistent, or too many conflicts are asked (``seed:...``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _opt(value: str) -> str | None:
    return value or None


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


class PoolLoader:
    """Loads pool tables (dicts of CSV-like string rows) into one connection's transaction."""

    def __init__(self, conn: sa.Connection, report: Any, copy_threshold: int = COPY_THRESHOLD):
        self.conn = conn
        self.report = report
        self.copy_threshold = copy_threshold
        self.orgs: dict[str, int] = id_map(conn, Organisation.__table__, "uscc")
        self.ids: dict[str, int] = id_map(conn, Expert.__table__, "code")
        # Experts present before this loader ran: only their facts may exist already.
        self.old_ids = set(self.ids.values())
        self._keys: dict[str, set[tuple[Any, ...]]] = {}

    def org(self, uscc: str) -> int:
        try:
            return self.orgs[uscc]
        except KeyError:
            raise SeedError("seed:organisation", f"unknown organisation {uscc}") from None

    def expert(self, code: str) -> int:
        try:
            return self.ids[code]
        except KeyError:
            raise SeedError("seed:expert", f"unknown expert {code}") from None

    def load(self, tables: dict[str, list[dict[str, str]]]) -> None:
        """Insert what is missing of one set of pool tables."""
        experts = Expert.__table__
        with self.report.timed("experts"):
            rows = self._expert_rows(tables["experts"])
            before = self.conn.execute(sa.select(sa.func.max(experts.c.id))).scalar() or 0
            count = insert_rows(
                self.conn, experts, EXPERT_COLUMNS, rows, copy_threshold=self.copy_threshold
            )
            self.report.add("experts", count)
            if rows:
                query = sa.select(experts.c.code, experts.c.id).where(experts.c.id > before)
                self.ids.update(self.conn.execute(query).all())
        for table, name, key, columns, convert in self._facts():
            with self.report.timed(table.name):
                self._insert_facts(table, key, columns, [convert(r) for r in tables[name]])

    def _expert_rows(self, rows: Sequence[dict[str, str]]) -> list[tuple[Any, ...]]:
        lookup = protector().lookup_hash
        return [
            (
                r["code"],
                r["name"],
                r["id_number"],
                lookup(r["id_number"]),
                _opt(r["phone"]),
                lookup(r["phone"]) if r["phone"] else None,
                _opt(r["email"]),
                r["home_region"],
                self.org(r["employer_uscc"]) if r["employer_uscc"] else None,
                r["title"],
                r["kind"],
                r["status"],
                _date(r["qualification_expiry"]),
                _date(r["data_confirmed_on"]),
            )
            for r in rows
            if r["code"] not in self.ids
        ]

    def _insert_facts(
        self,
        table: sa.Table,
        key: tuple[str, ...],
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> None:
        fresh = [r for r in rows if r[0] not in self.old_ids]
        checked = [r for r in rows if r[0] in self.old_ids]
        if checked:
            seen = self._keys.get(table.name)
            if seen is None:
                seen = self._keys[table.name] = existing_keys(self.conn, table, key)
            positions = [columns.index(k) for k in key]
            missing = []
            for row in checked:
                natural = tuple(row[i] for i in positions)
                if natural not in seen:
                    seen.add(natural)
                    missing.append(row)
            fresh += missing
        count = insert_rows(self.conn, table, columns, fresh, copy_threshold=self.copy_threshold)
        self.report.add(table.name, count)

    def _facts(self) -> tuple[tuple[sa.Table, str, tuple[str, ...], tuple[str, ...], Any], ...]:
        expert, org = self.expert, self.org
        return (
            (
                ExpertSpecialty.__table__,
                "expert_specialties",
                ("expert_id", "specialty_code"),
                ("expert_id", "specialty_code"),
                lambda r: (expert(r["expert_code"]), r["specialty_code"]),
            ),
            (
                Employment.__table__,
                "employments",
                ("expert_id", "organisation_id", "relation", "start"),
                ("expert_id", "organisation_id", "relation", "start", "end"),
                lambda r: (
                    expert(r["expert_code"]),
                    org(r["organisation_uscc"]),
                    r["relation"],
                    _date(r["start"]),
                    _date(r["end"]),
                ),
            ),
            (
                ExpertRelation.__table__,
                "relations",
                ("expert_id", "organisation_id", "kind"),
                ("expert_id", "organisation_id", "kind", "declared_at"),
                lambda r: (
                    expert(r["expert_code"]),
                    org(r["organisation_uscc"]),
                    r["kind"],
                    _instant(r["declared_at"]),
                ),
            ),
            (
                Penalty.__table__,
                "penalties",
                ("expert_id", "kind", "start"),
                ("expert_id", "kind", "start", "end", "note"),
                lambda r: (
                    expert(r["expert_code"]),
                    r["kind"],
                    _date(r["start"]),
                    _date(r["end"]),
                    _opt(r["note"]),
                ),
            ),
            (
                Leave.__table__,
                "leaves",
                ("expert_id", "start"),
                ("expert_id", "start", "end"),
                lambda r: (expert(r["expert_code"]), _instant(r["start"]), _instant(r["end"])),
            ),
        )


def load_generated(loader: PoolLoader, chunks: Iterator[dict[str, list[dict[str, str]]]]) -> None:
    """Load generated chunks one after the other (bounded memory for large pools)."""
    iterator = iter(chunks)
    while True:
        with loader.report.timed("generate"):
            chunk = next(iterator, None)
        if chunk is None:
            return
        loader.load(chunk)


def add_conflicts(conn: sa.Connection, count: int, copy_threshold: int = COPY_THRESHOLD) -> int:
    """Add a deterministic set of ``count`` expert-organisation relations; returns rows added.

    The set depends only on ``count`` and on the experts and organisations present (ordered by
    code and USCC): ``random.Random(seed)`` samples ``count`` distinct (expert, organisation,
    kind) triples, in key order. Relations already present are skipped, so a second run adds
    nothing (and a first run adds slightly fewer than ``count`` when the seed has some).

    Raises:
        SeedError: ``seed:conflicts`` when more are asked than expert x organisation x kind.
    """
    from .seed import generator

    experts = conn.execute(sa.select(Expert.id).order_by(Expert.code)).scalars().all()
    orgs = conn.execute(sa.select(Organisation.id).order_by(Organisation.uscc)).scalars().all()
    per_expert = len(orgs) * 2
    capacity = len(experts) * per_expert
    if count > capacity:
        raise SeedError(
            "seed:conflicts", f"{count} relations asked, only {capacity} distinct ones exist"
        )
    rng = random.Random(generator().SEED + 2)
    picks = sorted(rng.sample(range(capacity), count))
    base = datetime(2024, 1, 1, tzinfo=UTC)
    span = 3 * 365 * 86400
    kinds = ("declared", "relative")

    table = ExpertRelation.__table__
    columns = ("expert_id", "organisation_id", "kind", "declared_at")
    existing = existing_keys(conn, table, columns[:3])

    def rows() -> Iterator[tuple[Any, ...]]:
        for pick in picks:
            e, rest = divmod(pick, per_expert)
            o, k = divmod(rest, 2)
            if (experts[e], orgs[o], kinds[k]) not in existing:
                yield (experts[e], orgs[o], kinds[k], base + timedelta(seconds=pick % span))

    return insert_stream(
        conn, table, columns, rows(), expected=count, copy_threshold=copy_threshold
    )
