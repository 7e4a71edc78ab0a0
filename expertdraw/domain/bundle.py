"""The full audit of an export bundle (ledger.md §5), in one streaming pass over entries.jsonl.

Order of work: keys.txt and checkpoints.txt are read first (they are small); then
entries.jsonl is read in chunks of ``2**level`` lines, checked (in worker processes when it
is large, see :mod:`~expertdraw.domain.bundle_runner`; all lines of a plainly valid chunk
at once, :mod:`~expertdraw.domain.bundle_fast`, else line by line,
:mod:`~expertdraw.domain.bundle_scan`), and merged in order:
``prev`` and times across chunk edges, the tree (whole chunks join the compact range as one
perfect subtree), each checkpoint's root, time and origin when the pass reaches its size,
and the entries that span the log (keys, draws; :mod:`~expertdraw.domain.bundle_events`).

Problems are listed in the order of the places they name: keys.txt and checkpoints.txt on
their own first, then by ``seq`` (a checkpoint's root and time right after its last entry),
then what only the end shows (entries missing under a checkpoint, keys.txt against the
log), so the first problem names the first bad place. The pass stops at the first line that does not
parse or does not hold the next ``seq``: nothing after it can be checked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertdraw.domain.bundle_checkpoints import ParsedCheckpoint, check_checkpoints
from expertdraw.domain.bundle_draws import DrawFiles
from expertdraw.domain.bundle_events import LogEvents
from expertdraw.domain.bundle_lines import decode_json
from expertdraw.domain.bundle_runner import Runner
from expertdraw.domain.bundle_scan import ChunkResult, Problem, ScanContext
from expertdraw.domain.ledger_files import TrustList, read_keys_txt
from expertdraw.domain.merkle import EMPTY_ROOT, fold
from expertdraw.domain.merkle_range import CompactRange
from expertdraw.domain.notes import VerifierKey

PARALLEL_FROM_BYTES = 16 << 20


@dataclass
class AuditReport:
    """Problems (first bad place first) and a summary of what was checked."""

    problems: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the audit found nothing wrong."""
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The problem naming the first bad place, if any."""
        return self.problems[0] if self.problems else None


def _peek_origin(path: Path) -> str | None:
    with path.open("rb") as f:
        line = f.readline()
    try:
        log = decode_json(line.decode("utf-8"))["entry"]["log"]
    except (ValueError, KeyError, TypeError):
        return None
    return log if isinstance(log, str) else None


class _Audit:
    """State of one audit while merging chunk results."""

    def __init__(
        self, trust: TrustList, parsed: list[ParsedCheckpoint], origin: str | None, files: DrawFiles
    ) -> None:
        self.by_size: dict[int, list[ParsedCheckpoint]] = {}
        for p in parsed:
            self.by_size.setdefault(p.checkpoint.size, []).append(p)
        covered = [p.checkpoint.size for p in parsed if p.signed]
        self.events = LogEvents(origin, trust.ranges, covered, files)
        self.origin = origin
        self.frontier = CompactRange()
        self.count = 0
        self.root = EMPTY_ROOT
        self.last_leaf: bytes | None = None
        self.last_time: str | None = None
        self.dropped = 0

    def merge(self, chunk: ChunkResult, level: int) -> list[tuple[tuple[int, int], Problem]]:
        """Take the next chunk's result; return its problems with their places for sorting."""
        found = [((p.seq or 0, 0), p) for p in chunk.problems]
        self.dropped += chunk.dropped
        if chunk.start and self.last_leaf is not None and chunk.first_prev is not None:
            if chunk.first_prev != self.last_leaf.hex().encode():
                message = f"prev does not match the leaf of seq {chunk.start - 1}"
                found.append(((chunk.start, 0), Problem("entry:prev", message, seq=chunk.start)))
            if isinstance(chunk.first_time, str) and chunk.first_time < (self.last_time or ""):
                message = f"time {chunk.first_time} is earlier than seq {chunk.start - 1}'s"
                found.append(((chunk.start, 0), Problem("entry:time", message, seq=chunk.start)))
        for seq, kind, body, when in chunk.events:
            self.events.on_event(seq, kind, body, when)
        found += [((p.seq or 0, 0), p) for p in self.events.problems]
        self.events.problems.clear()
        for size in sorted(chunk.partials):
            hashes, when = chunk.partials[size]
            root = fold(self.frontier.hashes + hashes)
            self.root = root
            for p in self.by_size.get(size, ()):
                found += [((size - 1, 1), x) for x in self._checkpoint(p, root, when)]
        if chunk.subtree is not None:
            self.frontier.push_subtree(level, chunk.subtree)
        self.count = chunk.start + chunk.count
        self.last_leaf = chunk.last_leaf or self.last_leaf
        self.last_time = chunk.last_time or self.last_time
        return found

    def _checkpoint(self, p: ParsedCheckpoint, root: bytes, when: str) -> Iterable[Problem]:
        cp, i = p.checkpoint, p.index
        if cp.root != root:
            yield Problem("checkpoint:root", f"root is not root({cp.size}) of the entries", None, i)
        if cp.time != when:
            yield Problem("checkpoint:time", f"time is not the time of seq {cp.size - 1}", None, i)
        if self.origin is not None and cp.origin != self.origin:
            yield Problem("checkpoint:origin", f"origin is not {self.origin!r}", None, i)


