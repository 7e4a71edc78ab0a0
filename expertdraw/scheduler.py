"""The leased scheduler: APScheduler in every process, running jobs only in the lease holder.

Every instance (web worker, ``flask scheduler`` process, host) starts a ``BackgroundScheduler``
*paused*, with its job store in the application database. A lease thread takes or renews the
``scheduler_leases`` row every ``renew_seconds``; the instance that holds it writes the job
definitions to the store and resumes its scheduler, any other stays paused, and a holder that
cannot renew pauses at once. Each job run goes through :func:`services.scheduling.execute`,
which checks the lease again and claims the (job, slot) row, so even two schedulers that both
believed they led would run each slot once.

APScheduler's own ``run_job`` does not tell a job the time it was scheduled for; the
:class:`SlotExecutor` passes that time on as the run's slot.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.base import BaseTrigger
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .logfmt import event
from .services import leases, scheduling
from .services.leases import Term

log = logging.getLogger("expertdraw.scheduler")

JOBSTORE_TABLE = "apscheduler_jobs"
STORED_FUNC = "expertdraw.scheduler:stored_job"


def stored_job(name: str) -> None:
    """The callable APScheduler stores for every job; the :class:`SlotExecutor` never calls it.

    Raises RuntimeError: a job must run through the leased scheduler, which runs the named
    job's service for the scheduled slot.
    """
    raise RuntimeError(f"job {name!r} must run through expertdraw's SlotExecutor")


@dataclass(frozen=True)
class JobSpec:
    """A job: its name, when it fires, and the service function it calls with ``now``."""

    name: str
    trigger: BaseTrigger
    target: str


@dataclass(frozen=True)
class Settings:
    """Scheduler tuning, from the app config (``SCHEDULER_*`` keys)."""

    lease_name: str = "scheduler"
    jobstore_table: str = JOBSTORE_TABLE
    lease_seconds: float = 30.0
    renew_seconds: float = 10.0
    workers: int = 4
    policy: scheduling.RetryPolicy = field(default_factory=scheduling.RetryPolicy)

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        """Read ``SCHEDULER_LEASE_NAME``, ``_JOBSTORE_TABLE``, ``_LEASE_SECONDS``,
        ``_RENEW_SECONDS``, ``_WORKERS``, ``_MAX_ATTEMPTS`` and ``_RETRY_SECONDS``; raises
        ValueError if renewal is not comfortably shorter than the lease."""
        settings = cls(
            lease_name=config.get("SCHEDULER_LEASE_NAME", "scheduler"),
            jobstore_table=config.get("SCHEDULER_JOBSTORE_TABLE", JOBSTORE_TABLE),
            lease_seconds=float(config.get("SCHEDULER_LEASE_SECONDS", 30)),
            renew_seconds=float(config.get("SCHEDULER_RENEW_SECONDS", 10)),
            workers=int(config.get("SCHEDULER_WORKERS", 4)),
            policy=scheduling.RetryPolicy(
                max_attempts=int(config.get("SCHEDULER_MAX_ATTEMPTS", 3)),
                retry_after=timedelta(seconds=float(config.get("SCHEDULER_RETRY_SECONDS", 60))),
            ),
        )
        if not 0 < settings.renew_seconds * 2 <= settings.lease_seconds:
            raise ValueError("SCHEDULER_RENEW_SECONDS must be at most half SCHEDULER_LEASE_SECONDS")
        return settings


def new_holder_id() -> str:
    """This process's identity as a lease holder: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SlotExecutor(BaseExecutor):
    """An APScheduler executor that calls ``run(job_id, scheduled_time)`` in a thread pool."""

    def __init__(self, run: Callable[[str, datetime], None], workers: int) -> None:
        super().__init__()
        self._run = run
        self._pool = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix="expertdraw-job"
        )

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        future = self._pool.submit(self._run_all, job.id, job._jobstore_alias, list(run_times))
        future.add_done_callback(lambda done: self._finished(job.id, done))

    def _run_all(self, job_id: str, alias: str, run_times: list[datetime]) -> list[Any]:
        events: list[Any] = []
        for run_time in run_times:
            try:
                self._run(job_id, run_time)
            except Exception as exc:
                log.exception(event("job.error", job=job_id, slot=run_time))
                events.append(
                    JobExecutionEvent(EVENT_JOB_ERROR, job_id, alias, run_time, exception=exc)
                )
            else:
                events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job_id, alias, run_time))
        return events

    def _finished(self, job_id: str, future: concurrent.futures.Future[list[Any]]) -> None:
        exc = future.exception()
        if exc is not None:
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, future.result())

    def submit_recovery(self, run: Callable[[], None]) -> None:
        """Run ``run`` in the job pool (recovering an orphaned or failed slot)."""
        self._pool.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait)


