"""Checking checkpoints.txt on its own (ledger.md §4): syntax, signatures, order, conflicts.

What needs the entries (the root, the ``time`` line, the origin) is checked later, when the
audit's pass over entries.jsonl reaches each checkpoint's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from expertdraw.domain.bundle_scan import Problem
from expertdraw.domain.checkpoint import Checkpoint, parse_checkpoint
from expertdraw.domain.ledger_files import TrustList, split_checkpoints
from expertdraw.domain.notes import NoteError, VerifierKey, check_signatures, parse_note


@dataclass(frozen=True)
class ParsedCheckpoint:
    """A checkpoint that parsed: its index in checkpoints.txt, content, and whether its
    signatures are as section 4 requires."""

    index: int
    checkpoint: Checkpoint
    signed: bool
    #: Names of the cosigners (``TrustList.cosigners``) whose signature line verifies.
    cosigned: tuple[str, ...] = ()


Outcome = tuple[tuple[int, ...], tuple[int, ...]] | None
"""Per note: indices (into the known keys) of the lines that verify and of those that fail;
None for a note that does not parse."""


def note_outcomes(keys: Sequence[VerifierKey], notes: Sequence[bytes]) -> list[Outcome]:
    """Verify the signature lines of each raw note against ``keys`` (the expensive part)."""
    index = {k: i for i, k in enumerate(keys)}
    out: list[Outcome] = []
    for raw in notes:
        try:
            outcome = check_signatures(parse_note(raw), keys)
        except NoteError:
            out.append(None)
            continue
        out.append(
            (tuple(index[k] for k in outcome.verified), tuple(index[k] for k in outcome.failed))
        )
    return out


Checked = tuple[Outcome, Checkpoint | str]
"""Per note: its signature outcome, and its checkpoint or why it is not one (the message)."""


def _checkpoint(raw: bytes) -> Checkpoint | str:
    try:
        return parse_checkpoint(parse_note(raw).text)
    except NoteError as exc:
        return str(exc)


def note_checks(keys: Sequence[VerifierKey], notes: Sequence[bytes]) -> list[Checked]:
    """Parse each raw note once: verify its signature lines against ``keys`` and read its
    checkpoint."""
    index = {k: i for i, k in enumerate(keys)}
    out: list[Checked] = []
    for raw in notes:
        try:
            note = parse_note(raw)
        except NoteError as exc:
            out.append((None, str(exc)))
            continue
        outcome = check_signatures(note, keys)
        verified = (
            tuple(index[k] for k in outcome.verified),
            tuple(index[k] for k in outcome.failed),
        )
        try:
            out.append((verified, parse_checkpoint(note.text)))
        except NoteError as exc:
            out.append((verified, str(exc)))
    return out


def _signature_problem(
    index: int, cp: Checkpoint, outcome: Outcome, trust: TrustList
) -> Problem | None:
    keys = trust.known_keys()
    verified, failed = outcome or ((), ())
    if failed:
        names = ", ".join(keys[i].name for i in failed)
        return Problem("checkpoint:signature", f"signature of {names} does not verify", None, index)
    current = trust.key_at(cp.size - 1)
    if current is None or current.key not in [keys[i] for i in verified]:
        return Problem(
            "checkpoint:unsigned",
            f"not signed by the log key valid at seq {cp.size - 1}",
            checkpoint=index,
        )
    return None


def check_checkpoints(
    data: bytes,
    trust: TrustList,
    outcomes: Callable[[list[bytes]], list[Outcome]] | None = None,
    checks: Callable[[list[bytes]], list[Checked]] | None = None,
) -> tuple[list[ParsedCheckpoint], list[Problem]]:
    """Parse and check every checkpoint; return those that parsed and the problems found.

    ``checks`` does :func:`note_checks` (the audit passes one that uses its worker
    processes; default: in this process); or ``outcomes`` only verifies the notes'
    signatures, and the notes are parsed here. Problems name the checkpoint by its 0-based
    index in the file, in file order.
    """
    notes, ends = split_checkpoints(data)
    if outcomes is not None and checks is None:
        checked = list(zip(outcomes(notes), map(_checkpoint, notes), strict=True))
    else:
        checked = (checks or partial(note_checks, trust.known_keys()))(notes)
    problems: list[Problem] = []
    parsed: list[ParsedCheckpoint] = []
    if not notes:
        problems.append(Problem("checkpoint:missing", "checkpoints.txt holds no checkpoint"))
    roots: dict[int, tuple[bytes, int]] = {}
    last_size = 0
    for index, (outcome, cp) in enumerate(checked):
        if index == len(notes) - 1 and not ends:
            problems.append(
                Problem(
                    "checkpoint:format", "checkpoints.txt does not end with a newline", None, index
                )
            )
        if isinstance(cp, str):
            problems.append(Problem("checkpoint:format", cp, checkpoint=index))
            continue
        if cp.size == 0:
            problems.append(Problem("checkpoint:format", "tree size 0", checkpoint=index))
            continue
        found = _signature_problem(index, cp, outcome, trust)
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
        verified = outcome[0] if outcome else ()
        keys, logs = trust.known_keys(), len(trust.ranges)
        cosigned = tuple(keys[i].name for i in verified if i >= logs)
        parsed.append(ParsedCheckpoint(index, cp, found is None, cosigned))
    return parsed, problems
