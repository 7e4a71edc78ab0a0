"""Progress of long operations (imports, bundle export): a service yields ``Step``s as it works.

A long service operation is written as a generator that yields a ``Step`` at each stage (and
now and then inside a long stage) and returns its result. Callers that only want the result
call :func:`run`; the pages stream the steps to the browser (``web.progress``) so the user sees
how far the work has come. The work and its transaction are the same either way: the generator
runs in the caller's thread, one step at a time, and stopping it early (a closed connection)
leaves nothing committed that the plain call would not have committed.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One report: the stage (a code such as ``check``), overall progress ``done`` of ``total``
    work units, and optionally how many items of this stage are handled (``count`` of ``of``)."""

    stage: str
    done: int
    total: int
    count: int | None = None
    of: int | None = None

    @property
    def percent(self) -> int:
        """Overall progress in whole percent, 0 to 100."""
        if self.total <= 0:
            return 0
        return max(0, min(100, self.done * 100 // self.total))


Steps = Generator[Step, None, T]


def run(steps: Steps[T]) -> T:
    """Drive ``steps`` to the end, ignoring the reports, and return the operation's result."""
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value
