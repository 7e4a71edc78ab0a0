"""Checking one chunk of entries.jsonl (the per-line half of the bundle audit, ledger.md §5).

A chunk is ``2**level`` consecutive lines starting at a multiple of that size, so chunks can
be checked in parallel processes: each checks what it can alone (parsing, canonical bytes,
``seq``, shape, times, ``prev`` and keys inside the chunk, the leaf recomputed from the
object, optionally signatures) and returns what the sequential merge needs: the chunk's
perfect subtree hash, compact ranges at checkpoint sizes, its edges and the entries whose
meaning spans the log (keys, draws).
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any

from expertdraw.domain.bundle_lines import Line, parse_line
from expertdraw.domain.ledger import ENTRY_SIGNATURE_CONTEXT, ZERO_PREV
from expertdraw.domain.merkle_range import CompactRange
from expertdraw.domain.notes import NoteError, VerifierKey, b64decode_strict

EVENT_TYPES = frozenset(
    {"log.created", "key.rotated", "draw.announced", "draw.completed", "draw.failed"}
    | {"draw.replaced", "notice.sent", "notice.answered", "list.opened"}
    | {"inspection.announced", "inspection.drawn"}
)
_ZERO = ZERO_PREV.encode()
_sha256 = hashlib.sha256
_hexlify = binascii.hexlify


@dataclass(frozen=True)
class Problem:
    """One audit finding: a stable ``code``, a message, and the place it names."""

    code: str
    message: str
    seq: int | None = None
    checkpoint: int | None = None
    file: str | None = None

    @property
    def where(self) -> str:
        """``seq N``, ``checkpoint N`` or a file name."""
        if self.seq is not None:
            return f"seq {self.seq}"
        if self.checkpoint is not None:
            return f"checkpoint {self.checkpoint}"
        return self.file or "bundle"

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class ScanContext:
    """What every chunk needs to know: the origin, log keys by range, every known key."""

    origin: str | None
    key_ranges: tuple[tuple[int, int | None, bytes, bytes], ...]  # from, to, key id, pubkey
    known_keys: tuple[tuple[str, bytes], ...] = ()  # (name, pubkey), for checkpoints
    entry_signatures: bool = False
    level: int = 12
    max_problems: int = 50


@dataclass
class ChunkResult:
    """What the merge needs from a chunk (see the module docstring)."""

    start: int
    count: int = 0
    broken: bool = False
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    first_prev: bytes | None = None
    first_time: str | None = None
    last_leaf: bytes | None = None
    last_time: str | None = None
    subtree: bytes | None = None
    partials: dict[int, tuple[list[bytes], str]] = field(default_factory=dict)
    events: list[tuple[int, str, dict[str, Any], Any]] = field(default_factory=list)


_VERIFIERS: dict[bytes, VerifierKey] = {}


def _verifier(public_key: bytes) -> VerifierKey:
    found = _VERIFIERS.get(public_key)
    if found is None:
        found = _VERIFIERS[public_key] = VerifierKey("log", public_key)
    return found


def _signature(sig: Any) -> bytes | None:
    """The 64 signature bytes of a record's ``sig``, or None if it is not strict base64."""
    try:
        raw = b64decode_strict(sig.decode("ascii") if isinstance(sig, bytes) else sig)
    except (NoteError, TypeError, UnicodeDecodeError):
        return None
    return raw if len(raw) == 64 else None


