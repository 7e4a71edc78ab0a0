"""Tampering with an exported bundle is detected and the first bad place is named (§5)."""

from __future__ import annotations

import bisect
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.ledger_factory import (
    audit,
    checkpoint_sizes,
    copy_bundle,
    lines,
    note_spans,
    small_bundle,
    write_lines,
)

ENTRIES = 120
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BYTES = settings(SETTINGS, max_examples=80)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tamper") / "bundle"
    small_bundle(folder, ENTRIES, rotate_at=60)
    assert audit(folder, entry_signatures=True).ok
    return folder


def tampered(base: Path, edit) -> tuple[object, Path]:
    """Copy ``base``, apply ``edit(folder)``, audit with entry signatures."""
    workdir = Path(tempfile.mkdtemp())
    try:
        folder = copy_bundle(base, workdir / "b")
        edit(folder)
        return audit(folder, entry_signatures=True), folder
    finally:
        shutil.rmtree(workdir)


def line_starts(base: Path) -> list[int]:
    """Byte offset of each line of entries.jsonl, and the file's length last."""
    starts = [0]
    for line in lines(base):
        starts.append(starts[-1] + len(line))
    return starts


def flip(base: Path, name: str, offset: int, xor: int):
    """An edit that changes one byte of a bundle file."""
    raw = (base / name).read_bytes()

    def edit(folder: Path) -> None:
        changed = bytearray(raw)
        changed[offset] ^= xor
        (folder / name).write_bytes(bytes(changed))

    return edit


def first_beyond(base: Path, entries: int) -> int:
    return next(i for i, size in enumerate(checkpoint_sizes(base)) if size > entries)


def assert_names_seq(report, seq: int) -> None:
    assert not report.ok
    assert report.first.seq == seq, [str(p) for p in report.problems[:3]]


def assert_names_checkpoint(report, index: int) -> None:
    assert not report.ok
    assert report.first.checkpoint == index, [str(p) for p in report.problems[:3]]


@BYTES
@given(st.data())
def test_any_changed_byte_in_entries_is_named_at_its_line(base, data):
    starts = line_starts(base)
    offset = data.draw(st.integers(0, starts[-1] - 1))
    edit = flip(base, "entries.jsonl", offset, data.draw(st.integers(1, 255)))
    report, _ = tampered(base, edit)
    assert_names_seq(report, bisect.bisect_right(starts, offset) - 1)


@SETTINGS
@given(st.integers(0, ENTRIES - 1))
def test_a_deleted_line_is_named(base, k):
    def edit(folder: Path) -> None:
        old = lines(folder)
        write_lines(folder, old[:k] + old[k + 1 :])

    report, _ = tampered(base, edit)
    if k == ENTRIES - 1:
        assert_names_checkpoint(report, first_beyond(base, ENTRIES - 1))
    else:
        assert_names_seq(report, k)


@SETTINGS
@given(st.integers(0, ENTRIES), st.integers(0, ENTRIES - 1), st.booleans())
def test_an_inserted_line_is_named(base, k, source, garbage):
    def edit(folder: Path) -> None:
        old = lines(folder)
        new = b'{"entry":{}}\n' if garbage else old[source]
        write_lines(folder, [*old[:k], new, *old[k:]])

    report, _ = tampered(base, edit)
    # a copy of line k put in front of line k reads as line k itself; the copy is then k+1
    assert_names_seq(report, k + 1 if source == k and not garbage else k)


@SETTINGS
@given(st.integers(0, ENTRIES - 1))
def test_a_duplicated_line_is_named_where_the_copy_sits(base, k):
    def edit(folder: Path) -> None:
        old = lines(folder)
        write_lines(folder, [*old[: k + 1], old[k], *old[k + 1 :]])

    report, _ = tampered(base, edit)
    assert_names_seq(report, k + 1)


@SETTINGS
@given(st.integers(0, ENTRIES - 2), st.integers(1, ENTRIES - 1))
def test_swapped_lines_are_named_at_the_first(base, i, gap):
    j = min(i + gap, ENTRIES - 1)

    def edit(folder: Path) -> None:
        old = lines(folder)
        old[i], old[j] = old[j], old[i]
        write_lines(folder, old)

    report, _ = tampered(base, edit)
    assert_names_seq(report, i)


@BYTES
@given(st.data())
def test_any_changed_byte_in_checkpoints_is_named_at_its_checkpoint(base, data):
    raw = (base / "checkpoints.txt").read_bytes()
    offset = data.draw(st.integers(0, len(raw) - 1))
    index = next(i for i, (lo, hi) in enumerate(note_spans(raw)) if lo <= offset < hi)
    edit = flip(base, "checkpoints.txt", offset, data.draw(st.integers(1, 255)))
    report, _ = tampered(base, edit)
    assert_names_checkpoint(report, index)


@SETTINGS
@given(st.data())
def test_a_duplicated_signature_line_is_named_at_its_checkpoint(base, data):
    """ledger.md §5: a duplicated line fails the audit, though each copy verifies."""
    raw = (base / "checkpoints.txt").read_bytes()
    spans = note_spans(raw)
    index = data.draw(st.integers(0, len(spans) - 1))
    lo, hi = spans[index]
    note = raw[lo:hi]
    start = note.index("\n—".encode()) + 1
    end = note.index(b"\n", start) + 1

    def edit(folder: Path) -> None:
        doubled = note[:end] + note[start:end] + note[end:]
        (folder / "checkpoints.txt").write_bytes(raw[:lo] + doubled + raw[hi:])

    report, _ = tampered(base, edit)
    assert_names_checkpoint(report, index)
    assert "appears twice" in report.first.message


@SETTINGS
@given(st.data())
def test_a_tail_cut_after_a_checkpoint_is_named(base, data):
    raw = (base / "entries.jsonl").read_bytes()
    ends = line_starts(base)
    cut = data.draw(st.integers(ends[checkpoint_sizes(base)[0]], len(raw) - 1))

    def edit(folder: Path) -> None:
        (folder / "entries.jsonl").write_bytes(raw[:cut])

    report, _ = tampered(base, edit)
    if cut in ends:  # a clean cut after a whole line: the checkpoints say what is missing
        kept = ends.index(cut)
        assert_names_checkpoint(report, first_beyond(base, kept))
        assert f"bundle ends at seq {kept - 1}" in report.first.message
    else:
        assert_names_seq(report, bisect.bisect_right(ends, cut) - 1)
