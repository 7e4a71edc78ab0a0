"""Scheduler test helpers: test-only jobs with countable side effects, and scheduler processes.

The jobs write rows to ``sched_effects`` (a table the tests create): ``phase='effect'`` is the
job's one side effect, ``phase='started'`` marks that a run began (before a slow job sleeps).
Scheduler processes are real ``flask --app ... scheduler`` commands; their app comes from
:func:`make_app`, configured by JSON in ``EXPERTDRAW_TEST_APP_CONFIG``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from expertdraw import create_app
from expertdraw.extensions import db
from expertdraw.models.scheduling import JobRun
from expertdraw.services import scheduling

CONFIG_ENV = "EXPERTDRAW_TEST_APP_CONFIG"
REPO = Path(__file__).resolve().parents[2]
HELPERS = "tests.integration.scheduler_helpers"
RECORD = f"{HELPERS}.record"
SLOW_RECORD = f"{HELPERS}.slow_record"
FAILING = f"{HELPERS}.failing"
EFFECTS_DDL = (
    "CREATE TABLE sched_effects (job VARCHAR(64) NOT NULL, slot VARCHAR(40) NOT NULL, "
    "now VARCHAR(40) NOT NULL, pid INTEGER NOT NULL, attempt INTEGER NOT NULL, "
    "phase VARCHAR(16) NOT NULL)"
)


def make_app() -> Flask:
    """The app of a scheduler subprocess, configured from ``EXPERTDRAW_TEST_APP_CONFIG``."""
    return create_app(json.loads(os.environ[CONFIG_ENV]))


def slot_text(slot: datetime) -> str:
    """A slot as stored in ``sched_effects``."""
    return slot.astimezone(UTC).isoformat()


def _insert(phase: str, now: datetime) -> None:
    run = scheduling.current_run()
    assert run is not None, "test jobs run only through the scheduler"
    db.session.execute(
        sa.text(
            "INSERT INTO sched_effects (job, slot, now, pid, attempt, phase) "
            "VALUES (:job, :slot, :now, :pid, :attempt, :phase)"
        ),
        {
            "job": run.job,
            "slot": slot_text(run.slot),
            "now": now.isoformat(),
            "pid": os.getpid(),
            "attempt": run.attempt,
            "phase": phase,
        },
    )
    db.session.commit()


def record(now: datetime) -> None:
    """A test job: one side-effect row per run."""
    _insert("effect", now)


def slow_record(now: datetime) -> None:
    """A test job that marks its start, sleeps ``TEST_JOB_SLEEP`` seconds, then records."""
    _insert("started", now)
    time.sleep(float(current_app.config.get("TEST_JOB_SLEEP", 0)))
    _insert("effect", now)


def failing(now: datetime) -> None:
    """A test job that records its attempt, then fails with personal data in the message."""
    _insert("started", now)
    phone = "+86 138" + "0013" + "8000"
    raise RuntimeError(f"could not notify {phone}")


def create_effects_table() -> None:
    """Create ``sched_effects`` in the current app's database."""
    with db.engine.begin() as conn:
        conn.execute(sa.text(EFFECTS_DDL))


def effects(phase: str = "effect") -> list[dict[str, Any]]:
    """Rows of ``sched_effects`` with ``phase``."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM sched_effects WHERE phase = :p ORDER BY slot"), {"p": phase}
        ).mappings()
        return [dict(row) for row in rows]


def job_runs() -> list[dict[str, Any]]:
    """Every row of ``job_runs``."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(JobRun.__table__).order_by(JobRun.slot)).mappings()
        return [dict(row) for row in rows]


class SchedulerProcess:
    """A ``flask scheduler`` subprocess with its own app on the test database."""

    def __init__(self, config: dict[str, Any], log_path: Path) -> None:
        env = dict(os.environ, **{CONFIG_ENV: json.dumps(config)})
        env.pop("EXPERTDRAW_SCHEDULER", None)
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", f"{HELPERS}:make_app", "scheduler"],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up at all."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self._log.close()

    def output(self) -> str:
        """Everything the process logged so far."""
        return self.log_path.read_text(errors="replace")


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    watch: Sequence[SchedulerProcess] = (),
    step: float = 0.1,
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.

    A process in ``watch`` that exits meanwhile fails the wait at once; failures show the
    output of every watched process.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        exited = [p for p in watch if p.proc.poll() is not None]
        if exited or time.monotonic() > deadline:
            reason = f"pid {exited[0].pid} exited" if exited else f"timed out after {timeout} s"
            logs = "".join(f"\n--- pid {p.pid}\n{p.output()}" for p in watch)
            raise AssertionError(f"{reason} waiting for {what}{logs}")
        time.sleep(step)