class _Chunk:
    """Mutable state while scanning one chunk."""

    def __init__(self, ctx: ScanContext, start: int) -> None:
        self.ctx = ctx
        self.out = ChunkResult(start)
        self.tree = CompactRange()
        self.ranges = [
            (lo, hi, kid.hex().encode(), pub)
            for lo, hi, kid, pub in ctx.key_ranges
            if hi is None or hi >= start
        ]
        self.origin = ctx.origin
        self.current: tuple[int, int | None, bytes, bytes] = (1, 0, b"", b"")  # covers nothing
        self.prev_hex: bytes | None = None
        self.prev_time = ""  # earlier than any time
        self.quick = not ctx.entry_signatures
        self.last_leaf: bytes | None = None
        self.events = self.out.events
        self.push = self.tree.push

    def problem(self, code: str, message: str, seq: int) -> None:
        if len(self.out.problems) < self.ctx.max_problems:
            self.out.problems.append(Problem(code, message, seq=seq))
        else:
            self.out.dropped += 1

    def check(self, seq: int, line: bytes) -> bool:
        """Check one line; False if the chain breaks here (nothing after it can be checked)."""
        try:
            parsed = parse_line(line)
        except (UnicodeDecodeError, ValueError) as exc:
            self.problem("line:parse", f"line does not parse: {exc}", seq)
            return False
        got, log, when, kind, prev, body, data, key, stored, sig, problem = parsed
        if type(got) is not int or got != seq:
            self.problem("line:seq", f"line holds seq {got!r}, expected {seq}", seq)
            return False
        leaf = _sha256(b"\x00" + data).digest() if data is not None else bytes(32)
        hexed = _hexlify(leaf)
        lo, hi, kid, _ = self.current
        if (  # the usual case, checked in one go; anything else is looked at one by one
            problem is None
            and stored == hexed
            and prev == self.prev_hex
            and log == self.origin
            and when >= self.prev_time
            and key == kid
            and lo <= seq
            and (hi is None or seq <= hi)
            and type(sig) is bytes
            and self.quick
            and kind != "log.created"
        ):
            pass
        else:
            self._slow(seq, Line(*parsed), leaf, hexed)
        if kind in EVENT_TYPES and type(body) is dict:
            self.events.append((seq, kind, body, when))
        self.prev_hex = hexed
        if type(when) is str:
            self.prev_time = when
        self.push(leaf)
        self.last_leaf = leaf
        return True

    def _slow(self, seq: int, parsed: Line, leaf: bytes, hexed: bytes) -> None:
        if parsed.problem:
            self.problem("entry:shape", parsed.problem, seq)
        if parsed.leaf != hexed:
            self.problem("entry:leaf", "stored leaf is not H(0x00 || C(entry))", seq)
        self._links(seq, parsed)
        self._key(seq, parsed, leaf)

    def _links(self, seq: int, parsed: Line) -> None:
        out, when = self.out, parsed.time
        if self.prev_hex is None:
            out.first_prev, out.first_time = parsed.prev, when
            if seq == 0 and parsed.prev != _ZERO:
                self.problem("entry:prev", "prev of seq 0 must be 64 zeros", seq)
        else:
            if parsed.prev != self.prev_hex:
                self.problem("entry:prev", f"prev is not the leaf of seq {seq - 1}", seq)
            if isinstance(when, str) and when < self.prev_time:
                self.problem("entry:time", f"time {when} is earlier than seq {seq - 1}'s", seq)
        if self.origin is not None and parsed.log != self.origin:
            self.problem("entry:log", f"log {parsed.log!r} is not {self.origin!r}", seq)
        if (parsed.kind == "log.created") != (seq == 0):
            self.problem("entry:type", "seq 0, and only seq 0, is log.created", seq)

    def _key(self, seq: int, parsed: Line, leaf: bytes) -> None:
        found = next(
            (r for r in self.ranges if r[0] <= seq and (r[1] is None or seq <= r[1])), None
        )
        if found is not None:
            self.current = found
        else:
            if self.ctx.key_ranges:
                self.problem("entry:key", "keys.txt has no key valid at this seq", seq)
            return
        kid, pub = found[2], found[3]
        if parsed.key != kid:
            self.problem("entry:key", f"key {parsed.key!r} is not {kid.decode()}, valid here", seq)
        if self.ctx.entry_signatures or not isinstance(parsed.sig, bytes):
            raw = _signature(parsed.sig)
            if raw is None:
                self.problem("entry:signature", "sig is not base64 of 64 bytes", seq)
            elif self.ctx.entry_signatures and not _verifier(pub).verify(
                ENTRY_SIGNATURE_CONTEXT + leaf, raw
            ):
                self.problem("entry:signature", "signature does not verify", seq)


def scan_chunk(
    ctx: ScanContext, start: int, data: bytes, sizes: frozenset[int] = frozenset()
) -> ChunkResult:
    """Check the lines of ``data`` (at most ``2**ctx.level`` of them) as entries from ``start``;
    give the compact range at each checkpoint size in ``sizes``.

    Never raises for bad input: every finding is a :class:`Problem`. Stops at the first line
    that does not parse or does not hold the expected ``seq`` (``broken``).
    """
    state = _Chunk(ctx, start)
    out, tree = state.out, state.tree
    lines = data.split(b"\n")
    unterminated = lines.pop()  # empty unless the file's last line has no newline
    check = state.check
    for seq, line in enumerate(lines, start):
        if not check(seq, line):
            out.broken = True
            break
        if seq + 1 in sizes:
            out.partials[seq + 1] = (tree.hashes, state.prev_time or "")
    out.count = tree.size
    out.last_leaf = state.last_leaf
    if unterminated and not out.broken:
        seq = start + len(lines)
        state.problem("line:newline", "the last line does not end with a newline", seq)
        out.broken = True
    if out.count == 1 << ctx.level:
        out.subtree = tree.root()
    end = start + out.count
    if out.count and end not in out.partials:
        out.partials[end] = (tree.hashes, state.prev_time or "")
    out.last_time = state.prev_time or None
    return out
