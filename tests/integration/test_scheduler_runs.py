"""Job runs: once per slot under races, fenced by the lease, finished after a crash, retried."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from expertdraw import clock, create_app, jobs
from expertdraw.services import leases, scheduling

from . import scheduler_helpers as helpers

T0 = datetime(2026, 12, 3, 1, 5, tzinfo=UTC)
SLOT = datetime(2026, 12, 3, 1, 5, tzinfo=UTC)
POLICY = scheduling.RetryPolicy(max_attempts=3, retry_after=timedelta(0))


@pytest.fixture
def effects_table(app):
    helpers.create_effects_table()


def _lead(holder: str = "a") -> leases.Term:
    term = leases.acquire("scheduler", holder, 30)
    assert term is not None
    return term


def _lapse(holder: str) -> None:
    """Make ``holder``'s lease lapse, as if its process had died 60 s ago."""
    past = datetime.now(UTC) - timedelta(seconds=60)
    assert leases.acquire("scheduler", holder, 30, now=past) is not None


def test_a_slot_runs_once_however_many_instances_race(app, effects_table):
    term = _lead()
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def run() -> None:
        with app.app_context():
            barrier.wait()
            outcomes.append(scheduling.execute(term, "t", SLOT, helpers.RECORD, POLICY))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["done"] + ["skipped"] * 5
    assert len(helpers.effects()) == 1
    [row] = helpers.job_runs()
    assert (row["job"], row["status"], row["attempts"]) == ("t", "done", 1)


def test_a_job_gets_now_from_the_clock_and_is_recorded_for_its_slot(app, effects_table):
    term = _lead()
    with clock.frozen(T0 + timedelta(seconds=7)):
        assert scheduling.execute(term, "t", SLOT, helpers.RECORD, POLICY) == "done"
    [effect] = helpers.effects()
    assert effect["now"] == "2026-12-03T01:05:07+00:00"
    assert effect["slot"] == helpers.slot_text(SLOT)


def test_a_done_slot_is_not_run_again(app, effects_table):
    term = _lead()
    assert scheduling.execute(term, "t", SLOT, helpers.RECORD, POLICY) == "done"
    assert scheduling.execute(term, "t", SLOT, helpers.RECORD, POLICY) == "skipped"
    assert scheduling.execute(term, "t", SLOT + timedelta(minutes=1), helpers.RECORD, POLICY) == (
        "done"
    )
    assert len(helpers.effects()) == 2


def test_an_instance_without_the_lease_runs_nothing(app, effects_table):
    stale = _lead("a")
    _lapse("a")
    _lead("b")
    assert scheduling.execute(stale, "t", SLOT, helpers.RECORD, POLICY) == "not-leader"
    assert scheduling.execute(None, "t", SLOT, helpers.RECORD, POLICY) == "not-leader"
    assert helpers.job_runs() == []
    # the claim is fenced too, not only the check before it
    assert scheduling.claim(stale, "t", SLOT, POLICY) is None


def test_a_run_orphaned_by_a_crash_is_finished_once_by_the_next_leader(app, effects_table):
    first = _lead("a")
    orphan = scheduling.claim(first, "t", SLOT, POLICY)
    assert orphan is not None  # ... and process "a" dies here, mid-run
    _lapse("a")
    second = _lead("b")
    assert second.epoch > first.epoch
    assert scheduling.recoverable(second, POLICY) == [("t", SLOT)]
    assert scheduling.execute(second, "t", SLOT, helpers.RECORD, POLICY) == "done"
    [row] = helpers.job_runs()
    assert (row["status"], row["holder"], row["attempts"]) == ("done", "b", 2)
    assert len(helpers.effects()) == 1
    # had "a" only stalled, its late outcome cannot overwrite the run that replaced it
    assert not scheduling.complete(orphan)
    assert not scheduling.fail(orphan, "RuntimeError")
    assert scheduling.recoverable(second, POLICY) == []


