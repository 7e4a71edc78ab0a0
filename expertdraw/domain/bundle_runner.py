"""Where the bundle audit's expensive, independent work runs: here, or in worker processes.

Chunks of entries.jsonl (:func:`~expertdraw.domain.bundle_fast.check_chunk`) and batches of
checkpoint notes (:func:`~expertdraw.domain.bundle_checkpoints.note_checks`) need no
state but a :class:`~expertdraw.domain.bundle_scan.ScanContext`, so a process pool runs them
on every CPU; results come back in order.

Workers read their chunks from the file themselves: the pool is sent only ``(seq, offset,
length)`` (all of them at once, from the pool's own feeding thread, so that the workers
never wait for this process on a busy machine), and sends back compact results (a subtree
hash, the compact ranges at checkpoint sizes, the few entries that span the log). The
offsets come from a search, not from reading the whole file here: the line that starts
chunk ``k`` holds ``seq`` ``k * 2**level`` when the file is valid, and a few small reads near
the expected place find it. What a search finds is never trusted: a chunk is taken only if
its bytes hold exactly ``2**level`` whole lines (or it is the last one, up to the end of the
file, and holds no more), or it stopped at a bad line among its first ``2**level``; by
induction from offset 0 every chunk then starts at the line its ``seq`` says. Otherwise (a
bad or tampered file) the rest of the file is read here line by line and sent to the pool,
as in the plain pass, from the start of the first chunk not taken.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from multiprocessing.pool import Pool
from pathlib import Path

from expertdraw.domain.bundle_checkpoints import Checked, note_checks
from expertdraw.domain.bundle_fast import check_chunk
from expertdraw.domain.bundle_scan import ChunkResult, ScanContext
from expertdraw.domain.ledger_files import TrustList
from expertdraw.domain.notes import VerifierKey

_WINDOW = 1 << 17  # bytes read at a time while looking for the line of a seq
_SEQ = re.compile(rb',"seq":([0-9]{1,16}),"time":"')

Span = tuple[int, int, int, bool]  # first seq, byte offset, byte length, runs to the end


def _chunks(path: Path, level: int, offset: int = 0, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """Runs of ``2**level`` lines (as one bytes object) with the index of their first line,
    from the line ``start`` at byte ``offset``."""
    with path.open("rb") as f:
        f.seek(offset)
        while lines := list(islice(f, 1 << level)):
            yield start, b"".join(lines)
            start += 1 << level


class _Finder:
    """Byte offsets of the lines that start chunks (see the module docstring), or None."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self.fd).st_size
        self.lines = self._count()
        self.average = self.size / self.lines if self.lines else 0.0

    def close(self) -> None:
        os.close(self.fd)

    @staticmethod
    def _seq(line: bytes) -> int | None:
        """The ``seq`` of an entry line, read from the end (a body may hold anything)."""
        found = list(_SEQ.finditer(line))
        return int(found[-1].group(1)) if found else None

    def _count(self) -> int:
        """Lines in the file according to its last line's ``seq`` (0 if it cannot be read)."""
        tail = self.read(max(0, self.size - _WINDOW), _WINDOW)
        body = tail[:-1] if tail.endswith(b"\n") else tail
        cut = body.rfind(b"\n")
        if cut < 0 and len(tail) < self.size:
            return 0
        seq = self._seq(body[cut + 1 :])
        return 0 if seq is None else seq + 1

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (fewer only at the end of the file)."""
        return _pread(self.fd, offset, length)

    def find(self, target: int, low: int, guess: int) -> int | None:
        """The offset of the line holding ``seq`` ``target``, a line after the one that
        starts at ``low``; None if the lines near ``guess`` do not say where it is."""
        where = guess
        for _ in range(8):
            begin = max(low, where - _WINDOW // 2)
            buf = self.read(begin, _WINDOW)
            first = 0 if begin == low else buf.find(b"\n") + 1
            end = buf.find(b"\n", first)
            if (first == 0 and begin != low) or end < 0:
                return None
            seq = self._seq(buf[first:end])
            if seq is None:
                return None
            if seq > target:
                if begin == low:
                    return None
                where = begin - int((seq - target + 2) * self.average)
                continue
            pos = first
            for _ in range(target - seq):
                pos = buf.find(b"\n", pos) + 1
                if pos == 0:
                    break
            else:
                end = buf.find(b"\n", pos)
                if end >= 0 and begin + pos > low:
                    return begin + pos if self._seq(buf[pos:end]) == target else None
                if end >= 0:
                    return None
            where = begin + first + int((target - seq) * self.average)
        return None

    def _lines_up_to(self, offset: int, most: int) -> int:
        """Lines from ``offset`` to the end of the file, counting no further than ``most + 1``."""
        count = 0
        while offset < self.size and count <= most:
            piece = self.read(offset, 1 << 20)
            count += piece.count(b"\n")
            offset += len(piece)
        return count + (offset >= self.size and self.read(self.size - 1, 1) != b"\n")

    def spans(self, level: int) -> Iterator[Span]:
        """``(seq, offset, length, last)`` of each chunk until the end, or until a chunk's
        end cannot be found (then the caller reads on from the last span's end)."""
        step, offset, start = 1 << level, 0, 0
        while offset < self.size and self.lines:
            if start + step >= self.lines:
                if self._lines_up_to(offset, step) <= step:
                    yield start, offset, self.size - offset, True
                return
            guess = offset + int(step * self.average)
            end = self.find(start + step, offset, guess)
            if end is None:
                return
            yield start, offset, end - offset, False
            start, offset = start + step, end


_CONTEXT: ScanContext | None = None
_KEYS: list[VerifierKey] = []
_FILES: dict[str, int] = {}


def _init_worker(ctx: ScanContext) -> None:
    global _CONTEXT
    _CONTEXT = ctx
    _KEYS[:] = [VerifierKey(name, public) for name, public in ctx.known_keys]


def _pread(fd: int, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` (fewer only at the end of the file)."""
    data = os.pread(fd, length, offset)
    while len(data) < length:  # a short read: finish it
        more = os.pread(fd, length - len(data), offset + len(data))
        if not more:
            break
        data += more
    return data


def _scan_span(ctx: ScanContext, fd: int, span: Span, sizes: frozenset[int]) -> ChunkResult:
    """Check the chunk ``span`` of the file ``fd``."""
    start, offset, length, _ = span
    return check_chunk(ctx, start, _pread(fd, offset, length), sizes)


def _span_in_worker(task: tuple[str, Span, frozenset[int]]) -> tuple[Span, ChunkResult]:
    path, span, sizes = task
    assert _CONTEXT is not None
    fd = _FILES.get(path)
    if fd is None:
        fd = _FILES[path] = os.open(path, os.O_RDONLY)
    return span, _scan_span(_CONTEXT, fd, span, sizes)


def _scan_in_worker(task: tuple[int, bytes, frozenset[int]]) -> ChunkResult:
    assert _CONTEXT is not None
    return check_chunk(_CONTEXT, *task)


def _checks_in_worker(notes: list[bytes]) -> list[Checked]:
    return note_checks(_KEYS, notes)


class Runner:
    """Runs the expensive, independent work in this process or in a pool of ``workers``.

    The pool is fed from its own thread, all tasks at once (they are small: a span of the
    file, or checkpoint notes), so the workers never wait for this process to hand out
    work when the machine is busy; results come back in order.
    """

    def __init__(self, ctx: ScanContext, trust: TrustList, workers: int) -> None:
        self.ctx, self.trust, self.workers = ctx, trust, workers
        self.pool: Pool | None = None
        if workers > 1:
            self.pool = self._start()

    def _start(self) -> Pool:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        return context.Pool(self.workers, initializer=_init_worker, initargs=(self.ctx,))

    def _stop(self) -> None:
        if self.pool is not None:
            self.pool.terminate()  # what is left is not needed (the pass is over)
            self.pool.join()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def checks(self, notes: list[bytes]) -> list[Checked]:
        """:func:`~expertdraw.domain.bundle_checkpoints.note_checks` of checkpoint notes
        (their signatures, the expensive part), in batches across the pool."""
        if self.pool is None or len(notes) < 64:
            return note_checks(self.trust.known_keys(), notes)
        step = max(64, len(notes) // (4 * self.workers))
        batches = [notes[i : i + step] for i in range(0, len(notes), step)]
        return [c for part in self.pool.map(_checks_in_worker, batches) for c in part]

    def chunks(self, path: Path, sizes: Sequence[int]) -> Iterator[ChunkResult]:
        """Chunk results in order."""
        level, ordered = self.ctx.level, sorted(set(sizes))
        step = 1 << level

        def within(start: int) -> frozenset[int]:
            lo = bisect.bisect_right(ordered, start)
            return frozenset(ordered[lo : bisect.bisect_right(ordered, start + step)])

        finder = _Finder(path)
        try:
            spans = list(finder.spans(level))
            resume = (0, 0)  # (seq, offset) where line-by-line reading takes over
            for span, result in self._run_spans(path, finder.fd, spans, within):
                start, offset, _, last = span
                # taken if it stopped at a bad line among its first 2**level, or checked
                # exactly 2**level lines, or the rest of the file and no more than that
                if result.broken:
                    taken = result.count < step
                else:
                    taken = result.count == step or (last and result.count < step)
                if not taken:
                    resume = (start, offset)  # the search was wrong: read from here
                    break
                yield result
                if result.broken:
                    return
                resume = (start + step, offset + span[2])
            else:
                if resume[1] >= finder.size:
                    return
        finally:
            finder.close()
        if self.pool is not None:  # drop the work still queued for the spans
            self._stop()
            self.pool = self._start()
        yield from self._run_data(path, level, resume, within)

    def _run_spans(
        self,
        path: Path,
        fd: int,
        spans: list[Span],
        within: Callable[[int], frozenset[int]],
    ) -> Iterator[tuple[Span, ChunkResult]]:
        if self.pool is None:
            for span in spans:
                yield span, _scan_span(self.ctx, fd, span, within(span[0]))
            return
        tasks = [(str(path), span, within(span[0])) for span in spans]
        yield from self.pool.imap(_span_in_worker, tasks)

    def _run_data(
        self,
        path: Path,
        level: int,
        resume: tuple[int, int],
        within: Callable[[int], frozenset[int]],
    ) -> Iterator[ChunkResult]:
        """The plain pass from line ``resume[0]`` at byte ``resume[1]``: lines are read
        here and sent to the pool."""
        chunks = _chunks(path, level, resume[1], resume[0])
        if self.pool is None:
            for start, data in chunks:
                yield check_chunk(self.ctx, start, data, within(start))
            return
        tasks = ((start, data, within(start)) for start, data in chunks)
        yield from self.pool.imap(_scan_in_worker, tasks)
