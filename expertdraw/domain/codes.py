"""Validation of the public codes expertdraw handles.

- Unified social credit codes (统一社会信用代码, GB 32100-2015) with their check character.
- Resident identity numbers (GB 11643-1999) with their ISO 7064 MOD 11-2 check digit.
- GB/T 2260 region codes and the ids of draw.md §1.
"""

from __future__ import annotations

import re

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_DRAW_ID = re.compile(r"[A-Za-z0-9._-]+")
_REGION = re.compile(r"[1-9][0-9]{5}")
_DIGITS17 = re.compile(r"[0-9]{17}")


class CodeError(ValueError):
    """A code is malformed; ``code`` is a stable error code, the message says what is wrong.

    The message is an English ``%(name)s`` ``template`` filled with ``params``, so that pages
    can show the same sentence translated.
    """

    def __init__(self, code: str, template: str, **params: object) -> None:
        self.template = template
        self.params = {name: str(value) for name, value in params.items()}
        super().__init__(template % self.params if self.params else template)
        self.code = code


def uscc_check_char(first17: str) -> str:
    """The check character of a unified social credit code's first 17 characters."""
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Return the code upper-cased if it is a valid unified social credit code, else raise."""
    code = value.strip().upper()
    if len(code) != 18:
        raise CodeError(
            "invalid:uscc",
            "a unified social credit code has 18 characters, got %(length)s",
            length=len(code),
        )
    bad = [ch for ch in code if ch not in USCC_ALPHABET]
    if bad:
        raise CodeError(
            "invalid:uscc",
            "character %(char)s is not allowed in a unified social credit code",
            char=repr(bad[0]),
        )
    if uscc_check_char(code[:17]) != code[17]:
        raise CodeError(
            "invalid:uscc", "the check character of the unified social credit code is wrong"
        )
    return code


def id_check_char(first17: str) -> str:
    """The check character of an 18-digit resident identity number."""
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_id_number(value: str) -> str:
    """Return the identity number normalised (upper-case X) if valid, else raise."""
    number = value.strip().upper()
    # ASCII digits only: str.isdigit() also takes full-width and superscript digits, which
    # would let one person's number be written a second way and hash differently.
    if len(number) != 18 or _DIGITS17.fullmatch(number[:17]) is None:
        raise CodeError(
            "invalid:id-number", "an identity number has 17 digits and a check character"
        )
    if id_check_char(number[:17]) != number[17]:
        raise CodeError("invalid:id-number", "the check digit of the identity number is wrong")
    return number


def validate_region(value: str) -> str:
    """A six-digit GB/T 2260 code."""
    if not _REGION.fullmatch(value):
        raise CodeError(
            "invalid:region",
            "%(value)s is not a six-digit GB/T 2260 region code",
            value=repr(value),
        )
    return value


def prefecture_of(region: str) -> str:
    """The prefecture-level code a region belongs to (itself for a prefecture)."""
    return region[:4] + "00"


def province_of(region: str) -> str:
    """The province-level code a region belongs to."""
    return region[:2] + "0000"


def validate_id(value: str, what: str = "id") -> str:
    """An id of draw.md §1: a non-empty string of ``[A-Za-z0-9._-]``."""
    if not isinstance(value, str) or not _DRAW_ID.fullmatch(value):
        raise CodeError(
            f"invalid:{what}",
            "%(what)s must be a non-empty string of [A-Za-z0-9._-]",
            what=what,
        )
    return value
