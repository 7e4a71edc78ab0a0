"""Job runs: each (job, slot) runs once, fenced by the scheduler lease, and survives crashes.

A *slot* is the time a run was scheduled for. Running a job for a slot:

1. the lease check: the caller's term must still hold the scheduler lease (a safety net on
   top of the paused standby schedulers);
2. the claim: ``INSERT INTO job_runs ... SELECT ... WHERE <term holds the lease> ON CONFLICT
   DO NOTHING``: of any number of racing instances, exactly one inserts the row. If the row
   exists, it is taken over only when its run was orphaned (status ``running`` under an older
   epoch by another holder: that process died or lost the lease) or when it failed and may be
   retried (fewer than ``max_attempts``, at least ``retry_after`` ago);
3. the call: the service function, under the caller's app context, with ``now`` from
   :mod:`expertdraw.clock`; services own their transactions and are idempotent;
4. the outcome: ``done`` or ``failed`` (exception class only: messages may hold personal data),
   written only if this run still owns the row (holder and epoch), so a run that was taken over
   cannot overwrite its successor.
"""

from __future__ import annotations

import importlib
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..extensions import db
from ..logfmt import event
from ..models.scheduling import JobRun
from ..models.types import UTCDateTime
from . import leases
from .leases import Term
from .upsert import insert_ignoring_conflicts

log = logging.getLogger("expertdraw.scheduler")
RUNS = JobRun.__table__


@dataclass(frozen=True)
class RetryPolicy:
    """How often a run may be tried, and how long after a failure it is tried again."""

    max_attempts: int = 3
    retry_after: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Run:
    """A claimed run: the job, its slot, and the term (holder, epoch) that owns it."""

    job: str
    slot: datetime
    attempt: int
    holder: str
    epoch: int


_current: ContextVar[Run | None] = ContextVar("expertdraw_job_run", default=None)


def current_run() -> Run | None:
    """The run in progress in this thread (for services that log or label their work)."""
    return _current.get()


@contextmanager
def _running(run: Run) -> Iterator[Run]:
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def resolve(target: str) -> Callable[[datetime], Any]:
    """The function named by a dotted path such as ``expertdraw.services.ledger.purge``.

    Raises ImportError or AttributeError if it does not exist, TypeError if not callable.
    """
    module_name, _, attribute = target.rpartition(".")
    function = getattr(importlib.import_module(module_name), attribute)
    if not callable(function):
        raise TypeError(f"{target} is not callable")
    return function


def _takeover_condition(term: Term, policy: RetryPolicy, now: datetime) -> sa.ColumnElement[bool]:
    orphaned = sa.and_(
        RUNS.c.status == "running",
        RUNS.c.epoch < term.epoch,
        RUNS.c.holder != term.holder,
        RUNS.c.attempts < policy.max_attempts,
    )
    retryable = sa.and_(
        RUNS.c.status == "failed",
        RUNS.c.attempts < policy.max_attempts,
        RUNS.c.finished_at <= now - policy.retry_after,
    )
    return sa.or_(orphaned, retryable)


def claim(term: Term, job: str, slot: datetime, policy: RetryPolicy) -> Run | None:
    """Claim the run of ``job`` for ``slot`` under ``term``; None if not ours to run.

    None means: the lease is no longer held by ``term``, or the slot is done, running
    elsewhere, or failed and not (yet) to be retried. Raises SQLAlchemyError.
    """
    with db.engine.begin() as conn:
        now = leases.database_now(conn)
        fence = leases.valid_term_clause(term, now)
        values = sa.select(
            sa.literal(job, sa.String()),
            sa.literal(slot, UTCDateTime()),
            sa.literal("running", sa.String()),
            sa.literal(term.holder, sa.String()),
            sa.literal(term.epoch, sa.Integer()),
            sa.literal(1, sa.Integer()),
            sa.literal(now, UTCDateTime()),
        ).where(fence)
        columns = ["job", "slot", "status", "holder", "epoch", "attempts", "started_at"]
        inserted = conn.execute(
            insert_ignoring_conflicts(conn, RUNS, ["job", "slot"])
            .from_select(columns, values)
            .returning(RUNS.c.id)
        ).first()
        if inserted is not None:
            return Run(job, slot, 1, term.holder, term.epoch)
        row = conn.execute(
            sa.update(RUNS)
            .where(
                RUNS.c.job == job,
                RUNS.c.slot == slot,
                _takeover_condition(term, policy, now),
                fence,
            )
            .values(
                status="running",
                holder=term.holder,
                epoch=term.epoch,
                attempts=RUNS.c.attempts + 1,
                started_at=now,
                finished_at=None,
                error=None,
            )
            .returning(RUNS.c.attempts)
        ).first()
    if row is None:
        return None
    return Run(job, slot, row.attempts, term.holder, term.epoch)


