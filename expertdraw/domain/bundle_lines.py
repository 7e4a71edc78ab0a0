"""Parsing one line of entries.jsonl exactly (ledger.md §5), fast when it is plain.

A canonical line is ``{"entry":{"actor":{"id":…,"role":…},"body":{…},"log":…,"prev":…,
"seq":…,"time":…,"type":…,"v":1},"key":…,"leaf":…,"sig":…}``: sorted keys, no whitespace.
When the line is ASCII and has no backslash, one regular expression takes the envelope apart
and only the body is parsed as JSON; the body is then canonical exactly when its objects'
keys are sorted and unique (counted against its ``":`` pairs, as no string can hold a quote)
and no space lies between tokens. Any other line is parsed whole and re-encoded to compare.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from expertdraw.domain.canonical import MAX_SAFE_INTEGER, CanonicalError, canonical
from expertdraw.domain.ledger import BODY_MEMBERS, body_problem, entry_problem, real_date

_STR = rb'[^"\\\x00-\x1f]'
_TIME = (
    rb"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    rb"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
)
_LINE = re.compile(
    rb'\{"entry":\{"actor":\{"id":"(' + _STR + rb'*)","role":"(' + _STR + rb'*)"\},'
    rb'"body":(\{.*\}),"log":"(' + _STR + rb'+)","prev":"([0-9a-f]{64})",'
    rb'"seq":(0|[1-9][0-9]{0,15}),"time":"(' + _TIME + rb')","type":"(' + _STR + rb'*)",'
    rb'"v":1\},"key":"([0-9a-f]{8})","leaf":"([0-9a-f]{64})",'
    rb'"sig":"([A-Za-z0-9+/]{85}[AQgw]==)"\}'
).fullmatch
_ESCAPE_OR_BLANK = re.compile(rb"[\\\t\r]").search
_PREFIX = len(b'{"entry":')
_TAIL = 189  # ,"key":"<8>","leaf":"<64>","sig":"<88>"}
_RECORD_KEYS = {"entry", "key", "leaf", "sig"}


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


def _raw_decode(text: str) -> tuple[Any, int]:
    try:
        return _decoder.raw_decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def decode_json(text: str) -> Any:
    """Parse JSON text, refusing floats, NaN/Infinity, integers beyond ±(2^53-1) and -0.

    Raises:
        ValueError: for text that is not such JSON (nesting too deep for the parser too: a
        hostile bundle must give a problem, never a crash).
    """
    try:
        return _decoder.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


class Line(NamedTuple):
    """The parts of one line. ``data`` is ``C(entry)`` (None if the entry cannot be
    canonical); ``problem`` says how the line breaks §1/§5 (None when it does not)."""

    seq: Any
    log: Any
    time: Any
    kind: Any
    prev: Any
    body: Any
    data: bytes | None
    key: Any
    leaf: Any
    sig: Any
    problem: str | None


def _sorted_key_count(value: dict[str, Any]) -> int:
    """Keys in all objects under ``value``, or -1 if some object's keys are not sorted."""
    keys = list(value)
    if keys != sorted(keys):
        return -1
    count = len(keys)
    for item in value.values():
        if type(item) is dict:
            inner = _sorted_key_count(item)
            if inner < 0:
                return -1
            count += inner
        elif type(item) is list:
            for element in item:
                if type(element) in (dict, list):
                    inner = _sorted_key_count({"": element})
                    if inner < 0:
                        return -1
                    count += inner - 1
    return count


def _shape(time: str, kind: str, body: dict[str, Any]) -> str | None:
    if not real_date(time[:10]):
        return f"time {time!r} is not a real date"
    if kind not in BODY_MEMBERS:
        return f"type {kind!r} is not a v1 entry type"
    return body_problem(kind, body)


def parse_fast(line: bytes) -> tuple[Any, ...] | None:
    """The parts of a canonical plain-ASCII line, as a plain tuple in :class:`Line`'s order
    (cheaper to make), or None to take :func:`parse_line`."""
    m = _LINE(line)
    if m is None or not line.isascii():
        return None
    _, _, raw, log, prev, seq, time, kind, key, leaf, sig = m.groups()
    if _ESCAPE_OR_BLANK(raw) or (b" " in raw and b" " in b"".join(raw.split(b'"')[::2])):
        return None  # an escape, or a blank between tokens
    text = raw.decode()
    try:
        body, end = _raw_decode(text)
    except ValueError:
        return None
    if end != len(text) or type(body) is not dict or _sorted_key_count(body) != raw.count(b'":'):
        return None
    time, kind = time.decode(), kind.decode()
    data = line[_PREFIX : len(line) - _TAIL]
    return Line(
        int(seq),
        log.decode(),
        time,
        kind,
        prev,
        body,
        data,
        key,
        leaf,
        sig,
        _shape(time, kind, body),
    )


def _ascii(value: Any) -> Any:
    return value.encode("ascii", "replace") if isinstance(value, str) else value


def parse_line(line: bytes) -> tuple[Any, ...]:
    """The parts of any line in :class:`Line`'s order, checking it is exactly ``C(record)``
    (by re-encoding when the fast path does not apply).

    Raises:
        ValueError: if the line is not JSON (UTF-8, no floats) holding an ``entry`` object.
    """
    fast = parse_fast(line)
    if fast is not None:
        return fast
    record = decode_json(line.decode("utf-8"))
    if type(record) is not dict or type(record.get("entry")) is not dict:
        raise ValueError("line is not a record with an entry object")
    entry = record["entry"]
    problems = [entry_problem(entry)]
    try:
        data = canonical(entry)
    except CanonicalError as exc:
        data = None
        problems.append(str(exc))
    if record.keys() != _RECORD_KEYS:
        problems.append(f"record members must be exactly {sorted(_RECORD_KEYS)}")
    elif data is not None and canonical(record) != line:
        problems.append("line is not exactly C(record)")
    problem = "; ".join(p for p in problems if p) or None
    return Line(
        entry.get("seq"),
        entry.get("log"),
        entry.get("time"),
        entry.get("type"),
        _ascii(entry.get("prev")),
        entry.get("body"),
        data,
        _ascii(record.get("key")),
        _ascii(record.get("leaf")),
        record.get("sig"),
        problem,
    )
