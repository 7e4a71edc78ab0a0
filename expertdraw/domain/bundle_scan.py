"""Checking one chunk of entries.jsonl (the per-line half of the bundle audit, ledger.md §5).

A chunk is ``2**level`` consecutive lines starting at a multiple of that size, so chunks can
be checked in parallel processes: each checks what it can alone (parsing, canonical bytes,
``seq``, shape, times, ``prev`` and keys inside the chunk, the leaf recomputed from the
object, optionally signatures) and returns what the sequential merge needs: the chunk's
perfect subtree hash, compact ranges at checkpoint sizes, its edges and the entries whose
meaning spans the log (keys, draws).

Fast path: a canonical line is ``{"entry":`` + ``C(entry)`` + a fixed-width tail, so when
the entry text is plain ASCII without backslashes the line is canonical exactly when its
objects' keys are sorted and unique and there is no whitespace between tokens; this is
checked without re-encoding. Anything else takes the slow path, which re-encodes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from expertdraw.domain.canonical import MAX_SAFE_INTEGER, CanonicalError, canonical
from expertdraw.domain.ledger import ZERO_PREV, entry_problem
from expertdraw.domain.merkle import CompactRange
from expertdraw.domain.notes import VerifierKey

EVENT_TYPES = frozenset(
    {"log.created", "key.rotated", "draw.announced", "draw.completed", "draw.failed"}
    | {"draw.replaced"}
)
_ENTRY_ORDER = ("actor", "body", "log", "prev", "seq", "time", "type", "v")
_RECORD_KEYS = {"entry", "key", "leaf", "sig"}
_TAIL = re.compile(
    rb',"key":"([0-9a-f]{8})","leaf":"([0-9a-f]{64})","sig":"([A-Za-z0-9+/]{85}[AQgw]==)"\}'
)
_TAIL_SIZE = 189
_PREFIX = b'{"entry":'
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


def _no_float(text: str) -> Any:
    raise ValueError(f"floating-point number {text} is not allowed")


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not allowed")


def _safe_int(text: str) -> int:
    value = int(text)
    if text == "-0" or not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"integer {text} is outside ±(2^53-1) or not canonical")
    return value


_decoder = json.JSONDecoder(parse_float=_no_float, parse_int=_safe_int, parse_constant=_no_constant)
_raw_decode = _decoder.raw_decode
decode_json = _decoder.decode


def _sorted_key_count(value: dict[str, Any]) -> int:
    """Number of keys in all objects under ``value``, or -1 if some object is unsorted."""
    count = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            keys = list(item)
            if keys != sorted(keys):
                return -1
            count += len(keys)
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
    return count


@dataclass(frozen=True)
class ScanContext:
    """What every chunk needs to know: the origin, log keys by range, checkpoint sizes."""

    origin: str | None
    key_ranges: tuple[tuple[int, int | None, bytes, bytes], ...]  # from, to, key id, pubkey
    sizes: frozenset[int]
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
    first_prev: str | None = None
    first_time: str | None = None
    last_leaf: bytes | None = None
    last_time: str | None = None
    subtree: bytes | None = None
    partials: dict[int, tuple[list[bytes], str]] = field(default_factory=dict)
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


def _parse_fast(line: bytes) -> tuple[Any, bytes, tuple[bytes, bytes, bytes]] | None:
    """(entry, C(entry), (key, leaf, sig)) for a canonical plain-ASCII line, else None."""
    n = len(line)
    if n <= len(_PREFIX) + _TAIL_SIZE or not line.startswith(_PREFIX):
        return None
    tail = _TAIL.match(line, n - _TAIL_SIZE)
    if tail is None:
        return None
    data = line[len(_PREFIX) : n - _TAIL_SIZE]
    if not data.isascii() or b"\\" in data or b"\t" in data or b"\r" in data:
        return None
    if b" " in data and b" " in b"".join(data.split(b'"')[::2]):  # space between tokens
        return None
    text = data.decode("ascii")
    try:
        entry, end = _raw_decode(text)
    except ValueError:
        return None
    if end != len(text) or type(entry) is not dict or tuple(entry) != _ENTRY_ORDER:
        return None
    if _sorted_key_count(entry) != data.count(b'":'):
        return None
    return entry, data, tail.groups()


def _parse_slow(line: bytes) -> tuple[Any, bytes | None, tuple[Any, Any, Any], str | None]:
    """(entry, C(entry) or None, (key, leaf, sig), problem) for any line.

    Raises:
        ValueError: if the line is not a JSON object holding an ``entry`` object.
    """
    record = decode_json(line.decode("utf-8"))
    if type(record) is not dict or type(record.get("entry")) is not dict:
        raise ValueError("line is not a record with an entry object")
    problem = None
    if record.keys() != _RECORD_KEYS:
        problem = f"record members must be exactly {sorted(_RECORD_KEYS)}"
    try:
        data = canonical(record["entry"])
        if problem is None and canonical(record) != line:
            problem = "line is not exactly C(record)"
    except CanonicalError as exc:
        return record["entry"], None, (None, None, None), str(exc)
    return record["entry"], data, (record.get("key"), record.get("leaf"), record.get("sig")), problem


def _signature(sig: Any) -> bytes | None:
    if isinstance(sig, bytes):
        sig = sig.decode("ascii")
    if not isinstance(sig, str):
        return None
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 and base64.b64encode(raw).decode() == sig else None


def _as_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii")
    return value if isinstance(value, str) else None


class _Chunk:
    """Mutable state while scanning one chunk."""

    def __init__(self, ctx: ScanContext, start: int) -> None:
        self.ctx = ctx
        self.out = ChunkResult(start)
        self.tree = CompactRange()
        self.ranges = [r for r in ctx.key_ranges if r[1] is None or r[1] >= start]
        self.prev_hex: str | None = None
        self.prev_time: str | None = None

    def problem(self, code: str, message: str, seq: int) -> None:
        if len(self.out.problems) < self.ctx.max_problems:
            self.out.problems.append(Problem(code, message, seq=seq))
        else:
            self.out.dropped += 1

    def key_at(self, seq: int) -> tuple[int, int | None, bytes, bytes] | None:
        for r in self.ranges:
            if r[0] <= seq and (r[1] is None or seq <= r[1]):
                return r
        return None


def scan_chunk(ctx: ScanContext, start: int, data: bytes) -> ChunkResult:
    """Check the lines of ``data`` (at most ``2**ctx.level`` of them) as entries from ``start``.

    Never raises for bad input: every finding is a :class:`Problem`. Stops at the first line
    that does not parse or does not hold the expected ``seq`` (``broken``).
    """
    state = _Chunk(ctx, start)
    out, tree = state.out, state.tree
    lines = data.split(b"\n")
    last = lines.pop()
    if last:  # the file's last line has no newline
        lines.append(last)
    sizes = ctx.sizes
    for i, line in enumerate(lines):
        seq = start + i
        if i == len(lines) - 1 and last:
            state.problem("line:newline", "the last line does not end with a newline", seq)
            out.broken = True
            break
        if not _check_line(state, seq, line):
            out.broken = True
            break
        out.count += 1
        if seq + 1 in sizes:
            out.partials[seq + 1] = (tree.hashes, state.prev_time or "")
    if out.count == 1 << ctx.level and not out.broken:
        out.subtree = tree.root()
    end = start + out.count
    if out.count and end not in out.partials:
        out.partials[end] = (tree.hashes, state.prev_time or "")
    out.last_time = state.prev_time
    return out


def _check_line(state: _Chunk, seq: int, line: bytes) -> bool:
    """Check one line; False if the chain breaks here (nothing after it can be checked)."""
    fast = _parse_fast(line)
    problem = None
    if fast is not None:
        entry, data, (key, leaf_hex, sig) = fast
    else:
        try:
            entry, data, (key, leaf_hex, sig), problem = _parse_slow(line)
        except (UnicodeDecodeError, ValueError) as exc:
            state.problem("line:parse", f"line does not parse: {exc}", seq)
            return False
    got = entry.get("seq")
    if type(got) is not int or got != seq:
        state.problem("line:seq", f"line holds seq {got!r}, expected {seq}", seq)
        return False
    if problem:
        state.problem("line:canonical", problem, seq)
    shape = entry_problem(entry)
    if shape:
        state.problem("entry:shape", shape, seq)
    leaf = _sha256(b"\x00" + data).digest() if data is not None else bytes(32)
    _check_links(state, seq, entry, leaf, key, leaf_hex, sig)
    state.tree.push(leaf)
    return True


def _check_links(
    state: _Chunk, seq: int, entry: dict[str, Any], leaf: bytes, key: Any, leaf_hex: Any, sig: Any
) -> None:
    out, ctx = state.out, state.ctx
    hexed = _hexlify(leaf)
    if leaf_hex != hexed and _as_text(leaf_hex) != hexed.decode():
        state.problem("entry:leaf", "stored leaf is not H(0x00 || C(entry))", seq)
    prev, when = entry.get("prev"), entry.get("time")
    if state.prev_hex is None:
        out.first_prev, out.first_time = prev, when
        if seq == 0 and prev != ZERO_PREV:
            state.problem("entry:prev", "prev of seq 0 must be 64 zeros", seq)
    else:
        if prev != state.prev_hex:
            state.problem("entry:prev", f"prev does not match the leaf of seq {seq - 1}", seq)
        if isinstance(when, str) and isinstance(state.prev_time, str) and when < state.prev_time:
            state.problem("entry:time", f"time {when} is earlier than seq {seq - 1}'s", seq)
    if ctx.origin is not None and entry.get("log") != ctx.origin:
        state.problem("entry:log", f"log {entry.get('log')!r} is not {ctx.origin!r}", seq)
    kind = entry.get("type")
    if (kind == "log.created") != (seq == 0):
        state.problem("entry:type", "seq 0, and only seq 0, is log.created", seq)
    _check_key(state, seq, leaf, key, sig)
    if kind in EVENT_TYPES and type(entry.get("body")) is dict:
        out.events.append((seq, kind, entry["body"]))
    state.prev_hex = hexed.decode()
    state.prev_time = when if isinstance(when, str) else state.prev_time
    out.last_leaf = leaf


def _check_key(state: _Chunk, seq: int, leaf: bytes, key: Any, sig: Any) -> None:
    r = state.key_at(seq)
    text = _as_text(key)
    if r is None:
        if state.ctx.key_ranges:
            state.problem("entry:key", "keys.txt has no key valid at this seq", seq)
        return
    if text != r[2].hex():
        state.problem("entry:key", f"key {text!r} is not {r[2].hex()}, the key valid here", seq)
    if isinstance(sig, bytes) and not state.ctx.entry_signatures:
        return  # the fast path's pattern admits only canonical base64 of 64 bytes
    raw = _signature(sig)
    if raw is None:
        state.problem("entry:signature", "sig is not base64 of 64 bytes", seq)
    elif state.ctx.entry_signatures:
        verifier = _verifier(r[3])
        if not verifier.verify(b"expertdraw/entry/v1\x00" + leaf, raw):
            state.problem("entry:signature", "signature does not verify", seq)


_VERIFIERS: dict[bytes, Any] = {}


def _verifier(public_key: bytes) -> Any:
    """A cached Ed25519 verifier for raw public key bytes."""
    found = _VERIFIERS.get(public_key)
    if found is None:
        found = _VERIFIERS[public_key] = VerifierKey("k", public_key)
    return found
