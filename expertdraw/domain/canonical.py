"""Canonical JSON (ledger.md §1): RFC 8785 for the values a ledger entry may hold.

Entries hold no floats and only integers within ±(2^53-1); for such values RFC 8785 equals
Python's ``json.dumps`` with sorted keys, no whitespace and no ASCII escaping, except that
RFC 8785 sorts keys by UTF-16 code units. Keys are checked and the rare non-BMP key is sorted
the RFC 8785 way, so the bytes are exact for every value we accept.
"""

from __future__ import annotations

import json
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalError(ValueError):
    """A value cannot be put in canonical form (float, unsafe integer, bad key...)."""


def _check(value: Any, path: str = "$") -> bool:
    """Validate ``value``; return True if some object key is outside the BMP."""
    astral = False
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{path}: object key {key!r} is not a string")
            if any(ord(ch) > 0xFFFF for ch in key):
                astral = True
            astral = _check(item, f"{path}.{key}") or astral
    elif isinstance(value, list):
        for index, item in enumerate(value):
            astral = _check(item, f"{path}[{index}]") or astral
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        pass
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalError(f"{path}: integer {value} is outside ±(2^53-1)")
    elif isinstance(value, float):
        raise CanonicalError(f"{path}: floating-point numbers are not allowed")
    else:
        raise CanonicalError(f"{path}: {type(value).__name__} is not a JSON value")
    return astral


def _utf16_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return {k: _utf16_sorted(value[k]) for k in keys}
    if isinstance(value, list):
        return [_utf16_sorted(v) for v in value]
    return value


def canonical(value: Any) -> bytes:
    """Return ``C(value)``: the RFC 8785 canonical JSON bytes (UTF-8)."""
    if _check(value):
        text = json.dumps(
            _utf16_sorted(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    else:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates cannot be UTF-8
        raise CanonicalError(f"string is not valid Unicode text: {exc.reason}") from None
