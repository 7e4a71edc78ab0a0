"""The bundle audit's fast path for one chunk of entries.jsonl (ledger.md §5).

:func:`scan_fast` checks all the lines of a chunk together, with a few operations that each
run over every line inside the interpreter's C code, and answers either the chunk's result,
exactly what the line-by-line check (:func:`~expertdraw.domain.bundle_scan.scan_chunk`)
gives for it, or None as soon as something is not plainly valid; the caller then takes the
line-by-line check, which finds and names every problem. So the fast path only ever
confirms: it accepts a chunk only if every check of the line-by-line path passes on every
line, and it never reports anything itself.

How ``n`` lines are confirmed at once (a chunk goes a few hundred lines at a time, so that
the working set stays in the CPU's caches; ``prev`` and times are carried across):

* one regular expression takes every line apart (``findall``; each match is anchored to a
  whole line and there must be ``n`` of them): the record's and the entry's members are
  literal, in canonical order and spelling, ``v`` is ``1`` and ``log`` is the log's
  origin; actor strings hold nothing that JSON would escape. (A body that happens to
  contain ``},"log":"<origin>"...`` either fails the rest of the line or is cut exactly
  where a JSON parser ends it, since it must then parse to its end.)
* each body is parsed (floats, NaN and unsafe integers refused) and must be used up. A
  body with no backslash (so no escapes, and every quote delimits a string) and no blank
  outside strings is canonical exactly when its keys are sorted and it holds no key twice:
  when its text holds as many keys (``":``) as its object has members, only its own keys
  need sorting (checked once per distinct list of keys), else (inner objects, mostly in
  draws) it is compared with its canonical encoding, as are all bodies of a batch that
  holds a backslash. A batch with a character beyond the BMP is left to the slow path
  (RFC 8785 sorts keys by UTF-16 code units);
* each line is now exactly ``C(record)``, so ``C(entry)`` is the line without its first
  9 and last 189 bytes; the leaf hashes are computed from those bytes;
* ``seq``, ``leaf``, ``prev`` and ``key`` are compared, as lists, with what they must be
  (``seq`` from ``start``, the computed leaves in hex and the leaf before each, the key
  id valid at each ``seq``); ``sig`` (strict base64 of 64 bytes) and ``time`` (the
  format, real dates, never decreasing) are checked column by column.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import re
from itertools import compress, pairwise, repeat
from json.scanner import make_scanner
from operator import itemgetter, ne
from typing import Any

from expertdraw.domain.bundle_lines import _decoder
from expertdraw.domain.bundle_scan import (
    EVENT_TYPES,
    ChunkResult,
    ScanContext,
    _verifier,
    scan_chunk,
)
from expertdraw.domain.canonical import _encode
from expertdraw.domain.ledger import (
    BODY_MEMBERS,
    ENTRY_SIGNATURE_CONTEXT,
    ZERO_PREV,
    body_problem,
    real_date,
)

_sha256 = hashlib.sha256
_digest = type(_sha256()).digest
_scan_once = make_scanner(_decoder)
_first, _second = itemgetter(0), itemgetter(1)
_STRING = r'[^"\\\x00-\x1f]*'  # a JSON string's content that needs no escape
_ORIGIN = re.compile(r'[^"\\\x00-\x1f]+').fullmatch
_HEX64 = re.compile("[0-9a-f]{64}").fullmatch
_ASTRAL = re.compile("[\U00010000-\U0010ffff]").search
_BATCH = 256
_PREFIX = len('{"entry":')
_TAIL = len(',"key":"","leaf":"","sig":""}') + 8 + 64 + 88
_entry_bytes = itemgetter(slice(_PREFIX, -_TAIL))  # C(entry) in a line that is C(record)
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TIME_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22)
_TIME_LITERALS = ((4, b"-"), (7, b"-"), (10, b"T"), (13, b":"), (16, b":"), (19, b"."), (23, b"Z"))
_HOUR = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3])"
).fullmatch
_KINDS = frozenset(BODY_MEMBERS)
#: types whose body check is only "has the required members" (no draw id, no values)
_PLAIN = (
    frozenset(
        kind
        for kind, required in BODY_MEMBERS.items()
        if "draw" not in required
        and kind not in {"draw.failed", "draw.replaced", "notice.answered"}
    )
    - EVENT_TYPES
)
_SPECIAL = _KINDS - _PLAIN  # checked one by one (body_problem); events among them
_patterns: dict[str, Any] = {}


def _line_pattern(origin: str) -> Any:
    """``findall`` that takes lines apart into (body, prev, seq, time, type, key, leaf, sig)."""
    found = _patterns.get(origin)
    if found is None:
        field = '([^"]*)'
        found = _patterns[origin] = re.compile(
            r'^\{"entry":\{"actor":\{"id":"' + _STRING + '","role":"' + _STRING + r'"\},'
            r'"body":(\{.*\}),"log":"'
            + re.escape(origin)
            + '","prev":"'
            + field
            + '","seq":([0-9]+),"time":"'
            + field
            + '","type":"'
            + field
            + r'","v":1\},"key":"'
            + field
            + '","leaf":"'
            + field
            + '","sig":"'
            + field
            + r'"\}$',
            re.MULTILINE,
        ).findall
    return found


def _expected_keys(ctx: ScanContext, start: int, end: int) -> list[str] | None:
    """The hex key id valid at each ``seq`` of ``start..end-1``; None if some ``seq`` has no
    key (the slow path reports it)."""
    edges = {start, end}
    for lo, hi, _, _ in ctx.key_ranges:
        edges.update(e for e in (lo, None if hi is None else hi + 1) if e and start < e < end)
    cuts = sorted(edges)
    out: list[str] = []
    for a, b in pairwise(cuts):
        kid = next(
            (k for lo, hi, k, _ in ctx.key_ranges if lo <= a and (hi is None or a <= hi)), None
        )
        if kid is None:
            return None
        out += [kid.hex()] * (b - a)
    return out


def _signatures_valid(sigs: tuple[str, ...]) -> bool:
    """True when every ``sig`` is strict base64 of 64 bytes: 85 alphabet characters, the
    last of them with its 4 unused bits zero (``A``, ``Q``, ``g`` or ``w``), and ``==``."""
    n = len(sigs)
    if set(map(len, sigs)) != {88}:
        return False
    joined = "".join(sigs).encode("ascii", "replace")
    return (
        joined[86::88] == joined[87::88] == b"=" * n
        and not joined[85::88].translate(None, b"AQgw")
        and joined.translate(None, _B64) == b"=" * (2 * n)
    )


def _times_valid(times: tuple[str, ...]) -> bool:
    """True when every time is ``YYYY-MM-DDTHH:MM:SS.mmmZ`` of a real date and none is
    earlier than the one before it."""
    n = len(times)
    if set(map(len, times)) != {24} or list(times) != sorted(times):
        return False
    try:
        joined = "".join(times).encode("ascii")
    except UnicodeEncodeError:
        return False
    if any(joined[k::24] != c * n for k, c in _TIME_LITERALS):
        return False
    if b"".join([joined[k::24] for k in _TIME_DIGITS]).translate(None, b"0123456789"):
        return False
    if max(joined[14::24]) > 0x35 or max(joined[17::24]) > 0x35:  # minutes, seconds < 60
        return False
    hours = {times[0][:13], times[-1][:13]}
    if len(hours) > 1:  # sorted, so one hour at both ends is one hour throughout
        hours = set(map(itemgetter(slice(0, 13)), times))
    return all(_HOUR(h) and real_date(h[:10]) for h in hours)


def _bodies(
    raws: tuple[str, ...], kinds: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[int]] | None:
    """The parsed bodies, if each is ``C(body)`` and has the members its type requires, and
    the indices of those whose type is not plain (draws, notices, keys)."""
    n = len(raws)
    try:
        parsed = list(map(_scan_once, raws, repeat(0, n)))
    except (ValueError, RecursionError):
        return None
    if len(parsed) != n or list(map(_second, parsed)) != list(map(len, raws)):
        return None  # something follows some body's object
    bodies: list[dict[str, Any]] = list(map(_first, parsed))
    joined = ",".join(raws)
    if "\\" in joined:  # escapes: compare with the canonical encoding itself
        if _encode(bodies) != f"[{joined}]":
            return None
    elif not _plain_canonical(raws, bodies, joined):
        return None
    for kind, keys in set(zip(kinds, map(tuple, bodies), strict=True)):
        if list(keys) != sorted(keys) or not BODY_MEMBERS[kind].issubset(keys):
            return None
    special = list(compress(range(n), map(_SPECIAL.__contains__, kinds)))
    for i in special:
        if body_problem(kinds[i], bodies[i]) is not None:
            return None
    return bodies, special


def _plain_canonical(raws: tuple[str, ...], bodies: list[dict[str, Any]], joined: str) -> bool:
    """For bodies without a backslash, each of which parsed to its end: True when each is
    canonical, but for the order of its own keys (checked by the caller).

    No blank may lie outside strings. A body whose text holds as many keys (``":``) as its
    object has members holds no key twice and no key deeper down (inner objects, if any,
    are empty); the others (draws, mostly) are compared with their canonical encoding.
    """
    if "\t" in joined or "\r" in joined:
        return False
    if " " in joined and any(" " in "".join(r.split('"')[::2]) for r in raws if " " in r):
        return False
    n = len(raws)
    stated = list(map(str.count, raws, repeat('":', n)))
    members = list(map(len, bodies))
    if stated != members:
        for i in compress(range(n), map(ne, stated, members)):
            if _encode(bodies[i]) != raws[i]:
                return False
    return True


def _tree(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete level of the perfect subtrees over ``leaves``, leaves first."""
    levels = [leaves]
    level = leaves
    while len(level) > 1:
        pairs = iter(level)  # left and right child, taken in turn
        level = list(
            map(_digest, map(_sha256, map(bytes.__add__, map(b"\x01".__add__, pairs), pairs)))
        )
        levels.append(level)
    return levels


def _frontier(levels: list[list[bytes]], size: int) -> list[bytes]:
    """The compact range of the first ``size`` leaves, highest level first."""
    out, begin = [], 0
    for k in range(size.bit_length() - 1, -1, -1):
        if size >> k & 1:
            out.append(levels[k][begin >> k])
            begin += 1 << k
    return out


def scan_fast(
    ctx: ScanContext, start: int, data: bytes, sizes: frozenset[int] = frozenset()
) -> ChunkResult | None:
    """The result of :func:`~expertdraw.domain.bundle_scan.scan_chunk` for a chunk whose
    lines are all valid, or None if some check fails (or cannot be done at once)."""
    origin = ctx.origin
    if not data.endswith(b"\n") or origin is None or not _ORIGIN(origin):
        return None
    lines = data.split(b"\n")
    lines.pop()
    n = len(lines)
    end = start + n
    keys = _expected_keys(ctx, start, end)
    if keys is None:
        return None
    leaves: list[bytes] = []
    times: list[str] = []
    events: list[tuple[int, str, dict[str, Any], Any]] = []
    first_prev, last_hex = "", ZERO_PREV if start == 0 else None
    for at in range(0, n, _BATCH):  # a few hundred lines at a time stay in the CPU's caches
        batch = _batch(ctx, start + at, lines[at : at + _BATCH], keys[at : at + _BATCH])
        if batch is None:
            return None
        prev, hexed_last, batch_leaves, batch_times, batch_events = batch
        # the chain across batches; the first line's prev is checked by the merge, but
        # must look like a leaf hash (the slow path would say so)
        if (prev != last_hex) if last_hex is not None else not _HEX64(prev):
            return None
        if times and batch_times[0] < times[-1]:
            return None
        if not at:
            first_prev = prev
        last_hex = hexed_last
        leaves += batch_leaves
        times += batch_times
        events += batch_events
    if ctx.entry_signatures and not _entry_signatures(ctx, start, leaves, lines):
        return None
    out = ChunkResult(start, count=n)
    out.first_prev, out.first_time = first_prev.encode(), times[0]
    out.last_leaf, out.last_time = leaves[-1], times[-1]
    levels = _tree(leaves)
    if n == 1 << ctx.level:
        out.subtree = levels[-1][0]
    for size in sorted(s for s in sizes if start < s < end):
        out.partials[size] = (_frontier(levels, size - start), times[size - start - 1])
    out.partials[end] = (_frontier(levels, n), times[-1])
    out.events = events
    return out


def _batch(
    ctx: ScanContext, start: int, lines: list[bytes], keys: list[str]
) -> tuple[str, str, list[bytes], list[str], list[tuple[int, str, dict[str, Any], Any]]] | None:
    """Check consecutive lines from ``seq`` ``start`` (all but the first one's ``prev``);
    give that ``prev``, the last leaf in hex, the leaves, the times and the events."""
    data = b"\n".join(lines) + b"\n"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not data.isascii() and _ASTRAL(text):
        return None
    n = len(lines)
    rows = _line_pattern(ctx.origin or "")(text)
    if len(rows) != n:
        return None
    raws, prevs, seqs, times, kinds, stated, leafs, sigs = zip(*rows, strict=True)
    # ledger.md §1: seq from start, v1 types, log.created at seq 0 only, times, keys
    if "\n".join(seqs) != "\n".join(map(str, range(start, start + n))):
        return None
    if not _KINDS.issuperset(kinds) or ("log.created" in kinds) != (start == 0):
        return None
    if start == 0 and (kinds[0] != "log.created" or kinds.count("log.created") != 1):
        return None
    if not _times_valid(times) or not _signatures_valid(sigs) or list(stated) != keys:
        return None
    checked = _bodies(raws, kinds)
    if checked is None:
        return None
    bodies, special = checked
    # every line is C(record): hash C(entry), then the stored leaves and the chain
    leaves = list(map(_digest, map(_sha256, map(b"\x00".__add__, map(_entry_bytes, lines)))))
    hexed = list(map(bytes.hex, leaves))
    if list(leafs) != hexed or list(prevs[1:]) != hexed[:-1]:
        return None
    events = [
        (start + i, kinds[i], bodies[i], times[i]) for i in special if kinds[i] in EVENT_TYPES
    ]
    return prevs[0], hexed[-1], leaves, list(times), events


def _entry_signatures(
    ctx: ScanContext, start: int, leaves: list[bytes], lines: list[bytes]
) -> bool:
    """True when every entry signature verifies under the key valid at its ``seq``."""
    sigs = [line[-90:-2] for line in lines]  # "sig":"<88>"} ends each line (C(record))
    for seq, leaf, sig in zip(range(start, start + len(leaves)), leaves, sigs, strict=True):
        pub = next(
            (p for lo, hi, _, p in ctx.key_ranges if lo <= seq and (hi is None or seq <= hi)),
            None,
        )
        if pub is None or not _verifier(pub).verify(
            ENTRY_SIGNATURE_CONTEXT + leaf, base64.b64decode(sig)
        ):
            return False
    return True


def check_chunk(
    ctx: ScanContext, start: int, data: bytes, sizes: frozenset[int] = frozenset()
) -> ChunkResult:
    """:func:`scan_fast`, or the line-by-line check when the chunk is not plainly valid.

    The cyclic garbage collector is paused meanwhile: the checks make many small objects
    and no cycles, and would otherwise set it off every few hundred lines.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return scan_fast(ctx, start, data, sizes) or scan_chunk(ctx, start, data, sizes)
    finally:
        if paused:
            gc.enable()
