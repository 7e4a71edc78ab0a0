"""Leases in the database: at most one holder per name at a time, with a fencing token.

A lease is taken and renewed by one atomic ``UPDATE ... WHERE holder = me OR expires_at < now``
(SQLite serialises writers; PostgreSQL re-checks the condition on the row it locks), so two
instances can never both hold it, on one host or many. ``epoch`` grows by one whenever the lease
changes hands or is taken again after it lapsed: it is the fencing token that job runs carry, so
work started under an older epoch can be recognised (and finished) by the next holder.

Times come from the database server on PostgreSQL (one clock for every host) and from the
host on SQLite (a single host by nature). They are real time, never the replaceable business
clock: a lease must expire when it says it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models.scheduling import SchedulerLease
from ..models.types import UTCDateTime
from .upsert import insert_ignoring_conflicts

LEASES = SchedulerLease.__table__
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Term:
    """One holder's tenure of a lease; ``epoch`` is its fencing token."""

    name: str
    holder: str
    epoch: int
    expires_at: datetime


@dataclass(frozen=True)
class LeaseState:
    """The stored state of a lease, for operators and tests."""

    name: str
    holder: str | None
    epoch: int
    expires_at: datetime
    acquired_at: datetime | None


def database_now(conn: sa.Connection) -> datetime:
    """The current real time as an aware UTC datetime: the server's on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        value = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


def acquire(name: str, holder: str, seconds: float, now: datetime | None = None) -> Term | None:
    """Take or renew lease ``name`` for ``holder`` until now + ``seconds``.

    Returns the term held afterwards, or ``None`` when another holder's lease is still valid.
    The epoch is kept on renewal and grows by one when the lease is taken (from another holder,
    from nobody, or again after it lapsed). Raises SQLAlchemyError on database failure.
    """
    with db.engine.begin() as conn:
        now = now or database_now(conn)
        conn.execute(
            insert_ignoring_conflicts(conn, LEASES, ["name"]).values(
                name=name, holder=None, epoch=0, expires_at=NEVER
            )
        )
        still_mine = sa.and_(LEASES.c.holder == holder, LEASES.c.expires_at >= now)
        taken_at = sa.literal(now, UTCDateTime())
        row = conn.execute(
            sa.update(LEASES)
            .where(
                LEASES.c.name == name,
                sa.or_(
                    LEASES.c.holder == holder,
                    LEASES.c.holder.is_(None),
                    LEASES.c.expires_at < now,
                ),
            )
            .values(
                holder=holder,
                expires_at=now + timedelta(seconds=seconds),
                renewed_at=now,
                epoch=sa.case((still_mine, LEASES.c.epoch), else_=LEASES.c.epoch + 1),
                acquired_at=sa.case((still_mine, LEASES.c.acquired_at), else_=taken_at),
            )
            .returning(LEASES.c.epoch, LEASES.c.expires_at)
        ).first()
    if row is None:
        return None
    return Term(name=name, holder=holder, epoch=row.epoch, expires_at=row.expires_at)


def release(term: Term, now: datetime | None = None) -> bool:
    """Give the lease up at once if ``term`` still holds it; True if it did.

    The epoch is kept, so the next holder's epoch is higher. Raises SQLAlchemyError.
    """
    with db.engine.begin() as conn:
        now = now or database_now(conn)
        result = conn.execute(
            sa.update(LEASES)
            .where(
                LEASES.c.name == term.name,
                LEASES.c.holder == term.holder,
                LEASES.c.epoch == term.epoch,
            )
            .values(holder=None, expires_at=NEVER, renewed_at=now)
        )
    return result.rowcount == 1


def valid_term_clause(term: Term, now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition: ``term`` is the current, unexpired tenure of its lease."""
    return sa.exists().where(
        LEASES.c.name == term.name,
        LEASES.c.holder == term.holder,
        LEASES.c.epoch == term.epoch,
        LEASES.c.expires_at > now,
    )


def holds(term: Term, now: datetime | None = None) -> bool:
    """True if ``term`` is still the current, unexpired tenure of its lease."""
    with db.engine.connect() as conn:
        now = now or database_now(conn)
        return bool(conn.execute(sa.select(valid_term_clause(term, now))).scalar())


def state(name: str) -> LeaseState | None:
    """The stored state of lease ``name``, or None if it was never taken."""
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(LEASES).where(LEASES.c.name == name)).first()
    if row is None:
        return None
    return LeaseState(
        name=row.name,
        holder=row.holder,
        epoch=row.epoch,
        expires_at=row.expires_at,
        acquired_at=row.acquired_at,
    )
