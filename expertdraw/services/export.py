"""The export bundle of ledger.md §5: entries, checkpoints, keys, snapshots, beacon pulses;
as a folder, or zipped for download, with progress steps for the pages."""

from __future__ import annotations

import contextlib
import io
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ..domain.codes import validate_id
from ..extensions import db
from ..models import BeaconPulse, Checkpoint, Cosignature, LedgerEntry, Snapshot
from . import keys, steps

# Progress is reported every this many entries, and every this many snapshots or files.
STEP_ENTRIES = 2000
STEP_SNAPSHOTS = 200


class ExportError(Exception):
    """The bundle cannot be written (bad range, folder not empty)."""

    code = "export:invalid"


@dataclass(frozen=True)
class ExportSummary:
    last_seq: int
    checkpoints: int
    snapshots: int


def _check_folder(out: Path) -> None:
    """Refuse a folder the bundle cannot go into before anything is written, the tail's
    checkpoint included (a refused export changes nothing)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty")


def _prepare(out: Path) -> None:
    try:
        (out / "snapshots").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror or exc}") from None


def _last_seq(to_seq: int | None) -> int:
    last = db.session.scalar(sa.select(sa.func.max(LedgerEntry.seq)))
    if last is None:
        raise ExportError("the ledger is empty")
    if to_seq is None:
        return last
    if to_seq > last:
        raise ExportError(f"--to {to_seq} is beyond the last entry {last}")
    _check_prefix_covered(to_seq)
    return to_seq


#: The entries a checkpoint of the bundle must cover (ledger.md §5): a draw's results.
RESULTS = ("draw.completed", "draw.replaced")


def _check_prefix_covered(to_seq: int) -> None:
    """A prefix ``0..to_seq`` must hold a checkpoint covering its last draw result, or its
    own audit would report the result uncovered (``draw:coverage``), as if it were forged.

    Raises:
        ExportError: naming the nearest prefixes that end where a checkpoint ends.
    """
    result = db.session.scalar(
        sa.select(sa.func.max(LedgerEntry.seq)).where(
            LedgerEntry.type.in_(RESULTS), LedgerEntry.seq <= to_seq
        )
    )
    if result is None:
        return
    sizes = db.session.scalars(sa.select(Checkpoint.size).distinct()).all()
    if any(result < size <= to_seq + 1 for size in sizes):
        return
    below = max((size for size in sizes if size <= to_seq), default=None)
    above = min((size for size in sizes if size > to_seq + 1), default=None)
    choices = [f"--to {size - 1}" for size in (below, above) if size]
    raise ExportError(
        f"--to {to_seq} cuts the log after the draw result at seq {result} and before any "
        "checkpoint covers it, so the bundle could not be verified; a prefix that ends where "
        f"a checkpoint ends can: {' or '.join(choices) or 'export the whole log'}"
    )


def _cover_tail() -> int:
    """A whole-log export ends with a checkpoint, so a cut tail is always detectable: issue
    one over the entries so far if the latest does not cover them, and return the last seq it
    covers. The export stops there: an entry written meanwhile waits for the next export
    instead of being exported with no checkpoint over it."""
    from . import ledger

    latest = ledger.latest_checkpoint()
    if latest is None or latest.size < ledger.size():
        ledger.issue_checkpoint()
        db.session.commit()
        latest = ledger.latest_checkpoint()
    return latest.size - 1


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


def write_bundle(out: Path, to_seq: int | None = None) -> ExportSummary:
    """Write the bundle of entries ``0..to_seq`` (default: up to the checkpoint that ends the
    export, issued over every entry so far) into folder ``out``.

    The bundle is written into a hidden folder inside ``out`` and its files moved up when
    it is whole, so a failed export (a full disk, say) leaves no partial bundle that an audit
    would fail as if it had been tampered with. ``out`` may be a mount point, a symbolic link
    to an empty folder, or the current folder.

    Raises:
        ExportError: empty ledger, range beyond the log, or ``out`` not empty.
        OSError: the bundle could not be written (nothing is left behind).
    """
    _check_folder(out)
    # The folders this export makes, outermost first: a refused or failed export removes them.
    created = [folder for folder in (*reversed(out.parents), out) if not folder.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(created)
        raise ExportError(f"cannot create {out}: {exc.strerror or exc}") from None
    partial = out / f".partial-{secrets.token_hex(4)}"
    try:
        summary = steps.run(bundle_steps(partial, to_seq))
        for item in sorted(partial.iterdir()):
            item.rename(out / item.name)
        partial.rmdir()
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        _remove_empty(created)
        raise
    return summary


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (outermost first), innermost first, as far as they are empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def bundle_steps(out: Path, to_seq: int | None = None) -> steps.Steps[ExportSummary]:
    """:func:`write_bundle` step by step: ``entries`` every few thousand entries written, then
    ``snapshots``; work units are entries plus draws.

    Raises:
        ExportError: as :func:`write_bundle`.
    """
    _check_folder(out)
    last = _last_seq(to_seq)
    _prepare(out)
    if to_seq is None:
        last = _cover_tail()
    announced = (
        db.session.scalar(
            sa.select(sa.func.count(LedgerEntry.seq)).where(
                LedgerEntry.type == "draw.announced", LedgerEntry.seq <= last
            )
        )
        or 0
    )
    total = last + 1 + announced
    yield steps.Step("entries", 0, total, count=0, of=last + 1)
    draws: list[str] = []
    with (out / "entries.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
        stream = db.session.execute(
            sa.select(LedgerEntry.record, LedgerEntry.type, LedgerEntry.draw_id)
            .where(LedgerEntry.seq <= last)
            .order_by(LedgerEntry.seq)
            .execution_options(yield_per=STEP_ENTRIES)
        )
        for written, (record, kind, draw_id) in enumerate(stream, start=1):
            handle.write(record)
            handle.write("\n")
            if kind == "draw.announced" and draw_id:
                draws.append(draw_id)
            if written % STEP_ENTRIES == 0:
                yield steps.Step("entries", written, total, count=written, of=last + 1)
    notes = checkpoint_notes(last + 1)
    (out / "checkpoints.txt").write_text("---\n".join(notes), encoding="utf-8", newline="\n")
    (out / "keys.txt").write_text(keys.keys_txt(last), encoding="utf-8", newline="\n")
    yield steps.Step("snapshots", last + 1, total, count=0, of=len(draws))
    snapshots = 0
    for index, draw_id in enumerate(draws, start=1):
        validate_id(draw_id, "draw")
        snapshot = db.session.get(Snapshot, draw_id)
        if snapshot is not None:
            (out / "snapshots" / f"{draw_id}.json").write_bytes(snapshot.canonical.encode())
            snapshots += 1
        pulse = db.session.get(BeaconPulse, draw_id)
        if pulse is not None:
            (out / "beacon").mkdir(exist_ok=True)
            (out / "beacon" / f"{draw_id}.json").write_bytes(bytes(pulse.raw))
        if index % STEP_SNAPSHOTS == 0:
            yield steps.Step("snapshots", last + 1 + index, total, count=index, of=len(draws))
    return ExportSummary(last_seq=last, checkpoints=len(notes), snapshots=snapshots)


def zip_steps() -> steps.Steps[tuple[str, bytes]]:
    """The bundle of the whole ledger as a zip: ``(file name, bytes)``, with one folder
    ``expertdraw-ledger-<size>/`` inside, ready for the offline verifier.

    Yields the steps of :func:`bundle_steps` (scaled to the first 90 %), then ``zip`` per file.

    Raises:
        ExportError: the ledger is empty.
    """
    with tempfile.TemporaryDirectory(prefix="expertdraw-bundle-") as tmp:
        folder_path = Path(tmp) / "bundle"
        writing = bundle_steps(folder_path)
        while True:
            try:
                step = next(writing)
            except StopIteration as finished:
                summary: ExportSummary = finished.value
                break
            yield steps.Step(step.stage, step.done * 9, step.total * 10, step.count, step.of)
        folder = f"expertdraw-ledger-{summary.last_seq + 1}"
        files = sorted(path for path in folder_path.rglob("*") if path.is_file())
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, path in enumerate(files):
                if index % STEP_SNAPSHOTS == 0:
                    done = 9 * len(files) + index
                    yield steps.Step("zip", done, 10 * len(files), count=index, of=len(files))
                archive.write(path, f"{folder}/{path.relative_to(folder_path).as_posix()}")
    return f"{folder}.zip", buffer.getvalue()
