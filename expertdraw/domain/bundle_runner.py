"""Where the bundle audit's expensive, independent work runs: here, or in worker processes.

Chunks of entries.jsonl (:func:`~expertdraw.domain.bundle_scan.scan_chunk`) and batches of
checkpoint signatures (:func:`~expertdraw.domain.bundle_checkpoints.note_outcomes`) need no
state but a :class:`~expertdraw.domain.bundle_scan.ScanContext`, so a process pool runs them
on every CPU; results come back in order and only a few chunks ahead, which bounds memory.
"""

from __future__ import annotations

import bisect
import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path

from expertdraw.domain.bundle_checkpoints import Outcome, note_outcomes
from expertdraw.domain.bundle_scan import ChunkResult, ScanContext, scan_chunk
from expertdraw.domain.ledger_files import TrustList
from expertdraw.domain.notes import VerifierKey


def _chunks(path: Path, level: int) -> Iterator[tuple[int, bytes]]:
    """Runs of ``2**level`` lines (as one bytes object) with the index of their first line."""
    with path.open("rb") as f:
        start = 0
        while lines := list(islice(f, 1 << level)):
            yield start, b"".join(lines)
            start += 1 << level


_CONTEXT: ScanContext | None = None
_KEYS: list[VerifierKey] = []


def _init_worker(ctx: ScanContext) -> None:
    global _CONTEXT
    _CONTEXT = ctx
    _KEYS[:] = [VerifierKey(name, public) for name, public in ctx.known_keys]


def _scan_in_worker(start: int, data: bytes, sizes: frozenset[int]) -> ChunkResult:
    assert _CONTEXT is not None
    return scan_chunk(_CONTEXT, start, data, sizes)


def _outcomes_in_worker(notes: list[bytes]) -> list[Outcome]:
    return note_outcomes(_KEYS, notes)


class Runner:
    """Runs the expensive, independent work in this process or in a pool of ``workers``."""

    def __init__(self, ctx: ScanContext, trust: TrustList, workers: int) -> None:
        self.ctx, self.trust, self.workers = ctx, trust, workers
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_worker,
                initargs=(ctx,),
            )

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def outcomes(self, notes: list[bytes]) -> list[Outcome]:
        """Signature outcomes of checkpoint notes, in batches across the pool."""
        if self.pool is None or len(notes) < 64:
            return note_outcomes(self.trust.known_keys(), notes)
        step = max(64, len(notes) // (4 * self.workers))
        batches = [notes[i : i + step] for i in range(0, len(notes), step)]
        return [o for part in self.pool.map(_outcomes_in_worker, batches) for o in part]

    def chunks(self, path: Path, sizes: Sequence[int]) -> Iterator[ChunkResult]:
        """Chunk results in order; from the pool a few chunks ahead."""
        level, ordered = self.ctx.level, sorted(set(sizes))

        def within(start: int) -> frozenset[int]:
            lo = bisect.bisect_right(ordered, start)
            return frozenset(ordered[lo : bisect.bisect_right(ordered, start + (1 << level))])

        if self.pool is None:
            for start, data in _chunks(path, level):
                yield scan_chunk(self.ctx, start, data, within(start))
            return
        pending: deque[Future[ChunkResult]] = deque()
        for start, data in _chunks(path, level):
            pending.append(self.pool.submit(_scan_in_worker, start, data, within(start)))
            if len(pending) > 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
