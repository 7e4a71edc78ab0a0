"""The application's clock: ``now()`` is the current time as an aware UTC datetime.

Business time comes from here (jobs pass it to services as ``now``) so that tests can replace
it; production uses the system clock. Infrastructure timing (scheduler leases) does not use
it: a lease must expire in real time.

    with clock.frozen(datetime(2026, 12, 3, 1, 5, tzinfo=UTC)):
        ...                      # clock.now() returns that instant

    previous = clock.set_clock(lambda: some_time)   # ... and later set_clock(previous)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, aware, in UTC."""
    return datetime.now(UTC)


_lock = threading.Lock()
_clock: Clock = system_clock


def now() -> datetime:
    """The current time from the installed clock, as an aware UTC datetime.

    Raises ValueError if the installed clock returns a naive datetime.
    """
    value = _clock()
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the installed clock returned a naive datetime; clocks must be aware")
    return value.astimezone(UTC)


def set_clock(clock: Clock | None) -> Clock:
    """Install ``clock`` (``None`` restores the system clock); returns the previous one."""
    global _clock
    with _lock:
        previous = _clock
        _clock = clock or system_clock
    return previous


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Use ``clock`` inside the block, then restore the previous clock."""
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


@contextmanager
def frozen(at: datetime) -> Iterator[Clock]:
    """Stop the clock at ``at`` (aware) inside the block.

    Raises ValueError if ``at`` is naive.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("frozen() needs an aware datetime")
    fixed = at.astimezone(UTC)
    with using(lambda: fixed) as clock:
        yield clock
