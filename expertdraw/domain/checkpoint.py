"""tlog checkpoints (ledger.md §4, c2sp.org/tlog-checkpoint) as expertdraw writes them.

The note text is exactly four lines: the log origin, the tree size in decimal, the base64
root hash, and the extension line ``time <time of entry size-1>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from expertdraw.domain.notes import NoteError, NoteSigner, b64decode_strict, b64encode, sign_note

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's note text: origin, tree size, root hash and the ``time`` line."""

    origin: str
    size: int
    root: bytes
    time: str

    def text(self) -> str:
        """The note text (what is signed)."""
        return f"{self.origin}\n{self.size}\n{b64encode(self.root)}\ntime {self.time}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text: exactly origin, size, base64 root, ``time`` line.

    Raises:
        NoteError: ``note:format`` or ``note:base64``.
    """
    lines = text.split("\n")
    if len(lines) != 5 or lines[4] != "":
        raise NoteError("note:format", "checkpoint text must be 4 lines: origin, size, root, time")
    origin, size, root, time_line = lines[:4]
    if not origin:
        raise NoteError("note:format", "checkpoint origin is empty")
    if not _SIZE.fullmatch(size):
        raise NoteError("note:format", f"bad tree size {size!r}")
    raw = b64decode_strict(root, "root hash")
    if len(raw) != 32:
        raise NoteError("note:format", "root hash is not 32 bytes")
    if not time_line.startswith("time ") or len(time_line) == 5 or " " in time_line[5:]:
        raise NoteError("note:format", "the fourth line must be 'time <time>'")
    return Checkpoint(origin, int(size), raw, time_line[5:])


def checkpoint_note(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> str:
    """Sign a checkpoint with each signer; return the whole signed note."""
    return sign_note(checkpoint.text(), signers)
