"""The experts of a request's strata, kept in memory while the pool data stays the same.

A provincial request's strata cover some 30,000 experts. Reading their pool columns is most of
what building a pool cost (about 60 % of it at 100,000 experts), and they change far less
often than draws happen: a draw changes bookings and memberships, never experts. So each
process keeps the last few universes it read, under the ``pool_versions`` stamp that database
triggers change in every transaction that changes the experts' pool columns or specialties
(migration 0007). The stamp is read first, in its own statement, and the rows after it: rows
kept under a stamp are never older than the stamp, so a draw never judges experts as they
were before a change it could see. Several instances sharing one database each keep their
own copy, all keyed by the same stamp.

Only the experts' own columns are kept; everything a draw changes (bookings, memberships)
and everything tied to a project (relations with its parties, drafting, penalties, leave) is
read by every draw.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from ..extensions import db
from ..models import Expert, ExpertSpecialty, PoolVersion
from .sql_lists import as_list, list_of

#: Universes kept per process: a few requests' specialty combinations at a time.
KEPT = 8


@dataclass
class Universe:
    """Every expert with a specialty in some stratum's universe, as columns in expert-code
    order. Bit i of ``strata`` stands for stratum i."""

    codes: list[str]
    ids: list[int]
    employers: list[int | None]
    strata: list[int]
    statuses: list[str]
    home_regions: list[str]
    expiries: list[date | None]
    confirmed: list[date | None]
    #: How many strata the bits stand for.
    width: int
    #: Position of each expert id, for the few experts a draw's facts name.
    position_of_id: dict[int, int] = field(init=False, repr=False)
    position_of_code: dict[str, int] = field(init=False, repr=False)
    #: Positions of each stratum's experts (bit i: stratum i), whatever the verdicts.
    members: list[list[int]] = field(init=False, repr=False)
    #: Verdicts on the rules that read only an expert's own row, per (day, excluded home
    #: regions, stale-before date): the same for every draw of a day under one region policy.
    own_rows: dict[tuple[Any, ...], OwnRows] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.position_of_id = {expert_id: at for at, expert_id in enumerate(self.ids)}
        self.position_of_code = {code: at for at, code in enumerate(self.codes)}
        self.members = [
            [at for at, bits in enumerate(self.strata) if bits >> i & 1] for i in range(self.width)
        ]

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class OwnRows:
    """Positions the rules on an expert's own row leave open, and the others' verdicts."""

    open: list[int]  # neither inactive nor outside the region, in code order
    stale: frozenset[int]  # open, but with data older than the stale-data bound
    closed: dict[int, str]  # position -> "inactive" or "region"
    closed_counts: dict[str, int]  # how many each of those two closes


_KEPT: OrderedDict[tuple[Any, ...], Universe] = OrderedDict()
_LOCK = threading.Lock()


def current_stamp() -> str | None:
    """The pool data's stamp; None where the row is missing (nothing is then kept)."""
    return db.session.scalar(sa.select(PoolVersion.stamp).where(PoolVersion.id == 1))


def universe_of(universes: list[list[str]]) -> Universe:
    """The experts of the strata's universes (each a list of specialty codes), from memory
    when the pool data's stamp is the one they were read under."""
    stamp = current_stamp()
    key = (stamp, tuple(tuple(codes) for codes in universes))
    if stamp is not None:
        with _LOCK:
            kept = _KEPT.get(key)
            if kept is not None:
                _KEPT.move_to_end(key)
                return kept
    read = _read(universes)
    if stamp is not None:
        with _LOCK:
            _KEPT[key] = read
            while len(_KEPT) > KEPT:
                _KEPT.popitem(last=False)
    return read


def forget() -> None:
    """Drop every kept universe (for benchmarks that time the reading itself)."""
    with _LOCK:
        _KEPT.clear()


