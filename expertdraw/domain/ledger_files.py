"""The text files of an export bundle besides entries (ledger.md §5): keys.txt, checkpoints.txt.

``keys.txt`` is the trust list: one ``<verifier key> <from_seq>[ <to_seq>]`` line per key, in
order, ranges contiguous from 0, every key but the last closed. ``checkpoints.txt`` holds
signed notes in issue order separated by lines of exactly ``---``; the file ends with ``\\n``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from expertdraw.domain.ledger import LedgerError
from expertdraw.domain.notes import NoteError, VerifierKey

SEPARATOR = b"\n---\n"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,15}")


@dataclass(frozen=True)
class KeyRange:
    """A log key and the inclusive ``seq`` range it signs (``to_seq`` None: still current)."""

    key: VerifierKey
    from_seq: int
    to_seq: int | None = None

    def covers(self, seq: int) -> bool:
        """True if this key is the log key at ``seq``."""
        return self.from_seq <= seq and (self.to_seq is None or seq <= self.to_seq)

    def line(self) -> str:
        """The keys.txt line (without newline)."""
        end = "" if self.to_seq is None else f" {self.to_seq}"
        return f"{self.key} {self.from_seq}{end}"


class TrustList:
    """Log keys by ``seq`` range, plus other known keys (supervisors' cosigning keys)."""

    def __init__(self, ranges: Sequence[KeyRange], cosigners: Iterable[VerifierKey] = ()) -> None:
        """Keep ``ranges`` (sorted by ``from_seq``) and extra known ``cosigners``."""
        self.ranges = sorted(ranges, key=lambda r: r.from_seq)
        self._starts = [r.from_seq for r in self.ranges]
        self.cosigners = tuple(cosigners)

    def key_at(self, seq: int) -> KeyRange | None:
        """The log key valid at ``seq``, or None."""
        i = bisect.bisect_right(self._starts, seq) - 1
        return self.ranges[i] if i >= 0 and self.ranges[i].covers(seq) else None

    def known_keys(self) -> list[VerifierKey]:
        """Every key whose signature lines must verify (log keys and cosigners)."""
        return [r.key for r in self.ranges] + list(self.cosigners)


def read_keys_txt(text: str) -> tuple[list[KeyRange], list[tuple[int, str]]]:
    """Parse keys.txt leniently: the ranges that parse, and ``(line number, problem)`` pairs.

    Checks each line's syntax and key, that ranges start at 0 and follow each other without
    gap or overlap, that every key but the last has a ``to_seq`` and the last has none.
    """
    ranges: list[KeyRange] = []
    problems: list[tuple[int, str]] = []
    if not text.endswith("\n"):
        problems.append((max(1, text.count("\n") + 1), "keys.txt does not end with a newline"))
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    expected_from = 0
    for number, line in enumerate(lines, start=1):
        parts = line.split(" ")
        if len(parts) not in (2, 3) or not all(_DECIMAL.fullmatch(p) for p in parts[1:]):
            problems.append((number, f"malformed line {line[:60]!r}"))
            continue
        try:
            key = VerifierKey.parse(parts[0])
        except NoteError as exc:
            problems.append((number, str(exc)))
            continue
        start = int(parts[1])
        end = int(parts[2]) if len(parts) == 3 else None
        if start != expected_from:
            problems.append((number, f"range starts at {start}, expected {expected_from}"))
        if end is not None and end < start:
            problems.append((number, f"range ends at {end} before it starts at {start}"))
        last = number == len(lines)
        if last and end is not None:
            problems.append((number, "the last key must have no to_seq"))
        if not last and end is None:
            problems.append((number, "only the last key may have no to_seq"))
        ranges.append(KeyRange(key, start, end))
        expected_from = (end if end is not None else start) + 1
    return ranges, problems


def parse_keys_txt(text: str) -> list[KeyRange]:
    """Parse keys.txt strictly.

    Raises:
        LedgerError: ``ledger:keys`` naming the first bad line.
    """
    ranges, problems = read_keys_txt(text)
    if problems:
        number, message = problems[0]
        raise LedgerError("ledger:keys", f"keys.txt line {number}: {message}")
    return ranges


def format_keys_txt(ranges: Sequence[KeyRange]) -> str:
    """keys.txt for ``ranges`` (in order)."""
    return "".join(r.line() + "\n" for r in ranges)


def split_checkpoints(data: bytes) -> tuple[list[bytes], bool]:
    """Split checkpoints.txt into its notes (each ending in ``\\n``).

    Returns the notes and whether the file ended with ``\\n`` as it must (if not, the last
    note is given a newline so the rest of it can still be checked). An empty file gives no
    notes.
    """
    if not data:
        return [], True
    ends = data.endswith(b"\n")
    body = data[:-1] if ends else data
    return [chunk + b"\n" for chunk in body.split(SEPARATOR)], ends


def format_checkpoints(notes: Sequence[str]) -> str:
    """checkpoints.txt for signed ``notes`` in issue order."""
    return "---\n".join(notes)
