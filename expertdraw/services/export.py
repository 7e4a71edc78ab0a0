"""The export bundle of ledger.md §5: entries, checkpoints, keys, snapshots, beacon pulses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ..domain.codes import validate_id
from ..extensions import db
from ..models import BeaconPulse, Checkpoint, Cosignature, LedgerEntry, SigningKey, Snapshot


class ExportError(Exception):
    """The bundle cannot be written (bad range, folder not empty)."""

    code = "export:invalid"


@dataclass(frozen=True)
class ExportSummary:
    last_seq: int
    checkpoints: int
    snapshots: int


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty")
    (out / "snapshots").mkdir(parents=True, exist_ok=True)


def _last_seq(to_seq: int | None) -> int:
    last = db.session.scalar(sa.select(sa.func.max(LedgerEntry.seq)))
    if last is None:
        raise ExportError("the ledger is empty")
    if to_seq is None:
        return last
    if to_seq > last:
        raise ExportError(f"--to {to_seq} is beyond the last entry {last}")
    return to_seq


def _cover_tail() -> None:
    """A whole-log export ends with a checkpoint, so a cut tail is always detectable."""
    from . import ledger

    latest = ledger.latest_checkpoint()
    if latest is not None and latest.size < ledger.size():
        ledger.issue_checkpoint()
        db.session.commit()


def checkpoint_notes(max_size: int) -> list[str]:
    """Every checkpoint up to ``max_size`` in issue order, with supervisors' cosignatures."""
    cosigned: dict[int, list[str]] = {}
    for checkpoint_id, line in db.session.execute(
        sa.select(Cosignature.checkpoint_id, Cosignature.line).order_by(Cosignature.id)
    ):
        cosigned.setdefault(checkpoint_id, []).append(line)
    notes = []
    for row in db.session.scalars(
        sa.select(Checkpoint).where(Checkpoint.size <= max_size).order_by(Checkpoint.id)
    ):
        notes.append(row.note + "".join(cosigned.get(row.id, [])))
    return notes


def keys_lines(last_seq: int) -> str:
    """``keys.txt`` for a bundle ending at ``last_seq``."""
    rows = list(
        db.session.scalars(
            sa.select(SigningKey)
            .where(SigningKey.from_seq <= last_seq)
            .order_by(SigningKey.from_seq)
        )
    )
    lines = []
    for index, row in enumerate(rows):
        if index == len(rows) - 1:
            lines.append(f"{row.verifier} {row.from_seq}\n")
        else:
            lines.append(f"{row.verifier} {row.from_seq} {row.to_seq}\n")
    return "".join(lines)


def write_bundle(out: Path, to_seq: int | None = None) -> ExportSummary:
    """Write the bundle of entries ``0..to_seq`` (default: all) into folder ``out``.

    Raises:
        ExportError: empty ledger, range beyond the log, or ``out`` not empty.
    """
    if to_seq is None:
        _cover_tail()
    last = _last_seq(to_seq)
    _prepare(out)
    draws: list[str] = []
    with (out / "entries.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
        stream = db.session.execute(
            sa.select(LedgerEntry.record, LedgerEntry.type, LedgerEntry.draw_id)
            .where(LedgerEntry.seq <= last)
            .order_by(LedgerEntry.seq)
            .execution_options(yield_per=2000)
        )
        for record, kind, draw_id in stream:
            handle.write(record)
            handle.write("\n")
            if kind == "draw.announced" and draw_id:
                draws.append(draw_id)
    notes = checkpoint_notes(last + 1)
    (out / "checkpoints.txt").write_text("---\n".join(notes), encoding="utf-8", newline="\n")
    (out / "keys.txt").write_text(keys_lines(last), encoding="utf-8", newline="\n")
    snapshots = 0
    for draw_id in draws:
        validate_id(draw_id, "draw")
        snapshot = db.session.get(Snapshot, draw_id)
        if snapshot is not None:
            (out / "snapshots" / f"{draw_id}.json").write_bytes(snapshot.canonical.encode())
            snapshots += 1
        pulse = db.session.get(BeaconPulse, draw_id)
        if pulse is not None:
            (out / "beacon").mkdir(exist_ok=True)
            (out / "beacon" / f"{draw_id}.json").write_bytes(bytes(pulse.raw))
    return ExportSummary(last_seq=last, checkpoints=len(notes), snapshots=snapshots)