def test_a_leader_does_not_take_over_its_own_running_slot(app, effects_table):
    term = _lead("a")
    assert scheduling.claim(term, "t", SLOT, POLICY) is not None
    assert scheduling.execute(term, "t", SLOT, helpers.RECORD, POLICY) == "skipped"
    assert scheduling.recoverable(term, POLICY) == []


def test_a_failed_run_is_recorded_without_its_message_and_retried_up_to_the_limit(
    app, effects_table, caplog
):
    term = _lead()
    policy = scheduling.RetryPolicy(max_attempts=2, retry_after=timedelta(0))
    with caplog.at_level(logging.ERROR, logger="expertdraw.scheduler"):
        assert scheduling.execute(term, "t", SLOT, helpers.FAILING, policy) == "failed"
    [row] = helpers.job_runs()
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 1, "RuntimeError")
    assert "job.failed job=t" in caplog.text
    assert "13800138000" not in caplog.text.replace(" ", "")  # the message is never logged
    assert scheduling.recoverable(term, policy) == [("t", SLOT)]
    assert scheduling.execute(term, "t", SLOT, helpers.FAILING, policy) == "failed"
    assert helpers.job_runs()[0]["attempts"] == 2
    assert scheduling.recoverable(term, policy) == []
    assert scheduling.execute(term, "t", SLOT, helpers.FAILING, policy) == "skipped"
    assert len(helpers.effects("started")) == 2


def test_a_failed_run_waits_before_it_is_retried(app, effects_table):
    term = _lead()
    policy = scheduling.RetryPolicy(max_attempts=3, retry_after=timedelta(hours=1))
    assert scheduling.execute(term, "t", SLOT, helpers.FAILING, policy) == "failed"
    assert scheduling.recoverable(term, policy) == []
    assert scheduling.execute(term, "t", SLOT, helpers.FAILING, policy) == "skipped"


def test_an_orphan_that_used_every_attempt_is_abandoned(app, effects_table):
    policy = scheduling.RetryPolicy(max_attempts=1, retry_after=timedelta(0))
    first = _lead("a")
    assert scheduling.claim(first, "t", SLOT, policy) is not None
    _lapse("a")
    second = _lead("b")
    assert scheduling.recoverable(second, policy) == []
    assert scheduling.abandon_exhausted(second, policy) == 1
    [row] = helpers.job_runs()
    assert (row["status"], row["error"]) == ("failed", "abandoned")


def test_finished_runs_are_purged_after_the_keep_period(app, effects_table):
    term = _lead()
    old, recent = SLOT - timedelta(days=91), SLOT - timedelta(days=89)
    for slot in (old, recent):
        assert scheduling.execute(term, "t", slot, helpers.RECORD, POLICY) == "done"
    assert scheduling.claim(term, "t", old - timedelta(days=1), POLICY) is not None  # running
    purge = "expertdraw.services.scheduling.purge_runs"
    with clock.frozen(SLOT):  # the job's now, not the slot, sets the cut-off
        assert scheduling.execute(term, "purge", SLOT, purge, POLICY) == "done"
    left = {(r["job"], r["slot"]) for r in helpers.job_runs()}
    assert left == {("t", recent), ("t", old - timedelta(days=1)), ("purge", SLOT)}


def test_a_missing_service_logs_a_clear_error_and_claims_nothing(app, caplog):
    term = _lead()
    target = "expertdraw.services.not_written_yet.run"
    with caplog.at_level(logging.ERROR, logger="expertdraw.scheduler"):
        assert scheduling.execute(term, "t", SLOT, target, POLICY) == "unavailable"
    assert f"job.unavailable job=t slot=2026-12-03T01:05:00Z target={target}" in caplog.text
    assert "ModuleNotFoundError" in caplog.text
    assert helpers.job_runs() == []


