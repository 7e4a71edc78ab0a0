"""Real scheduler processes (``flask scheduler``) sharing one database.

Each test starts separate OS processes, each building its own app against the test database
(SQLite file or PostgreSQL), and counts the side effects of a test-only job: every slot runs
once, across leader changes, a split lease and a crash in the middle of a run.
"""

from __future__ import annotations

import base64
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from expertdraw.services import leases

from . import scheduler_helpers as helpers

LEASE_SECONDS = 3
RENEW_SECONDS = 0.5
STARTUP = 60  # seconds a process may take to start and lead (slow CI machines)

pytestmark = pytest.mark.slow

Spawn = Callable[..., helpers.SchedulerProcess]


@pytest.fixture
def spawn(app: Any, app_config: dict[str, Any], tmp_path: Path) -> Iterator[Spawn]:
    """Start scheduler processes on the test database; all are killed after the test."""
    started: list[helpers.SchedulerProcess] = []
    data_key = base64.b64encode(os.urandom(32)).decode()

    def start(
        label: str, job: tuple[str, float, str], **overrides: Any
    ) -> helpers.SchedulerProcess:
        instance = tmp_path / f"instance-{label}"
        config = {
            **app_config,
            "INSTANCE_PATH": str(instance),
            "DATA_KEY": data_key,
            "SCHEDULER_BUILTIN_JOBS": False,
            "SCHEDULER_EXTRA_JOBS": [list(job)],
            "SCHEDULER_LEASE_SECONDS": LEASE_SECONDS,
            "SCHEDULER_RENEW_SECONDS": RENEW_SECONDS,
            "SCHEDULER_RETRY_SECONDS": 1,
            **overrides,
        }
        process = helpers.SchedulerProcess(config, tmp_path / f"scheduler-{label}.log")
        started.append(process)
        return process

    helpers.create_effects_table()
    yield start
    for process in started:
        process.kill()


def _leader_pid(lease: str = "scheduler") -> int | None:
    state = leases.state(lease)
    if state is None or state.holder is None or state.expires_at <= _db_now():
        return None
    return int(state.holder.split(":")[1])


def _db_now() -> Any:
    from expertdraw.extensions import db

    with db.engine.connect() as conn:
        return leases.database_now(conn)


def _assert_each_slot_ran_once(job: str) -> list[dict[str, Any]]:
    effects = [row for row in helpers.effects() if row["job"] == job]
    doubled = {slot: n for slot, n in Counter(r["slot"] for r in effects).items() if n > 1}
    assert doubled == {}, f"slots run more than once: {doubled}"
    runs = [row for row in helpers.job_runs() if row["job"] == job]
    assert [r for r in runs if r["status"] != "done"] == []
    assert sorted(helpers.slot_text(r["slot"]) for r in runs) == sorted(r["slot"] for r in effects)
    return effects


def _output(*processes: helpers.SchedulerProcess) -> str:
    return "\n".join(f"--- pid {p.pid}\n{p.output()}" for p in processes)


def test_two_scheduler_processes_run_each_slot_exactly_once(spawn):
    job = ("tick", 1, helpers.RECORD)
    first, second = spawn("first", job), spawn("second", job)
    both = (first, second)
    helpers.wait_for(lambda: len(helpers.effects()) >= 3, STARTUP, "three runs", both)
    leader = first if _leader_pid() == first.pid else second
    follower = second if leader is first else first
    assert _leader_pid() == leader.pid
    assert {row["pid"] for row in helpers.effects()} == {leader.pid}  # the follower ran nothing

    assert leader.terminate() == 0  # SIGTERM: finishes its run and releases the lease
    assert _leader_pid() != leader.pid
    helpers.wait_for(lambda: _leader_pid() == follower.pid, 10, "the follower to lead", [follower])
    ran = len(helpers.effects())
    helpers.wait_for(
        lambda: len(helpers.effects()) >= ran + 3, 10, "runs by the new leader", [follower]
    )
    assert follower.terminate() == 0

    effects = _assert_each_slot_ran_once("tick")
    assert {row["pid"] for row in effects} == {leader.pid, follower.pid}, _output(first, second)
    assert leases.state("scheduler").holder is None


