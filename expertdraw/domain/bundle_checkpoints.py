"""Checking checkpoints.txt on its own (ledger.md §4): syntax, signatures, order, conflicts.

What needs the entries (the root, the ``time`` line, the origin) is checked later, when the
audit's pass over entries.jsonl reaches each checkpoint's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from expertdraw.domain.bundle_scan import Problem
from expertdraw.domain.ledger_files import TrustList, split_checkpoints
from expertdraw.domain.notes import (
    Checkpoint,
    NoteError,
    check_signatures,
    parse_checkpoint,
    parse_note,
)


@dataclass(frozen=True)
class ParsedCheckpoint:
    """A checkpoint that parsed: its index in checkpoints.txt, content, and whether its
    signatures are as section 4 requires."""

    index: int
    checkpoint: Checkpoint
    signed: bool


def _signature_problem(index: int, cp: Checkpoint, note, trust: TrustList) -> Problem | None:
    outcome = check_signatures(note, trust.known_keys())
    if outcome.failed:
        names = ", ".join(k.name for k in outcome.failed)
        return Problem("checkpoint:signature", f"signature of {names} does not verify", None, index)
    current = trust.key_at(cp.size - 1) if cp.size else None
    if current is None or current.key not in outcome.verified:
        return Problem(
            "checkpoint:unsigned",
            f"not signed by the log key valid at seq {cp.size - 1}",
            checkpoint=index,
        )
    return None


def check_checkpoints(data: bytes, trust: TrustList) -> tuple[list[ParsedCheckpoint], list[Problem]]:
    """Parse and check every checkpoint; return those that parsed and the problems found.

    Problems name the checkpoint by its 0-based index in the file, in file order.
    """
    notes, ends = split_checkpoints(data)
    problems: list[Problem] = []
    parsed: list[ParsedCheckpoint] = []
    if not notes:
        problems.append(Problem("checkpoint:missing", "checkpoints.txt holds no checkpoint"))
    roots: dict[int, tuple[bytes, int]] = {}
    last_size = 0
    for index, raw in enumerate(notes):
        if index == len(notes) - 1 and not ends:
            problems.append(
                Problem("checkpoint:format", "checkpoints.txt does not end with a newline", None, index)
            )
        try:
            note = parse_note(raw)
            cp = parse_checkpoint(note.text)
        except NoteError as exc:
            problems.append(Problem("checkpoint:format", str(exc), checkpoint=index))
            continue
        if cp.size == 0:
            problems.append(Problem("checkpoint:format", "tree size 0", checkpoint=index))
            continue
        found = _signature_problem(index, cp, note, trust)
        if found:
            problems.append(found)
        if cp.size < last_size:
            problems.append(
                Problem("checkpoint:order", f"size {cp.size} after size {last_size}", None, index)
            )
        last_size = max(last_size, cp.size)
        earlier = roots.setdefault(cp.size, (cp.root, index))
        if earlier[0] != cp.root:
            problems.append(
                Problem(
                    "checkpoint:conflict",
                    f"same size {cp.size} as checkpoint {earlier[1]} but another root",
                    checkpoint=index,
                )
            )
        parsed.append(ParsedCheckpoint(index, cp, found is None))
    return parsed, problems
