"""The experts of a request's strata, kept in memory between draws and brought up to date.

A provincial request's strata cover some 30,000 experts. Reading their pool columns was most
of what building a pool cost (about 60 % of it at 100,000 experts), and few of them change
between two draws: a draw changes bookings and memberships, never experts. So each process
keeps the last few universes it read, under the ``pool_versions`` generation that database
triggers move on in every transaction that changes the experts' pool columns or specialties
(migration 0007), and before a draw reads again only the experts ``pool_changes`` names for
the generations since. The generation is read first, in its own statement, and the rows after
it, so rows kept under a generation are never older than it: a draw never judges an expert as
they were before a change it could see. Several instances sharing one database each keep
their own copy, brought up to date the same way.

Only the experts' own columns are kept, with their employer's USCC (the basis of their group
code: an organisation's changed USCC names its employees as changed, migration 0011);
everything a draw changes (bookings, memberships)
and everything tied to a project (relations with its parties, drafting, penalties, leave) is
read by every draw.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from ..extensions import db
from ..models import Expert, ExpertSpecialty, Organisation, PoolChange, PoolVersion
from .sql_lists import as_list, list_of

#: Universes kept per process: a few requests' specialty combinations at a time (about 20 MB
#: each at provincial scale: 30,000 experts with their positions and date indexes).
KEPT = 4
#: More changed experts than this since a kept generation: read the universe again instead.
MOST_CHANGES = 2000


@dataclass
class Universe:
    """Every expert with a specialty in some stratum's universe, as columns in expert-code
    order. Bit i of ``strata`` stands for stratum i."""

    codes: list[str]
    ids: list[int]
    #: The employer's USCC (the basis of the candidate's group code), None without one.
    employers: list[str | None]
    strata: list[int]
    statuses: list[str]
    home_regions: list[str]
    expiries: list[date | None]
    confirmed: list[date | None]
    #: How many strata the bits stand for.
    width: int
    #: Position of each expert id; positions of each stratum's experts (bit i: stratum i),
    #: whatever the verdicts. Computed unless given (a patch keeps them).
    position_of_id: dict[int, int] = field(default_factory=dict, repr=False)
    members: list[list[int]] = field(default_factory=list, repr=False)
    #: Verdicts on the rules that read only an expert's own row, per (day, excluded home
    #: regions, stale-before date), and what they are judged from (built on first use).
    own_rows: dict[tuple[Any, ...], OwnRows] = field(default_factory=dict, repr=False)
    index: OwnIndex | None = field(default=None, repr=False)
    _regions: frozenset[str] | None = field(default=None, repr=False)
    _employed: tuple[frozenset[str], list[int]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.position_of_id and self.ids:
            self.position_of_id = {expert_id: at for at, expert_id in enumerate(self.ids)}
        if not self.members:
            self.members = [
                [at for at, bits in enumerate(self.strata) if bits >> i & 1]
                for i in range(self.width)
            ]

    def __len__(self) -> int:
        return len(self.codes)

    def position_of_code(self, code: str) -> int | None:
        """Where the expert with this code is, if in the universe (the codes are sorted)."""
        at = bisect.bisect_left(self.codes, code)
        return at if at < len(self.codes) and self.codes[at] == code else None

    def employed(self) -> tuple[frozenset[str], list[int]]:
        """The experts' employers (USCCs, each once), and the positions of the experts
        without one, computed on first use."""
        if self._employed is None:
            employers = self.employers
            self._employed = (
                frozenset(employers) - {None},
                [at for at, employer in enumerate(employers) if employer is None],
            )
        return self._employed

    def regions(self) -> frozenset[str]:
        """The experts' home regions (each once), computed on first use."""
        if self._regions is None:
            self._regions = frozenset(self.home_regions)
        return self._regions

    def own_columns(self) -> list[list[Any]]:
        """The columns of the experts' own rows, in the order the constructor takes them."""
        return [
            self.codes,
            self.ids,
            self.employers,
            self.strata,
            self.statuses,
            self.home_regions,
            self.expiries,
            self.confirmed,
        ]


@dataclass(frozen=True)
class OwnRows:
    """The verdicts of the rules on an expert's own row, by position in the universe."""

    closed: dict[int, str]  # position -> "inactive" or "region"
    closed_counts: dict[str, int]  # how many each of those two closes
    stale: frozenset[int]  # not closed, but with data older than the stale-data bound