def test_the_registry_calls_services_by_dotted_path(app):
    specs = {spec.name: spec for spec in jobs.job_specs(app.config)}
    assert specs["checkpoint"].target == "expertdraw.services.ledger.checkpoint_if_due"
    assert specs["notice-timeouts"].target == "expertdraw.services.notices.expire_overdue"
    assert specs["notice-deliveries"].target == "expertdraw.services.delivery.deliver_due"
    assert specs["stale-announcements"].target == "expertdraw.services.draws.fail_stale"
    assert specs["list-opening"].target == "expertdraw.services.sealed.open_due"
    assert specs["daily-report"].target == "expertdraw.services.reports.daily"
    assert specs["weekly-report"].target == "expertdraw.services.reports.weekly"
    assert specs["monthly-report"].target == "expertdraw.services.reports.monthly"
    assert specs["retention"].target == "expertdraw.services.retention.purge"
    assert specs["job-runs-purge"].target == "expertdraw.services.scheduling.purge_runs"
    after = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    # interval jobs fire on multiples of their period, whichever instance computes them
    checkpoint = specs["checkpoint"].trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    assert checkpoint == after + timedelta(seconds=app.config["CHECKPOINT_INTERVAL_SECONDS"])
    daily = specs["daily-report"].trigger.get_next_fire_time(None, after)
    assert daily.astimezone(UTC) == datetime(2026, 12, 3, 16, 10, tzinfo=UTC)  # 00:10 +08:00
    weekly = specs["weekly-report"].trigger.get_next_fire_time(None, after)
    assert weekly.astimezone(UTC) == datetime(2026, 12, 6, 16, 20, tzinfo=UTC)  # Mon 00:20
    monthly = specs["monthly-report"].trigger.get_next_fire_time(None, after)
    assert monthly.astimezone(UTC) == datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 1st 00:30


def test_extra_jobs_come_from_config_and_names_are_unique(app):
    config = {**app.config, "SCHEDULER_EXTRA_JOBS": [("t", 2, helpers.RECORD)]}
    assert [s.name for s in jobs.job_specs({**config, "SCHEDULER_BUILTIN_JOBS": False})] == ["t"]
    with pytest.raises(ValueError, match="duplicate"):
        jobs.job_specs({**config, "SCHEDULER_EXTRA_JOBS": [("retention", 2, helpers.RECORD)]})


def test_the_clock_can_be_frozen_and_restored():
    with clock.frozen(T0):
        assert clock.now() == T0
    assert clock.now() != T0
    assert clock.now().tzinfo == UTC
    previous = clock.set_clock(lambda: datetime(2026, 12, 3, 9, 5))  # naive: refused
    try:
        with pytest.raises(ValueError, match="naive"):
            clock.now()
    finally:
        clock.set_clock(previous)
    with pytest.raises(ValueError, match="aware"), clock.frozen(datetime(2026, 12, 3)):
        pass


def test_the_in_process_scheduler_runs_jobs_with_the_fake_clock(app_config, effects_table):
    config = {
        **app_config,
        "SCHEDULER_ENABLED": True,
        "SCHEDULER_BUILTIN_JOBS": False,
        "SCHEDULER_EXTRA_JOBS": [("t", 1, helpers.RECORD)],
        "SCHEDULER_LEASE_SECONDS": 2,
        "SCHEDULER_RENEW_SECONDS": 0.5,
    }
    with clock.frozen(T0):
        application = create_app(config)
        scheduler = application.extensions[jobs.EXTENSION]
        try:
            effect = helpers.wait_for(helpers.effects, 10, "a run of the test job")[0]
            assert scheduler.is_leader
        finally:
            scheduler.stop()
    assert effect["now"] == T0.isoformat()  # business time from the clock ...
    slot = datetime.fromisoformat(effect["slot"])
    assert abs(datetime.now(UTC) - slot) < timedelta(seconds=30)  # ... the slot is real time
    assert slot.microsecond == 0
    state = leases.state("scheduler")
    assert state.holder is None  # stopping released the lease
    with application.app_context():
        from expertdraw.extensions import db

        db.engine.dispose()


def test_the_scheduler_does_not_start_in_tests_unless_asked(app):
    assert app.extensions.get(jobs.EXTENSION) is None