def _finish(run: Run, status: str, error: str | None) -> bool:
    with db.engine.begin() as conn:
        now = leases.database_now(conn)
        result = conn.execute(
            sa.update(RUNS)
            .where(
                RUNS.c.job == run.job,
                RUNS.c.slot == run.slot,
                RUNS.c.status == "running",
                RUNS.c.holder == run.holder,
                RUNS.c.epoch == run.epoch,
            )
            .values(status=status, finished_at=now, error=error)
        )
    return result.rowcount == 1


def has_run(job: str, slot: datetime) -> bool:
    """Whether ``job`` has a run row for ``slot`` (claimed once, whatever came of it)."""
    with db.engine.connect() as conn:
        found = conn.execute(
            sa.select(RUNS.c.id).where(RUNS.c.job == job, RUNS.c.slot == slot)
        ).first()
    return found is not None


def complete(run: Run) -> bool:
    """Mark ``run`` done; False if it no longer owns its row (it was taken over)."""
    return _finish(run, "done", None)


def fail(run: Run, error: str) -> bool:
    """Mark ``run`` failed with ``error`` (no personal data); False if it was taken over."""
    return _finish(run, "failed", error[:200])


def recoverable(term: Term, policy: RetryPolicy, limit: int = 50) -> list[tuple[str, datetime]]:
    """(job, slot) of runs the holder of ``term`` should finish: orphaned or retryable."""
    with db.engine.connect() as conn:
        now = leases.database_now(conn)
        rows = conn.execute(
            sa.select(RUNS.c.job, RUNS.c.slot)
            .where(_takeover_condition(term, policy, now))
            .order_by(RUNS.c.slot)
            .limit(limit)
        ).all()
    return [(row.job, row.slot) for row in rows]


def abandon_exhausted(term: Term, policy: RetryPolicy) -> int:
    """Mark failed the orphaned runs that already used every attempt; returns how many."""
    with db.engine.begin() as conn:
        now = leases.database_now(conn)
        result = conn.execute(
            sa.update(RUNS)
            .where(
                RUNS.c.status == "running",
                RUNS.c.epoch < term.epoch,
                RUNS.c.holder != term.holder,
                RUNS.c.attempts >= policy.max_attempts,
                leases.valid_term_clause(term, now),
            )
            .values(status="failed", finished_at=now, error="abandoned")
        )
    return result.rowcount


def purge_runs(now: datetime) -> int:
    """Scheduler job: delete finished runs whose slot is older than ``SCHEDULER_KEEP_DAYS``.

    Old slots never fire again, so forgetting their rows cannot make them run twice. Returns
    how many rows went. Raises SQLAlchemyError.
    """
    keep = timedelta(days=float(current_app.config.get("SCHEDULER_KEEP_DAYS", 90)))
    with db.engine.begin() as conn:
        result = conn.execute(
            sa.delete(RUNS).where(RUNS.c.status != "running", RUNS.c.slot < now - keep)
        )
    return result.rowcount


def describe(exc: BaseException) -> str:
    """An error label without personal data: the class name, and the domain code if any."""
    label = type(exc).__name__
    code = getattr(exc, "code", None)
    return f"{label}:{code}" if isinstance(code, str) else label


def execute(term: Term | None, job: str, slot: datetime, target: str, policy: RetryPolicy) -> str:
    """Run ``job`` for ``slot`` by calling ``target(now)`` once, if ours to run.

    Call under an app context. Returns the outcome: ``not-leader``, ``unavailable`` (the
    target cannot be imported), ``skipped`` (done, or claimed elsewhere), ``failed``,
    ``done`` or ``fenced`` (it ran, but a new leader took the slot over meanwhile). Service
    exceptions are recorded, never raised; raises SQLAlchemyError when the database cannot
    record the run.
    """
    fields = {"job": job, "slot": slot}
    if term is None or not leases.holds(term):
        log.info(event("job.skipped", **fields, reason="not-leader"))
        return "not-leader"
    try:
        function = resolve(target)
    except (ImportError, AttributeError, TypeError) as exc:
        log.error(event("job.unavailable", **fields, target=target, error=describe(exc)))
        return "unavailable"
    run = claim(term, job, slot, policy)
    if run is None:
        log.info(event("job.skipped", **fields, reason="claimed"))
        return "skipped"
    fields.update(attempt=run.attempt, epoch=run.epoch)
    log.info(event("job.started", **fields))
    started = time.monotonic()
    try:
        with _running(run):
            function(clock.now())
    except Exception as exc:
        db.session.rollback()
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error(event("job.failed", **fields, error=describe(exc)) + "\n" + frames)
        if not fail(run, describe(exc)):
            log.warning(event("job.fenced", **fields))
            return "fenced"
        return "failed"
    finally:
        db.session.remove()
    elapsed_ms = round((time.monotonic() - started) * 1000)
    if not complete(run):
        log.warning(event("job.fenced", **fields, ms=elapsed_ms))
        return "fenced"
    log.info(event("job.done", **fields, ms=elapsed_ms))
    return "done"
