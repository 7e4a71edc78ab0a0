"""Scheduler jobs: one-line calls into services, run under an app context.

Each job is a name, a trigger and the dotted path of a service function; the scheduler calls
``function(now)`` with ``now`` from :mod:`expertdraw.clock`, under an app context, once per
slot (scheduled time), and records the run in ``job_runs``. The function is imported when the
job runs, so a missing one logs ``job.unavailable`` instead of breaking the app.

A job's service must be idempotent and catch up by itself: it does whatever is due at ``now``
(expire what is overdue, issue the report of every finished period that has none yet), because
a run may come late, after a crash, or be retried after a failure.

To add a job: add a ``JobSpec`` line to :func:`job_specs`, and write the service function
``def f(now: datetime) -> object`` that owns its transaction.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from flask.cli import with_appcontext

from .scheduler import JobSpec, LeasedScheduler, Settings

EXTENSION = "expertdraw.scheduler"
LOCAL_TIME = "Asia/Shanghai"
# Interval jobs fire at fixed multiples of their period from this instant, so every instance
# computes the same slots (a 5-minute job fires at :00, :05, ... whoever runs it).
ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)


def every(seconds: float, offset: float = 0) -> IntervalTrigger:
    """Fire every ``seconds``, on multiples of ``seconds`` since 2000-01-01T00:00Z, plus
    ``offset`` seconds."""
    return IntervalTrigger(
        seconds=seconds, start_date=ANCHOR + timedelta(seconds=offset), timezone=UTC
    )


def local_cron(zone: str = LOCAL_TIME, **fields: Any) -> CronTrigger:
    """Fire on a cron schedule in the trading centre's time zone (the settings file's
    ``reports.timezone``, default Asia/Shanghai), where its days begin."""
    return CronTrigger(timezone=zone, **fields)


def job_specs(config: Any) -> list[JobSpec]:
    """Every job of the application, plus ``SCHEDULER_EXTRA_JOBS`` (name, seconds, path).

    ``SCHEDULER_BUILTIN_JOBS = False`` leaves only the extra jobs (used by tests).
    """
    zone = config.get("REPORT_TIMEZONE") or LOCAL_TIME
    builtin = [
        JobSpec(
            "checkpoint",
            every(config["CHECKPOINT_INTERVAL_SECONDS"]),
            "expertdraw.services.ledger.checkpoint_if_due",
        ),
        JobSpec("notice-timeouts", every(60), "expertdraw.services.notices.expire_overdue"),
        JobSpec("notice-deliveries", every(30), "expertdraw.services.delivery.deliver_due"),
        JobSpec("stale-announcements", every(60), "expertdraw.services.draws.fail_stale"),
        # 15 s past each minute, when the beacon has published that minute's pulse.
        JobSpec(
            "beacon-pulses",
            every(60, offset=15),
            "expertdraw.services.beacon_pulses.complete_due",
        ),
        JobSpec("list-opening", every(60), "expertdraw.services.sealed.open_due"),
        JobSpec(
            "daily-report", local_cron(zone, hour=0, minute=10), "expertdraw.services.reports.daily"
        ),
        JobSpec(
            "weekly-report",
            local_cron(zone, day_of_week="mon", hour=0, minute=20),
            "expertdraw.services.reports.weekly",
        ),
        JobSpec(
            "monthly-report",
            local_cron(zone, day=1, hour=0, minute=30),
            "expertdraw.services.reports.monthly",
        ),
        JobSpec(
            "retention", local_cron(zone, hour=3, minute=0), "expertdraw.services.retention.purge"
        ),
        JobSpec(
            "job-runs-purge",
            local_cron(zone, hour=3, minute=30),
            "expertdraw.services.scheduling.purge_runs",
        ),
        JobSpec(
            "page-sessions-purge",
            local_cron(zone, hour=3, minute=40),
            "expertdraw.services.page_sessions.purge",
        ),
    ]
    extra = [
        JobSpec(name, every(seconds), target)
        for name, seconds, target in config.get("SCHEDULER_EXTRA_JOBS", ())
    ]
    specs = (builtin if config.get("SCHEDULER_BUILTIN_JOBS", True) else []) + extra
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate scheduler job names in {names}")
    return specs


def start(app: Flask) -> LeasedScheduler:
    """Start this process's leased scheduler for ``app`` (at most one per app)."""
    running = app.extensions.get(EXTENSION)
    if running is not None:
        return running
    scheduler = LeasedScheduler(app, job_specs(app.config), Settings.from_config(app.config))
    app.extensions[EXTENSION] = scheduler
    scheduler.start()
    atexit.register(scheduler.stop)
    return scheduler


def _loading_for_another_command() -> bool:
    """True when a ``flask`` command other than ``run`` is creating the app.

    ``flask run`` creates the app inside its own command; other commands (``init``, ``seed``,
    ``scheduler``...) create it while the command is being looked up.
    """
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.command.name != "run"


def init_app(app: Flask) -> None:
    """Start the scheduler in this process when ``SCHEDULER_ENABLED`` (``make run``).

    Tests never start it unless they set ``SCHEDULER_ENABLED``; ``flask`` commands other than
    ``run`` do not (``flask scheduler`` starts its own).
    """
    if app.config.get("SCHEDULER_ENABLED") and not _loading_for_another_command():
        start(app)


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the job scheduler in the foreground until SIGTERM or Ctrl-C.

    Run one per host or several: only the holder of the database lease runs jobs.
    """
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # A database without the schema would have the scheduler run for ever and do nothing
    # (each lease attempt fails): one read of the ledger's table stops it at once, naming
    # `init` (the command's one-line database errors).
    import sqlalchemy as sa

    from .extensions import db
    from .models import LedgerEntry

    db.session.execute(sa.select(LedgerEntry.seq).limit(1)).all()
    db.session.rollback()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = start(app)
    click.echo(f"scheduler running as {scheduler.holder}; SIGTERM or Ctrl-C stops it")
    while not stop.wait(1.0):
        pass
    scheduler.stop()
