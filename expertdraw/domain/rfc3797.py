"""RFC 3797 selection with public numbers (draw.md §7).

The key string is made from lists of non-negative integers that outside parties publish after
the draw is announced (lottery results, stock indices): each source's integers sorted
ascending, each written in decimal without leading zeros and followed by ``.``, each source
ended by ``/``. Pick ``i = 0, 1, ...``: ``v = int(MD5(u16be(i) || key || u16be(i)))`` read
big-endian, ``k = v mod remaining``, take the ``(k+1)``-th remaining candidate in number order.

This module only numbers and picks; :mod:`expertdraw.domain.draw` maps numbers to candidates
(1..N in id order) and seats the members.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from expertdraw.domain.draw_errors import DrawError

MAX_PICKS = 1 << 16  # i is written as u16be
_KEY = re.compile(r"(?:(?:(?:0|[1-9][0-9]*)\.)+/)+")


@dataclass(frozen=True, slots=True)
class Pick:
    """One pick: its index ``i``, the MD5 (upper-case hex, as the RFC prints it), how many
    candidates remained, and the number (1-based) picked."""

    i: int
    md5_hex: str
    remaining: int
    picked: int

    def as_dict(self) -> dict[str, int | str]:
        """The pick as the vector files write it."""
        return {
            "i": self.i,
            "md5_hex": self.md5_hex,
            "remaining": self.remaining,
            "picked": self.picked,
        }


def key_string(sources: Sequence[Sequence[int]]) -> str:
    """The RFC 3797 key string of ``sources`` (each a non-empty list of integers >= 0).

    Raises :class:`DrawError` ``invalid:lottery`` for no sources, an empty source, or a value
    that is not a non-negative integer.
    """
    if isinstance(sources, str | bytes) or not sources:
        raise DrawError("invalid:lottery", "at least one source of numbers is needed")
    parts: list[str] = []
    for index, source in enumerate(sources):
        if isinstance(source, str | bytes) or not source:
            raise DrawError("invalid:lottery", f"source {index + 1} has no numbers")
        if not all(type(n) is int and n >= 0 for n in source):
            raise DrawError("invalid:lottery", f"source {index + 1} holds a non-integer or < 0")
        parts.append("".join(f"{n}." for n in sorted(source)) + "/")
    return "".join(parts)


def check_key_string(key: object) -> str:
    """Return ``key`` if it is a key string that :func:`key_string` can produce.

    Raises :class:`DrawError` ``invalid:lottery`` otherwise (wrong syntax, leading zeros, or a
    source not sorted ascending).
    """
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise DrawError("invalid:lottery", f"not an RFC 3797 key string: {key!r}")
    for source in key.split("/")[:-1]:
        numbers = [int(n) for n in source.split(".")[:-1]]
        if numbers != sorted(numbers):
            raise DrawError("invalid:lottery", f"source {source!r} is not sorted ascending")
    return key


def pick_digest(key: str, i: int) -> bytes:
    """``MD5(u16be(i) || key || u16be(i))``; ``invalid:lottery`` if ``i`` does not fit 16 bits."""
    if not 0 <= i < MAX_PICKS:
        raise DrawError("invalid:lottery", f"pick index {i} does not fit 16 bits")
    salt = i.to_bytes(2, "big")
    return hashlib.md5(salt + key.encode("ascii") + salt, usedforsecurity=False).digest()


def picks(key: str, pool_size: int, count: int) -> list[Pick]:
    """The first ``count`` picks from candidates numbered ``1..pool_size``.

    ``count`` is capped at ``pool_size``. Raises :class:`DrawError` ``invalid:lottery`` for a
    malformed key or negative sizes.
    """
    check_key_string(key)
    if type(pool_size) is not int or type(count) is not int or pool_size < 0 or count < 0:
        raise DrawError("invalid:lottery", "pool size and count are integers >= 0")
    remaining = list(range(1, pool_size + 1))
    result: list[Pick] = []
    for i in range(min(count, pool_size)):
        digest = pick_digest(key, i)
        k = int.from_bytes(digest, "big") % len(remaining)
        result.append(Pick(i, digest.hex().upper(), len(remaining), remaining.pop(k)))
    return result


def selection_order(key: str, pool_size: int, count: int) -> list[int]:
    """The 0-based positions of the first ``count`` picks (see :func:`picks`)."""
    return [p.picked - 1 for p in picks(key, pool_size, count)]