@dataclass
class OwnIndex:
    """The universe's own rows ordered for the rules that compare them with a date, so that
    a draw on any day finds who they exclude by bisection rather than expert by expert.
    ``expiries`` and ``confirmations`` are sorted dates, and ``expiring`` and ``confirming``
    the positions of those dates' experts, in the same order (no expert without a date)."""

    not_active: set[int]
    expiries: list[date]
    expiring: list[int]
    unconfirmed: set[int]
    confirmations: list[date]
    confirming: list[int]
    outside_of: dict[frozenset[str], set[int]]  # excluded home regions -> positions there

    @classmethod
    def of(cls, universe: Universe) -> OwnIndex:
        expiring = sorted(
            (at for at, day in enumerate(universe.expiries) if day is not None),
            key=universe.expiries.__getitem__,
        )
        confirming = sorted(
            (at for at, day in enumerate(universe.confirmed) if day is not None),
            key=universe.confirmed.__getitem__,
        )
        return cls(
            not_active={at for at, s in enumerate(universe.statuses) if s != "active"},
            expiries=list(map(universe.expiries.__getitem__, expiring)),
            expiring=expiring,
            unconfirmed={at for at, day in enumerate(universe.confirmed) if day is None},
            confirmations=list(map(universe.confirmed.__getitem__, confirming)),
            confirming=confirming,
            outside_of={},
        )

    def patched(self, old: Universe, new: Universe, places: list[int]) -> OwnIndex:
        """This index for ``new``: ``old`` with the experts at ``places`` changed."""
        index = OwnIndex(
            not_active=set(self.not_active),
            expiries=list(self.expiries),
            expiring=list(self.expiring),
            unconfirmed=set(self.unconfirmed),
            confirmations=list(self.confirmations),
            confirming=list(self.confirming),
            outside_of={o: set(there) for o, there in list(self.outside_of.items())},
        )
        for at in places:
            _move(index.expiries, index.expiring, at, old.expiries[at], new.expiries[at])
            _move(index.confirmations, index.confirming, at, old.confirmed[at], new.confirmed[at])
            _place(index.not_active, at, new.statuses[at] != "active")
            _place(index.unconfirmed, at, new.confirmed[at] is None)
            for outside, there in index.outside_of.items():
                _place(there, at, new.home_regions[at] in outside)
        return index


def _place(positions: set[int], at: int, belongs: bool) -> None:
    if belongs:
        positions.add(at)
    else:
        positions.discard(at)


def _move(days: list[date], places: list[int], at: int, was: date | None, now: date | None) -> None:
    """Move the expert at ``at`` from date ``was`` to ``now`` in a sorted pair of lists."""
    if was is not None:
        i = bisect.bisect_left(days, was)
        while places[i] != at:
            i += 1
        del days[i], places[i]
    if now is not None:
        i = bisect.bisect_right(days, now)
        days.insert(i, now)
        places.insert(i, at)


@dataclass(frozen=True)
class Version:
    """The ``pool_versions`` row."""

    lineage: str
    generation: int
    kept_from: int


_KEPT: OrderedDict[tuple[Any, ...], tuple[int, Universe]] = OrderedDict()
_LOCK = threading.Lock()


def current_version() -> Version | None:
    """The pool data's generation; None where the row is missing (nothing is then kept)."""
    row = db.session.execute(
        sa.select(PoolVersion.lineage, PoolVersion.generation, PoolVersion.kept_from).where(
            PoolVersion.id == 1
        )
    ).first()
    return Version(*row) if row else None


def universe_of(universes: list[list[str]]) -> Universe:
    """The experts of the strata's universes (each a list of specialty codes): kept in
    memory, brought up to date with the experts changed since, or read in full."""
    version = current_version()
    if version is None:
        return _read(universes)
    # The database's address too: a process may talk to several copies of one database (a
    # test's copies of a template), and copies share a lineage.
    address = db.session.get_bind().url.render_as_string(hide_password=True)
    key = (address, version.lineage, tuple(tuple(codes) for codes in universes))
    with _LOCK:
        kept = _KEPT.get(key)
    universe = None
    if kept is not None:
        generation, universe = kept
        if generation == version.generation:
            with _LOCK:
                _KEPT.move_to_end(key)
            return universe
        changed = None
        if version.kept_from <= generation < version.generation:
            changed = _changed_between(generation, version.generation)
        universe = _patched(universe, universes, changed) if changed is not None else None
    if universe is None:
        universe = _read(universes)
    with _LOCK:
        kept = _KEPT.get(key)
        if kept is None or kept[0] <= version.generation:
            _KEPT[key] = (version.generation, universe)
            _KEPT.move_to_end(key)
        else:  # newer than the database's: another thread's later read, or a restored database
            del _KEPT[key]
        while len(_KEPT) > KEPT:
            _KEPT.popitem(last=False)
    return universe


def forget() -> None:
    """Drop every kept universe (for benchmarks that time the reading itself)."""
    with _LOCK:
        _KEPT.clear()


def _changed_between(kept: int, current: int) -> list[int] | None:
    """The experts the generations after ``kept`` up to ``current`` changed; None if more
    than :data:`MOST_CHANGES` (an import: reading the universe again costs less)."""
    changed = db.session.scalars(
        sa.select(PoolChange.expert_id)
        .where(PoolChange.generation > kept, PoolChange.generation <= current)
        .distinct()
        .limit(MOST_CHANGES + 1)
    ).all()
    return list(changed) if len(changed) <= MOST_CHANGES else None


