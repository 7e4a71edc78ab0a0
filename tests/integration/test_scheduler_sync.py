"""Leadership and the job store: a new leader keeps unchanged jobs, so missed slots catch up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.schedulers.base import STATE_PAUSED

from expertdraw import jobs
from expertdraw.scheduler import LeasedScheduler, Settings
from expertdraw.services import leases

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
    monkeypatch.setattr(scheduling, "has_run", lambda job, slot: True)  # nothing to catch up
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


def test_a_slot_fired_just_as_the_lease_changes_hands_is_run_by_the_next_leader(make, monkeypatch):
    """The holder's APScheduler takes the due slot (advancing the shared store's next run time
    to the next hour, or for the reports to the next day, week or month) while its lease has
    just lapsed (a stalled renewal); its run is refused as ``not-leader`` and records nothing.
    The next leader must still run that slot: the reports job would otherwise issue the
    day's / week's / month's report only at its next slot, a day, a week or a month late."""
    from expertdraw.services import scheduling

    real_has_run = scheduling.has_run
    monkeypatch.setattr(scheduling, "has_run", lambda job, slot: True)  # none to catch up yet
    first = make(HOURLY)
    first.tick()
    assert first.is_leader
    first.apscheduler.pause()
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first.apscheduler.modify_job("hourly", next_run_time=slot)
    # The lease lapses before the holder's next renewal (it still believes it leads).
    past = datetime.now(UTC) - timedelta(seconds=60)
    assert leases.acquire("scheduler", first.holder, 30, now=past) is not None
    first.apscheduler.resume()  # the slot fires in the old holder
    helpers.wait_for(
        lambda: first.apscheduler.get_job("hourly").next_run_time > datetime.now(UTC),
        10,
        "the old holder to take the slot",
    )
    time.sleep(1)  # its run finds it is no longer the leader
    first.apscheduler.pause()
    assert helpers.job_runs() == []

    monkeypatch.setattr(scheduling, "has_run", real_has_run)
    second = make(HOURLY)
    second.tick()
    assert second.is_leader
    time.sleep(3)
    second.tick()
    time.sleep(2)
    ran = [e["slot"] for e in helpers.effects()]
    assert ran == [helpers.slot_text(slot)], "the slot was lost in the handover"


def test_a_slot_whose_claim_hit_a_passing_database_error_is_recovered(make, monkeypatch):
    """One transient database error as a fired slot's run is claimed (a failover, a dropped
    connection at 00:10) leaves no job_runs row: the slot is kept and a later tick runs it,
    as it recovers a run that failed inside the service (the daily report would otherwise
    wait a day, the monthly one a month)."""
    from sqlalchemy.exc import OperationalError

    from expertdraw.services import scheduling

    monkeypatch.setattr(scheduling, "has_run", lambda job, slot: True)  # none to catch up
    scheduler = make(HOURLY)
    scheduler.tick()
    assert scheduler.is_leader
    scheduler.apscheduler.pause()  # the test drives the run itself
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    real_claim = scheduling.claim
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT INTO job_runs", {}, Exception("server closed"))
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(scheduling, "claim", flaky)
    with pytest.raises(OperationalError):  # SlotExecutor logs job.error and moves on
        scheduler._run_kept("hourly", slot)  # as APScheduler fires it
    for _ in range(3):  # the database is back; later lease ticks recover unfinished runs
        scheduler.tick()
        time.sleep(0.5)
    assert [e["slot"] for e in helpers.effects()] == [helpers.slot_text(slot)]


def test_a_database_error_in_the_catch_up_does_not_leave_the_leader_paused(make, monkeypatch):
    """The new leader's look for slots to catch up hits a passing database error: its
    scheduler runs all the same, and the catch-up is tried again at the next tick."""
    from apscheduler.schedulers.base import STATE_RUNNING
    from sqlalchemy.exc import OperationalError

    from expertdraw.services import scheduling

    real_has_run = scheduling.has_run
    calls = {"n": 0}

    def flaky(job: str, slot: datetime) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("SELECT job_runs", {}, Exception("server closed"))
        return real_has_run(job, slot)

    monkeypatch.setattr(scheduling, "has_run", flaky)
    scheduler = make(HOURLY)
    with pytest.raises(OperationalError):
        scheduler.tick()  # the lease loop logs scheduler.tick_failed and ticks again
    assert scheduler.is_leader
    for _ in range(2):
        scheduler.tick()
    assert scheduler.apscheduler.state == STATE_RUNNING
    assert calls["n"] == 2  # caught up at the next tick, once


def test_a_kept_slot_survives_a_database_error_in_the_next_ticks_recovery(make, monkeypatch):
    """A slot kept after its claim failed is not dropped by a tick whose recovery query
    fails too: a later tick runs it."""
    from sqlalchemy.exc import OperationalError

    from expertdraw.services import scheduling

    monkeypatch.setattr(scheduling, "has_run", lambda job, slot: True)  # none to catch up
    scheduler = make(HOURLY)
    scheduler.tick()
    assert scheduler.is_leader
    scheduler.apscheduler.pause()
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    real_claim, real_recoverable = scheduling.claim, scheduling.recoverable
    calls = {"claim": 0, "recoverable": 0}

    def flaky_claim(*args: Any, **kwargs: Any) -> Any:
        calls["claim"] += 1
        if calls["claim"] == 1:
            raise OperationalError("INSERT INTO job_runs", {}, Exception("server closed"))
        return real_claim(*args, **kwargs)

    def flaky_recoverable(*args: Any, **kwargs: Any) -> Any:
        calls["recoverable"] += 1
        if calls["recoverable"] == 1:
            raise OperationalError("SELECT job_runs", {}, Exception("server closed"))
        return real_recoverable(*args, **kwargs)

    monkeypatch.setattr(scheduling, "claim", flaky_claim)
    monkeypatch.setattr(scheduling, "recoverable", flaky_recoverable)
    with pytest.raises(OperationalError):
        scheduler._run_kept("hourly", slot)
    with pytest.raises(OperationalError):
        scheduler.tick()
    for _ in range(3):
        scheduler.tick()
        time.sleep(0.5)
    assert [e["slot"] for e in helpers.effects()] == [helpers.slot_text(slot)]