def _after_the_last_entry(
    audit: _Audit, parsed: list[ParsedCheckpoint], broken: bool
) -> list[Problem]:
    """Problems only the end of the pass shows: missing entries, keys.txt's ranges."""
    if broken:  # the pass stopped early: what follows was not checked, not found wrong
        return []
    n = audit.count
    if n == 0:
        return [Problem("bundle:empty", "entries.jsonl holds no entry", file="entries.jsonl")]
    found = [
        Problem(
            "checkpoint:beyond",
            f"size {p.checkpoint.size} but the bundle ends at seq {n - 1}: "
            f"entries {n}..{p.checkpoint.size - 1} are missing",
            checkpoint=p.index,
        )
        for p in parsed
        if p.checkpoint.size > n
    ]
    return found + audit.events.finish(n)


def _cosigned(trust: TrustList, parsed: list[ParsedCheckpoint]) -> dict[str, tuple[int, int]]:
    """For each cosigner the auditor named: how many checkpoints carry their verifying
    signature, and the largest size among them (0 when none)."""
    found: dict[str, tuple[int, int]] = {key.name: (0, 0) for key in trust.cosigners}
    for p in parsed:
        for name in p.cosigned:
            if name in found:
                n, size = found[name]
                found[name] = (n + 1, max(size, p.checkpoint.size))
    return found


def audit_bundle(
    path: str | os.PathLike[str],
    *,
    replay: bool = False,
    entry_signatures: bool = False,
    keys_file: str | os.PathLike[str] | None = None,
    cosigners: Sequence[VerifierKey] = (),
    beacon_certificates: bytes | None = None,
    workers: int | None = None,
    max_problems: int = 1000,
    level: int = 12,
) -> AuditReport:
    """Audit the bundle folder ``path``; never raises for a bad bundle.

    ``keys_file``: the auditor's own trust list (keys.txt format) instead of the bundle's;
    ``cosigners``: supervisors' keys whose checkpoint signature lines must then verify;
    ``workers``: processes for entries.jsonl (default: all CPUs for files over 16 MB).

    Raises:
        OSError: only if a file exists but cannot be read.
    """
    started = time.perf_counter()
    root = Path(path)
    report = AuditReport()
    entries = root / "entries.jsonl"
    for name in ("entries.jsonl", "checkpoints.txt", "keys.txt"):
        if not (root / name).is_file() and not (name == "keys.txt" and keys_file):
            report.problems.append(Problem("bundle:missing", f"{name} is missing", file=name))
    if not entries.is_file():
        return report
    keys_path = Path(keys_file) if keys_file else root / "keys.txt"
    keys_text = keys_path.read_bytes().decode("utf-8", "replace") if keys_path.is_file() else ""
    ranges, key_problems = read_keys_txt(keys_text)
    front = [Problem("keys:format", m, file=f"keys.txt line {n}") for n, m in key_problems]
    trust = TrustList(ranges, cosigners)
    cps_path = root / "checkpoints.txt"
    origin = _peek_origin(entries)
    ctx = ScanContext(
        origin,
        tuple((r.from_seq, r.to_seq, r.key.key_id, r.key.public_key) for r in trust.ranges),
        tuple((k.name, k.public_key) for k in trust.known_keys()),
        entry_signatures,
        level,
    )
    if workers is None:
        large = entries.stat().st_size > PARALLEL_FROM_BYTES
        workers = (os.cpu_count() or 1) if large else 1
    files = DrawFiles(root, replay, beacon_certificates)
    stream: list[tuple[tuple[int, int], Problem]] = []
    broken = False
    with Runner(ctx, trust, workers) as run:
        data = cps_path.read_bytes() if cps_path.is_file() else b""
        parsed, cp_problems = check_checkpoints(data, trust, checks=run.checks)
        front += cp_problems
        audit = _Audit(trust, parsed, origin, files)
        for chunk in run.chunks(entries, [p.checkpoint.size for p in parsed]):
            stream += audit.merge(chunk, level)
            if chunk.broken:
                broken = True
                break
    stream.sort(key=lambda item: item[0])
    after = _after_the_last_entry(audit, parsed, broken)
    cosigned = _cosigned(trust, parsed)
    for name, (count, _) in cosigned.items():
        if count == 0:
            # Deleting a supervisor's cosignatures must not leave their own check saying OK.
            after.append(
                Problem(
                    "checkpoint:cosigner",
                    f"no checkpoint carries a verifying signature of cosigner {name}",
                    file="checkpoints.txt",
                )
            )
    everything = front + [p for _, p in stream] + after
    report.problems += everything[: max(0, max_problems - len(report.problems))]
    sizes = [p.checkpoint.size for p in parsed if p.signed and p.checkpoint.size <= audit.count]
    report.summary = {
        "entries": audit.count,
        "root": audit.root.hex(),
        "checkpoints": len(parsed),
        "checkpoints_unchecked": sum(p.checkpoint.size > audit.count for p in parsed)
        if broken
        else 0,
        "uncovered_tail": audit.count - max(sizes, default=0),
        "keys": len(trust.ranges),
        "stopped_at_seq": audit.count if broken else None,
        "problems": len(everything) + audit.dropped,
        "entry_signatures": entry_signatures,
        "replay": replay,
        "replayed": files.replayed,
        "workers": workers,
        "seconds": round(time.perf_counter() - started, 3),
        "cosigned": {
            name: {"checkpoints": n, "latest_size": size} for name, (n, size) in cosigned.items()
        },
        **{f"draws_{k}": v for k, v in audit.events.counts.items()},
    }
    return report
