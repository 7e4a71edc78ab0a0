"""Canonical JSON (ledger.md §1): RFC 8785 for the values a ledger entry may hold.

Entries hold no floats and only integers within ±(2^53-1); for such values RFC 8785 equals
Python's ``json.dumps`` with sorted keys, no whitespace and no ASCII escaping, except that
RFC 8785 sorts keys by UTF-16 code units. Keys are checked and the rare non-BMP key is sorted
the RFC 8785 way, so the bytes are exact for every value we accept.

Validation walks the value once without recursion (the hot path of every ledger append);
only when it finds a bad value does a second, slower walk name the path to it.
"""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1

_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_encode_unsorted = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


class CanonicalError(ValueError):
    """A value cannot be put in canonical form (float, unsafe integer, bad key...).

    ``code`` is always ``canonical:invalid``.
    """

    code = "canonical:invalid"


def _problem(value: Any, path: str) -> str | None:
    """Describe the first value under ``value`` that canonical JSON refuses, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}: object key {key!r} is not a string"
            found = _problem(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _problem(item, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return f"{path}: integer {value} is outside ±(2^53-1)"
    elif isinstance(value, float):
        return f"{path}: floating-point numbers are not allowed"
    else:
        return f"{path}: {type(value).__name__} is not a JSON value"
    return None


def _describe(value: Any) -> str:
    try:
        return _problem(value, "$") or "not a JSON value"
    except RecursionError:
        return "not a JSON value (nested too deeply or contains itself)"


_SCALAR_TYPES = frozenset({str, bool, type(None)})
_LONG = 8  # lists at least this long are checked by type sets at C speed


def _check_records(records: list[dict[Any, Any]], extend: Any) -> bool | None:
    """Check a long list of plain dicts (rows, candidates) at C speed: keys by one type set,
    values by another; values that are not str/bool/None go on the stack (``extend``).

    Returns whether some key is outside the BMP, or None (nothing done) when some key is not
    exactly ``str``: the caller then walks the dicts one by one, which names the problem.
    """
    if not set(map(type, chain.from_iterable(records))) <= {str}:
        return None
    if not set(map(type, chain.from_iterable(map(dict.values, records)))) <= _SCALAR_TYPES:
        extend(chain.from_iterable(map(dict.values, records)))
    if "".join(chain.from_iterable(records)).isascii():
        return False
    return any(ord(ch) > 0xFFFF for key in chain.from_iterable(records) for ch in key)


def _check(value: Any) -> bool:
    """Validate ``value``; return True if some object key is outside the BMP.

    Long lists are checked by the set of their items' types (C speed): a list of strings,
    booleans and nulls needs nothing more, and a list of plain dicts is checked as records
    (:func:`_check_records`). Everything else is walked item by item.

    Raises:
        CanonicalError: naming the path of the first bad value.
    """
    astral = False
    stack = [value]
    seen: set[int] = set()
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise CanonicalError(_describe(value))
        elif kind is dict or kind is list or isinstance(item, (dict, list)):
            if id(item) in seen:  # shared (checked already) or circular (the encoder refuses)
                continue
            seen.add(id(item))
            if isinstance(item, list):
                if kind is list and len(item) >= _LONG:
                    kinds = set(map(type, item))
                    if kinds <= _SCALAR_TYPES:
                        continue
                    if kinds == {dict}:
                        found = _check_records(item, extend)
                        if found is not None:
                            astral = astral or found
                            continue
                extend(item)
                continue
            for key in item:
                if not isinstance(key, str):
                    raise CanonicalError(_describe(value))
                if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                    astral = True
            extend(item.values())
        elif isinstance(item, str):
            continue
        elif not isinstance(item, int) or not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            raise CanonicalError(_describe(value))
    return astral


def _utf16_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return {k: _utf16_sorted(value[k]) for k in keys}
    if isinstance(value, list):
        return [_utf16_sorted(v) for v in value]
    return value


def canonical(value: Any) -> bytes:
    """Return ``C(value)``: the RFC 8785 canonical JSON bytes (UTF-8).

    Raises:
        CanonicalError: for floats, integers outside ±(2^53-1), non-string keys, values that
            are not JSON, and strings that are not valid Unicode (lone surrogates).
    """
    astral = _check(value)
    try:
        text = _encode_unsorted(_utf16_sorted(value)) if astral else _encode(value)
    except (ValueError, RecursionError) as exc:  # circular or too deeply nested
        raise CanonicalError(f"not a JSON value: {exc}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates cannot be UTF-8
        raise CanonicalError(f"string is not valid Unicode text: {exc.reason}") from None