def test_even_with_a_split_lease_each_slot_runs_once(spawn):
    # Misconfigured on purpose: each process has its own lease and job store, so both lead at
    # once and fire at the same instants; the (job, slot) key still lets one of them run each.
    job = ("tick", 1, helpers.RECORD)
    first = spawn("first", job, SCHEDULER_LEASE_NAME="lease-a")
    second = spawn("second", job, SCHEDULER_LEASE_NAME="lease-b", SCHEDULER_JOBSTORE_TABLE="jobs_b")
    helpers.wait_for(
        lambda: _leader_pid("lease-a") == first.pid and _leader_pid("lease-b") == second.pid,
        STARTUP,
        "both processes to lead",
        [first, second],
    )
    ran = len(helpers.effects())
    helpers.wait_for(
        lambda: len(helpers.effects()) >= ran + 4, 15, "runs while both lead", [first, second]
    )
    assert first.terminate() == 0
    assert second.terminate() == 0
    _assert_each_slot_ran_once("tick")
    assert "reason=claimed" in _output(first, second)  # they did race for slots


def test_a_run_killed_mid_job_is_completed_once_after_restart(spawn):
    job = ("slow", 2, helpers.SLOW_RECORD)
    crashed = spawn("crashed", job, TEST_JOB_SLEEP=120)
    [started] = helpers.wait_for(
        lambda: helpers.effects("started"), STARTUP, "the job to start", [crashed]
    )
    assert started["pid"] == crashed.pid
    crashed.kill()  # SIGKILL in the middle of the run: no effect, row left 'running'
    [orphan] = helpers.job_runs()
    assert orphan["status"] == "running"
    assert helpers.effects() == []

    restarted = spawn("restarted", job, TEST_JOB_SLEEP=0)

    def slot_done() -> bool:
        return any(
            helpers.slot_text(r["slot"]) == started["slot"] and r["status"] == "done"
            for r in helpers.job_runs()
        )

    helpers.wait_for(slot_done, STARTUP, "the orphaned slot to complete", [restarted])
    helpers.wait_for(lambda: len(helpers.effects()) >= 2, 10, "a later slot to run", [restarted])
    assert restarted.terminate() == 0

    effects = _assert_each_slot_ran_once("slow")
    [completed] = [row for row in effects if row["slot"] == started["slot"]]
    assert (completed["pid"], completed["attempt"]) == (restarted.pid, 2)
    [run] = [r for r in helpers.job_runs() if helpers.slot_text(r["slot"]) == started["slot"]]
    assert run["attempts"] == 2
    assert run["epoch"] > orphan["epoch"]


def test_a_second_process_leads_only_after_the_first_lease_expires(spawn):
    job = ("tick", 1, helpers.RECORD)
    first = spawn("first", job)
    helpers.wait_for(lambda: _leader_pid() == first.pid, STARTUP, "first to lead", [first])
    second = spawn("second", job)
    helpers.wait_for(
        lambda: "scheduler.started" in second.output(), STARTUP, "second to start", [second]
    )
    time.sleep(LEASE_SECONDS + 1)
    assert _leader_pid() == first.pid  # a valid lease is never taken over
    before = leases.state("scheduler")

    first.kill()  # a crash: the lease is not released, it must expire
    held_until = leases.state("scheduler").expires_at
    helpers.wait_for(
        lambda: _leader_pid() == second.pid, LEASE_SECONDS + 10, "second to lead", [second]
    )
    after = leases.state("scheduler")
    assert after.acquired_at >= held_until
    assert after.epoch == before.epoch + 1

    assert second.terminate() == 0
    assert leases.state("scheduler").holder is None  # released on SIGTERM
    _assert_each_slot_ran_once("tick")