class _RunningOnlyScheduler(BackgroundScheduler):
    """A BackgroundScheduler that processes due jobs only while running.

    APScheduler 3 processes jobs once more after ``shutdown()`` (a stopped state is not a
    paused one): due jobs then fail to reach the shut-down executor, yet their next run time
    is advanced in the shared store, so the slot would be lost to the next leader. Checking
    the state under the job store lock, which ``shutdown()`` also takes, closes that gap.
    """

    def _process_jobs(self) -> float | None:
        with self._jobstores_lock:
            if self.state != STATE_RUNNING:
                return None
            return super()._process_jobs()


class LeasedScheduler:
    """APScheduler that runs jobs only while this process holds the scheduler lease."""

    def __init__(self, app: Flask, specs: Sequence[JobSpec], settings: Settings) -> None:
        self.app = app
        self.specs = {spec.name: spec for spec in specs}
        self.settings = settings
        self.holder = new_holder_id()
        self._term: Term | None = None
        self._synced_epoch: int | None = None
        self._caught_up_epoch: int | None = None
        self._job_locks = {name: threading.Lock() for name in self.specs}
        #: Recoveries submitted and not yet done, so that a tick does not submit one again.
        self._recovering: set[tuple[str, datetime]] = set()
        #: Slots that fired here but could not be claimed (the lease lapsing as they fired, a
        #: passing database error): run at a later tick, as a recovery.
        self._missed: set[tuple[str, datetime]] = set()
        self._recovering_lock = threading.Lock()
        self._stopping = threading.Event()
        self._draining = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._executor = SlotExecutor(self._run_kept, settings.workers)
        with app.app_context():
            engine = db.engine
        self.apscheduler = _RunningOnlyScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=engine, tablename=settings.jobstore_table)
            },
            executors={"default": self._executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    @property
    def term(self) -> Term | None:
        """The lease term while this process leads, else None."""
        return self._term

    @property
    def is_leader(self) -> bool:
        """True while this process holds the scheduler lease."""
        return self._term is not None

    def start(self) -> None:
        """Start the paused scheduler and the lease thread (which resumes it when leading)."""
        self.apscheduler.start(paused=True)
        self._thread = threading.Thread(
            target=self._lease_loop, name="expertdraw-scheduler-lease", daemon=True
        )
        self._thread.start()
        log.info(event("scheduler.started", holder=self.holder, jobs=len(self.specs)))

    def stop(self) -> None:
        """Stop: no new runs, wait for running ones (still renewing), then release the lease."""
        if self._stopped:
            return
        self._stopped = True
        self._draining = True
        if self.apscheduler.running:
            self.apscheduler.pause()
            self.apscheduler.shutdown(wait=True)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        term, self._term = self._term, None
        if term is not None:
            with self.app.app_context():
                try:
                    leases.release(term)
                except SQLAlchemyError as exc:
                    log.warning(event("lease.release_failed", error=type(exc).__name__))
            log.info(event("leader.released", holder=self.holder, epoch=term.epoch))
        log.info(event("scheduler.stopped", holder=self.holder))

    def _lease_loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception(event("scheduler.tick_failed", holder=self.holder))
            if self._stopping.wait(self.settings.renew_seconds):
                return

    def tick(self) -> None:
        """Take or renew the lease; lead, follow or step down; then recover unfinished runs."""
        if self._draining and self._term is None:
            return
        with self.app.app_context():
            try:
                term = leases.acquire(
                    self.settings.lease_name, self.holder, self.settings.lease_seconds
                )
            except SQLAlchemyError as exc:
                log.warning(
                    event("lease.unavailable", holder=self.holder, error=type(exc).__name__)
                )
                term = None
            if term is None:
                self._step_down()
                return
            if self._term is None or self._term.epoch != term.epoch:
                log.info(event("leader.acquired", holder=self.holder, epoch=term.epoch))
            self._term = term
            if self._draining:
                return
            if self._synced_epoch != term.epoch:
                self._sync_jobs()
                self._synced_epoch = term.epoch
                self.apscheduler.resume()
            if self._caught_up_epoch != term.epoch:
                self._catch_up()  # a database error: tried again at the next tick
                self._caught_up_epoch = term.epoch
            self._recover(term)

    def _step_down(self) -> None:
        if self._term is None:
            return
        epoch, self._term, self._synced_epoch = self._term.epoch, None, None
        if self.apscheduler.running and not self._draining:
            self.apscheduler.pause()
        log.warning(event("leader.lost", holder=self.holder, epoch=epoch))

    def _sync_jobs(self) -> None:
        """Write the job definitions to the store; unchanged jobs keep their next run time."""
        stored = {job.id: job for job in self.apscheduler.get_jobs()}
        for name, spec in self.specs.items():
            job = stored.pop(name, None)
            if job is not None and _same(job, spec):
                continue
            self.apscheduler.add_job(
                STORED_FUNC, spec.trigger, args=[name], id=name, name=name, replace_existing=True
            )
        for name in stored:
            self.apscheduler.remove_job(name)
            log.info(event("job.removed", job=name))

    def _run_kept(self, name: str, slot: datetime, *, wait: bool = True) -> str:
        """:meth:`run_slot`, keeping a slot that could not be claimed (not leading, a passing
        database error) for a later tick: APScheduler has moved a fired job's next run time
        on already, and a recovered slot has no run row to be found by again."""
        try:
            outcome = self.run_slot(name, slot, wait=wait)
        except SQLAlchemyError:
            self._keep(name, slot)
            raise
        if outcome == "not-leader":
            self._keep(name, slot)
        return outcome

    def _keep(self, name: str, slot: datetime) -> None:
        with self._recovering_lock:
            self._missed.add((name, slot))
        log.warning(event("job.missed", job=name, slot=slot))

    def _catch_up(self) -> None:
        """On taking the lease: each job's latest slot that no run row records (it fired in
        a holder whose lease lapsed as it fired, or while none held it) is kept, to run as a
        recovery; every job is idempotent, so a slot run late is run once all the same."""
        now = datetime.now(UTC)
        for name, spec in self.specs.items():
            slot = latest_slot(spec.trigger, now)
            if slot is not None and not scheduling.has_run(name, slot):
                with self._recovering_lock:
                    self._missed.add((name, slot))

    def _recover(self, term: Term) -> None:
        abandoned = scheduling.abandon_exhausted(term, self.settings.policy)
        if abandoned:
            log.error(event("job.abandoned", runs=abandoned))
        recoverable = scheduling.recoverable(term, self.settings.policy)
        # Taken only once the query above has answered: a database error there keeps them.
        with self._recovering_lock:
            missed, self._missed = sorted(self._missed, key=lambda item: item[1]), set()
        due = [*recoverable, *missed]
        for name, slot in due:
            if name not in self.specs:
                continue
            with self._recovering_lock:
                if (name, slot) in self._recovering:
                    continue  # submitted at an earlier tick, not done yet
                self._recovering.add((name, slot))
            log.info(event("job.recovering", job=name, slot=slot))
            self._executor.submit_recovery(lambda n=name, s=slot: self._recover_slot(n, s))

    def _recover_slot(self, name: str, slot: datetime) -> None:
        """Run a recovered slot unless a run of its job is under way: then it is left for a
        later tick, never waited for, so that one long job cannot hold every thread of the
        pool and stop the other jobs (timeouts, checkpoints, lists opening)."""
        try:
            self._run_kept(name, slot, wait=False)
        except Exception:
            log.exception(event("job.error", job=name, slot=slot))
        finally:
            with self._recovering_lock:
                self._recovering.discard((name, slot))

    def run_slot(self, name: str, slot: datetime, *, wait: bool = True) -> str:
        """Run job ``name`` for ``slot`` (once, fenced by the lease); returns the outcome.
        Without ``wait``, a run of the same job under way makes it return ``"busy"``."""
        spec = self.specs.get(name)
        if spec is None:
            log.error(event("job.unknown", job=name, slot=slot))
            return "unknown"
        lock = self._job_locks[name]
        if not lock.acquire(blocking=wait):
            return "busy"
        try:
            with self.app.app_context():
                return scheduling.execute(self._term, name, slot, spec.target, self.settings.policy)
        finally:
            lock.release()


#: How far back :func:`latest_slot` looks, nearest first: a slot fires at least monthly.
_LOOK_BACK = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=40))


def latest_slot(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` that ``trigger`` fires (within 40 days)."""
    for back in _LOOK_BACK:
        fire = trigger.get_next_fire_time(None, now - back)
        if fire is None or fire > now:
            continue
        latest = fire
        while True:
            fire = trigger.get_next_fire_time(latest, latest + timedelta(microseconds=1))
            if fire is None or fire > now or fire <= latest:
                return latest
            latest = fire
    return None


def _same(job: Any, spec: JobSpec) -> bool:
    """True if a stored job already matches ``spec`` (so its next run time is kept)."""
    return (
        job.func_ref == STORED_FUNC
        and tuple(job.args) == (spec.name,)
        and repr(job.trigger) == repr(spec.trigger)
        and job.coalesce is True
        and job.max_instances == 1
        and job.misfire_grace_time is None
    )
