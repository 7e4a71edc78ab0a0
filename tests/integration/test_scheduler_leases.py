"""The scheduler lease: one holder at a time, taken only after expiry or release, fenced."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from expertdraw.services import leases

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
LEASE = "scheduler"


def test_the_first_holder_takes_a_new_lease_with_epoch_one(app):
    term = leases.acquire(LEASE, "a", 30, now=T0)
    assert term is not None
    assert (term.holder, term.epoch, term.expires_at) == ("a", 1, T0 + timedelta(seconds=30))
    state = leases.state(LEASE)
    assert state is not None
    assert (state.holder, state.epoch, state.acquired_at) == ("a", 1, T0)


def test_a_second_holder_cannot_take_a_valid_lease(app):
    leases.acquire(LEASE, "a", 30, now=T0)
    assert leases.acquire(LEASE, "b", 30, now=T0 + timedelta(seconds=29)) is None
    assert leases.state(LEASE).holder == "a"


def test_renewal_keeps_the_epoch_and_extends_the_lease(app):
    leases.acquire(LEASE, "a", 30, now=T0)
    term = leases.acquire(LEASE, "a", 30, now=T0 + timedelta(seconds=10))
    assert term is not None
    assert term.epoch == 1
    assert term.expires_at == T0 + timedelta(seconds=40)
    assert leases.acquire(LEASE, "b", 30, now=T0 + timedelta(seconds=35)) is None


def test_a_second_holder_takes_the_lease_once_it_expired_with_a_new_epoch(app):
    leases.acquire(LEASE, "a", 30, now=T0)
    term = leases.acquire(LEASE, "b", 30, now=T0 + timedelta(seconds=31))
    assert term is not None
    assert (term.holder, term.epoch) == ("b", 2)
    # the old holder can no longer renew, and no longer holds it
    assert leases.acquire(LEASE, "a", 30, now=T0 + timedelta(seconds=32)) is None
    old = leases.Term(LEASE, "a", 1, T0 + timedelta(seconds=30))
    assert not leases.holds(old, now=T0 + timedelta(seconds=32))
    assert leases.holds(term, now=T0 + timedelta(seconds=32))


def test_a_released_lease_is_taken_at_once(app):
    term = leases.acquire(LEASE, "a", 30, now=T0)
    assert leases.release(term, now=T0 + timedelta(seconds=1))
    assert not leases.holds(term, now=T0 + timedelta(seconds=1))
    taken = leases.acquire(LEASE, "b", 30, now=T0 + timedelta(seconds=2))
    assert taken is not None
    assert taken.epoch == 2
    assert not leases.release(term)  # a stale term releases nothing


def test_retaking_a_lapsed_lease_starts_a_new_epoch(app):
    leases.acquire(LEASE, "a", 30, now=T0)
    term = leases.acquire(LEASE, "a", 30, now=T0 + timedelta(seconds=31))
    assert term is not None
    assert term.epoch == 2


def test_real_time_leases_expire_in_real_time(app):
    term = leases.acquire(LEASE, "a", 30)
    assert term is not None
    assert leases.holds(term)
    assert leases.acquire(LEASE, "b", 30) is None


def test_of_many_racing_instances_exactly_one_takes_the_lease(app):
    holders = [f"h{i}" for i in range(8)]
    results: dict[str, leases.Term | None] = {}
    barrier = threading.Barrier(len(holders))

    def contend(holder: str) -> None:
        with app.app_context():
            barrier.wait()
            results[holder] = leases.acquire(LEASE, holder, 30)

    threads = [threading.Thread(target=contend, args=(h,)) for h in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [h for h, term in results.items() if term is not None]
    assert len(winners) == 1
    assert leases.state(LEASE).holder == winners[0]
    assert results[winners[0]].epoch == 1