def own_rows(universe: Universe, day: date, outside: frozenset[str], stale_before: date) -> OwnRows:
    """The verdicts of ``inactive``, ``region`` and ``stale-data`` on every expert of the
    universe: written as the rules of ``domain.eligibility`` are, NULL-safe as the SQL was
    (tests/integration/test_pool.py holds the pool equal to those rules)."""
    key = (day, outside, stale_before)
    kept = universe.own_rows.get(key)
    if kept is not None:
        return kept
    opened: list[int] = []
    stale: set[int] = set()
    closed: dict[int, str] = {}
    for at, (status, region, expiry, confirmed) in enumerate(
        zip(
            universe.statuses,
            universe.home_regions,
            universe.expiries,
            universe.confirmed,
            strict=True,
        )
    ):
        if status != "active" or (expiry is not None and expiry < day):
            closed[at] = "inactive"
        elif region in outside:
            closed[at] = "region"
        else:
            opened.append(at)
            if confirmed is None or confirmed < stale_before:
                stale.add(at)
    verdicts = OwnRows(
        open=opened,
        stale=frozenset(stale),
        closed=closed,
        closed_counts=dict(Counter(closed.values())),
    )
    with _LOCK:
        if len(universe.own_rows) >= 4:  # a new day or policy: the old verdicts are done
            universe.own_rows.clear()
        universe.own_rows[key] = verdicts
    return verdicts


def _read(universes: list[list[str]]) -> Universe:
    """One row of lists (one per column): 30,000 row objects took five times as long."""
    strata = _strata_of_experts(universes)
    with planned_for_values():
        row = db.session.execute(
            sa.select(
                list_of(Expert.code),
                list_of(Expert.id),
                list_of(Expert.employer_id),
                list_of(strata.c.strata),
                list_of(Expert.status),
                list_of(Expert.home_region),
                list_of(Expert.qualification_expiry),
                list_of(Expert.data_confirmed_on),
            ).join(strata, strata.c.expert_id == Expert.id)
        ).one()
    codes, *others = (as_list(column) for column in row)
    # By code point, as the snapshot lists candidates, not by the database's collation.
    order = sorted(range(len(codes)), key=codes.__getitem__)
    columns = [list(map(column.__getitem__, order)) for column in (codes, *others)]
    if isinstance(row[0], str):  # SQLite's lists are JSON text: dates come as ISO text
        for dates in columns[6:]:
            dates[:] = [date.fromisoformat(day) if day else None for day in dates]
    return Universe(*columns, width=len(universes))


def _strata_of_experts(universes: list[list[str]]) -> sa.Subquery:
    """``(expert_id, strata)`` for every expert with a specialty in a stratum's universe.

    PostgreSQL ORs the bits over a join with the (code, bit) pairs, one index look-up per
    code, given as two arrays (``unnest``) so that the statement keeps one form and SQLAlchemy
    caches it. SQLite, which has neither ``bit_or`` nor arrays, tests the lists.
    """
    pairs = [(code, 1 << i) for i, under in enumerate(universes) for code in under]
    if not pairs or db.session.get_bind().dialect.name != "postgresql":
        in_strata = sum(
            (
                sa.func.max(sa.case((ExpertSpecialty.specialty_code.in_(under), 1 << i), else_=0))
                for i, under in enumerate(universes)
            ),
            start=sa.literal(0),
        )
        return (
            sa.select(ExpertSpecialty.expert_id, in_strata.label("strata"))
            .where(ExpertSpecialty.specialty_code.in_(sorted({c for u in universes for c in u})))
            .group_by(ExpertSpecialty.expert_id)
            .subquery("universe")
        )
    bits = (
        sa.func.unnest(
            sa.bindparam("strata_codes", [code for code, _ in pairs], type_=ARRAY(sa.String)),
            sa.bindparam("strata_bits", [bit for _, bit in pairs], type_=ARRAY(sa.Integer)),
        )
        .table_valued("code", "bit", name="strata_codes")
        .render_derived()
    )
    return (
        sa.select(ExpertSpecialty.expert_id, sa.func.bit_or(bits.c.bit).label("strata"))
        .join(bits, bits.c.code == ExpertSpecialty.specialty_code)
        .group_by(ExpertSpecialty.expert_id)
        .subquery("universe")
    )


@contextmanager
def planned_for_values() -> Iterator[None]:
    """Let PostgreSQL plan the statements run inside for their values, every time.

    psycopg prepares a statement once a connection has run it five times, and PostgreSQL then
    reuses a generic plan, made without the values, when its estimated cost is lower. For pool
    building the generic plan underestimates the universe (codes it does not know) and gathers
    the fact rules with parallel workers, started anew on every run: at 100,000 experts it
    took 20-30 % longer than the plan for the values, whose planning costs about a
    millisecond. Nothing changes on other drivers (SQLite).
    """
    driver = db.session.connection().connection.driver_connection
    threshold = getattr(driver, "prepare_threshold", None)
    if threshold is None:
        yield
        return
    driver.prepare_threshold = None  # psycopg: no server-side prepared statement
    try:
        yield
    finally:
        driver.prepare_threshold = threshold