def _patched(universe: Universe, universes: list[list[str]], changed: list[int]) -> Universe:
    """``universe`` with the changed experts read again.

    Where they are the same experts in the same places (same codes, same strata: a status,
    region, date or employer changed), the columns are copied and those places overwritten,
    and the positions and strata members are shared. Otherwise (an expert joined or left a
    stratum, or changed code) the columns are merged and sorted anew. Either way the own
    rows' verdicts are judged again on first use.
    """
    if not changed:
        return universe
    fresh = _read(universes, changed)
    at_of = universe.position_of_id
    places = [at_of[expert_id] for expert_id in fresh.ids if expert_id in at_of]
    same = (
        len(places) == len(fresh)
        and sum(1 for expert_id in changed if expert_id in at_of) == len(places)
        and all(
            universe.codes[at] == fresh.codes[i] and universe.strata[at] == fresh.strata[i]
            for i, at in enumerate(places)
        )
    )
    if not same:
        gone = set(changed)
        kept = [at for at, expert_id in enumerate(universe.ids) if expert_id not in gone]
        columns = [
            [column[at] for at in kept] + new
            for column, new in zip(universe.own_columns(), fresh.own_columns(), strict=True)
        ]
        return _sorted(columns, universe.width)
    columns = [list(column) for column in universe.own_columns()]
    for column, new in zip(columns, fresh.own_columns(), strict=True):
        for i, at in enumerate(places):
            column[at] = new[i]
    patched = Universe(
        *columns,
        width=universe.width,
        position_of_id=universe.position_of_id,
        members=universe.members,
    )
    if universe.index is not None:
        patched.index = universe.index.patched(universe, patched, places)
    return patched


def own_rows(universe: Universe, day: date, outside: frozenset[str], stale_before: date) -> OwnRows:
    """The verdicts of ``inactive``, ``region`` and ``stale-data`` on every expert of the
    universe, each the first of the three an expert meets, as the rules of
    ``domain.eligibility`` have them (tests/integration/test_pool.py holds the pool equal to
    those rules): inactive when not active or qualified only before ``day``; outside the
    region when the home region is in ``outside``; stale when the data were never confirmed
    or confirmed before ``stale_before``."""
    key = (day, outside, stale_before)
    kept = universe.own_rows.get(key)
    if kept is not None:
        return kept
    index = universe.index
    if index is None:
        index = universe.index = OwnIndex.of(universe)
    expired = bisect.bisect_left(index.expiries, day)  # every expiry before ``day``
    closed = dict.fromkeys(chain(index.not_active, index.expiring[:expired]), "inactive")
    there = index.outside_of.get(outside)
    if there is None:
        there = {at for at, region in enumerate(universe.home_regions) if region in outside}
        with _LOCK:
            index.outside_of[outside] = there
    for at in there:
        closed.setdefault(at, "region")
    stale = set(index.confirming[: bisect.bisect_left(index.confirmations, stale_before)])
    stale.update(index.unconfirmed)
    stale.difference_update(closed)
    verdicts = OwnRows(
        closed=closed, closed_counts=dict(Counter(closed.values())), stale=frozenset(stale)
    )
    with _LOCK:
        if len(universe.own_rows) >= 8:  # draws on many other days: start afresh
            universe.own_rows.clear()
        universe.own_rows[key] = verdicts
    return verdicts


def _read(universes: list[list[str]], only: Sequence[int] | None = None) -> Universe:
    """The universe's experts (``only`` those of them with these ids), as one row of lists
    (one per column): 30,000 row objects took five times as long."""
    strata = _strata_of_experts(universes, only)
    with planned_for_values():
        row = db.session.execute(
            sa.select(
                list_of(Expert.code),
                list_of(Expert.id),
                list_of(Organisation.uscc),
                list_of(strata.c.strata),
                list_of(Expert.status),
                list_of(Expert.home_region),
                list_of(Expert.qualification_expiry),
                list_of(Expert.data_confirmed_on),
            )
            .join(strata, strata.c.expert_id == Expert.id)
            .outerjoin(Organisation, Organisation.id == Expert.employer_id)
        ).one()
    columns = [as_list(column) for column in row]
    if isinstance(row[0], str):  # SQLite's lists are JSON text: dates come as ISO text
        for dates in columns[6:]:
            dates[:] = [date.fromisoformat(day) if day else None for day in dates]
    return _sorted(columns, len(universes))


def _sorted(columns: list[list[Any]], width: int) -> Universe:
    """A universe of these columns, ordered by expert code point (as the snapshot lists
    candidates), not by the database's collation."""
    codes = columns[0]
    order = sorted(range(len(codes)), key=codes.__getitem__)
    return Universe(*(list(map(column.__getitem__, order)) for column in columns), width=width)


def _strata_of_experts(universes: list[list[str]], only: Sequence[int] | None) -> sa.Subquery:
    """``(expert_id, strata)`` for every expert with a specialty in a stratum's universe.

    PostgreSQL ORs the bits over a join with the (code, bit) pairs, one index look-up per
    code, given as two arrays (``unnest``) so that the statement keeps one form and SQLAlchemy
    caches it. SQLite, which has neither ``bit_or`` nor arrays, tests the lists. ``only``
    narrows it to those experts.
    """
    narrowed = () if only is None else (ExpertSpecialty.expert_id.in_(list(only)),)
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
            .where(
                ExpertSpecialty.specialty_code.in_(sorted({c for u in universes for c in u})),
                *narrowed,
            )
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
        .where(*narrowed)
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
