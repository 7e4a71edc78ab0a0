"""Leadership and the job store: a new leader keeps unchanged jobs, so missed slots catch up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.schedulers.base import STATE_PAUSED

from expertdraw import jobs
from expertdraw.scheduler import LeasedScheduler, Settings

from . import scheduler_helpers as helpers

HOURLY = ("hourly", 3600, helpers.RECORD)


@pytest.fixture
def make(app: Any) -> Iterator[Any]:
    """Build leased schedulers for ``app`` (APScheduler started paused, no lease thread)."""
    made: list[LeasedScheduler] = []

    def build(*extra: tuple[str, float, str]) -> LeasedScheduler:
        config = {
            **app.config,
            "SCHEDULER_BUILTIN_JOBS": False,
            "SCHEDULER_EXTRA_JOBS": list(extra),
        }
        scheduler = LeasedScheduler(app, jobs.job_specs(config), Settings.from_config(config))
        scheduler.apscheduler.start(paused=True)
        made.append(scheduler)
        return scheduler

    helpers.create_effects_table()
    yield build
    for scheduler in made:
        scheduler.stop()


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def test_a_standby_scheduler_stays_paused_and_writes_no_jobs(make):
    leader, standby = make(HOURLY), make(HOURLY)
    leader.tick()
    standby.tick()
    assert leader.is_leader
    assert not standby.is_leader
    assert standby.apscheduler.state == STATE_PAUSED
    assert [job.id for job in leader.apscheduler.get_jobs()] == ["hourly"]


def test_a_new_leader_catches_up_a_slot_missed_while_no_scheduler_ran(make):
    first = make(HOURLY)
    first.tick()
    assert first.is_leader
    first.apscheduler.pause()
    # as if every scheduler had been down for the last two hours
    missed = _hour(datetime.now(UTC)) - timedelta(hours=2)
    first.apscheduler.modify_job("hourly", next_run_time=missed)
    first.stop()

    second = make(HOURLY)
    second.tick()
    assert second.is_leader
    [effect] = helpers.wait_for(helpers.effects, 10, "the catch-up run")
    ran_at = datetime.fromisoformat(effect["now"])
    # one run (coalesced) for the latest slot due, at once: not at the next hour
    assert effect["slot"] == helpers.slot_text(_hour(ran_at))
    assert effect["pid"] and len(helpers.job_runs()) == 1


def test_a_changed_job_replaces_the_stored_one(make):
    first = make(HOURLY)
    first.tick()
    stored = first.apscheduler.get_job("hourly")
    first.stop()

    second = make(("hourly", 1800, helpers.RECORD))
    second.tick()
    replaced = second.apscheduler.get_job("hourly")
    assert repr(replaced.trigger) != repr(stored.trigger)
    assert "0:30:00" in str(replaced.trigger)


def test_jobs_no_longer_defined_are_removed_from_the_store(make):
    first = make(HOURLY, ("gone", 60, helpers.RECORD))
    first.tick()
    first.stop()
    second = make(HOURLY)
    second.tick()
    assert [job.id for job in second.apscheduler.get_jobs()] == ["hourly"]


def test_a_slot_to_recover_waits_for_no_run_of_its_job(make, monkeypatch):
    """A failed slot is recovered at a lease tick. While a run of the same job is under way
    the recovery returns at once (a later tick tries again) instead of holding a pool thread
    on the job's lock, and a tick never submits a slot already submitted: one long job cannot
    fill the pool and stop the others (timeouts, checkpoints, lists opening)."""
    from expertdraw.services import scheduling

    scheduler = make(HOURLY)
    slot = _hour(datetime.now(UTC)) - timedelta(hours=1)
    monkeypatch.setattr(scheduling, "recoverable", lambda term, policy: [("hourly", slot)])
    submitted: list[Any] = []
    monkeypatch.setattr(scheduler._executor, "submit_recovery", submitted.append)
    scheduler.tick()
    scheduler.tick()
    assert len(submitted) == 1  # the second tick finds it submitted already
    lock = scheduler._job_locks["hourly"]
    with lock:  # a run of "hourly" is under way
        waited = threading.Thread(target=submitted[0])
        waited.start()
        waited.join(5)
        assert not waited.is_alive()  # it did not wait for the lock
        assert helpers.effects() == []
    assert scheduler.run_slot("hourly", slot, wait=False) == "done"  # free again: it runs
    scheduler.tick()
    assert len(submitted) == 2  # done with, a later tick may submit the slot again
