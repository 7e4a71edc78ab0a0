"""Writing an export bundle (ledger.md §5) the way the log builds it, entry by entry.

:class:`BundleWriter` is a complete in-memory log that streams to a bundle folder: it chains
``prev``, hashes, signs, keeps the compact range, issues checkpoints, rotates keys and writes
keys.txt, checkpoints.txt, snapshots and beacon pulses. Tests and benches build bundles with
it; the database service can use it to export. Signing is batched so that a process pool can
sign many entries at once (``sign_batch``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from expertdraw.domain.canonical import canonical
from expertdraw.domain.checkpoint import Checkpoint, checkpoint_note
from expertdraw.domain.ledger import (
    SYSTEM_ACTOR,
    ZERO_PREV,
    LedgerError,
    format_time,
    leaf_of,
    record_line,
    sign_entry,
    validate_entry,
)
from expertdraw.domain.ledger_files import KeyRange, format_checkpoints, format_keys_txt
from expertdraw.domain.merkle_range import CompactRange
from expertdraw.domain.notes import NoteSigner

BatchSigner = Callable[[NoteSigner, Sequence[bytes]], list[bytes]]


def sign_leaves(signer: NoteSigner, leaves: Sequence[bytes]) -> list[bytes]:
    """Entry signatures for ``leaves``, one by one in this process."""
    return [sign_entry(signer, leaf) for leaf in leaves]


class BundleWriter:
    """A log that writes itself out as a bundle; see the module docstring."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        origin: str,
        signer: NoteSigner,
        *,
        start: datetime | None = None,
        step: timedelta = timedelta(milliseconds=250),
        sign_batch: BatchSigner = sign_leaves,
        batch: int = 4096,
    ) -> None:
        """Create ``folder`` and append ``log.created`` (seq 0) signed by ``signer``.

        Entries get times from ``start`` (default 2026-11-27T00:00:00Z) advancing by ``step``
        unless :meth:`append` is given a time.
        """
        self.folder = Path(folder)
        (self.folder / "snapshots").mkdir(parents=True, exist_ok=True)
        self.origin = origin
        self.signer = signer
        self.ranges: list[KeyRange] = []
        self.notes: list[str] = []
        self.frontier = CompactRange()
        self.prev = ZERO_PREV
        self.last_time = ""
        self._clock = start or datetime(2026, 11, 27, tzinfo=UTC)
        self._step = step
        self._sign_batch = sign_batch
        self._batch = batch
        self._pending: list[tuple[bytes, bytes]] = []
        self._out = (self.folder / "entries.jsonl").open("wb")
        self._key_from = 0
        self.append("log.created", {"origin": origin, "key": str(signer.verifier)})

    @property
    def size(self) -> int:
        """Number of entries appended."""
        return self.frontier.size

    def append(
        self,
        kind: str,
        body: Mapping[str, Any],
        actor: Mapping[str, str] = SYSTEM_ACTOR,
        when: str | None = None,
    ) -> dict[str, Any]:
        """Append one entry; return it.

        Raises:
            LedgerError: ``ledger:entry`` for a bad entry or a time earlier than the last.
        """
        if when is None:
            when = format_time(self._clock)
            self._clock += self._step
        if when < self.last_time:
            raise LedgerError("ledger:entry", f"time {when} is earlier than {self.last_time}")
        entry = {
            "v": 1,
            "log": self.origin,
            "seq": self.size,
            "time": when,
            "type": kind,
            "actor": dict(actor),
            "prev": self.prev,
            "body": dict(body),
        }
        data = validate_entry(entry)
        leaf = leaf_of(data)
        self.frontier.push(leaf)
        self.prev, self.last_time = leaf.hex(), when
        self._pending.append((data, leaf))
        if len(self._pending) >= self._batch:
            self.flush()
        return entry

    def flush(self) -> None:
        """Sign and write the entries appended since the last flush."""
        if not self._pending:
            return
        signatures = self._sign_batch(self.signer, [leaf for _, leaf in self._pending])
        key_id = self.signer.key_id
        self._out.write(
            b"".join(
                record_line(data, key_id, leaf, sig)
                for (data, leaf), sig in zip(self._pending, signatures, strict=True)
            )
        )
        self._pending.clear()

    def checkpoint(self, *extra: NoteSigner) -> str:
        """Issue a checkpoint of the current size, signed by the log key and ``extra`` keys."""
        cp = Checkpoint(self.origin, self.size, self.frontier.root(), self.last_time)
        note = checkpoint_note(cp, [self.signer, *extra])
        self.notes.append(note)
        return note

    def rotate(
        self, new: NoteSigner, reason: str = "scheduled", *, dual_sign: bool = False
    ) -> dict[str, Any]:
        """Rotate the log key (ledger.md §4).

        Appends ``key.rotated`` signed by the old key, issues a checkpoint ending at it
        signed by the old key (and by ``new`` too with ``dual_sign``), then signs later
        entries with ``new``.
        """
        old = self.signer
        entry = self.append(
            "key.rotated",
            {"old_key": str(old.verifier), "new_key": str(new.verifier), "reason": reason},
        )
        self.flush()
        self.checkpoint(*([new] if dual_sign else []))
        self.ranges.append(KeyRange(old.verifier, self._key_from, entry["seq"]))
        self._key_from = entry["seq"] + 1
        self.signer = new
        return entry

    def add_snapshot(self, draw: str, snapshot: Mapping[str, Any]) -> str:
        """Store ``C(snapshot)`` as snapshots/<draw>.json; return its hex SHA-256."""
        data = canonical(dict(snapshot))
        (self.folder / "snapshots" / f"{draw}.json").write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def add_beacon(self, draw: str, pulse: bytes) -> None:
        """Store a beacon pulse exactly as received as beacon/<draw>.json."""
        (self.folder / "beacon").mkdir(exist_ok=True)
        (self.folder / "beacon" / f"{draw}.json").write_bytes(pulse)

    def close(self) -> None:
        """Flush entries and write keys.txt and checkpoints.txt."""
        self.flush()
        self._out.close()
        ranges = [*self.ranges, KeyRange(self.signer.verifier, self._key_from)]
        (self.folder / "keys.txt").write_text(format_keys_txt(ranges), encoding="utf-8")
        (self.folder / "checkpoints.txt").write_text(
            format_checkpoints(self.notes), encoding="utf-8"
        )

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
