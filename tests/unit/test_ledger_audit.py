"""The bundle audit (ledger.md §5): valid bundles pass; checkpoint and key faults are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expertdraw.domain.bundle_synth import ORIGIN, build_bundle, demo_signer
from expertdraw.domain.bundle_writer import BundleWriter
from expertdraw.domain.checkpoint import Checkpoint, checkpoint_note
from expertdraw.domain.ledger_files import KeyRange, format_keys_txt
from expertdraw.domain.merkle import tree_root
from tests.unit.ledger_factory import audit, lines, record, small_bundle

SIGNER = demo_signer(f"{ORIGIN}/2026a")


def filler(w: BundleWriter, n: int) -> None:
    for i in range(n):
        body = {"expert": f"E{i:07d}", "field": "status", "from": "a", "to": "b", "reason": "x"}
        w.append("pool.changed", body, {"role": "admin", "id": "U0002"})


def test_a_valid_bundle_with_every_entry_type_audits_clean(tmp_path):
    info = small_bundle(tmp_path, 300, rotate_at=150, cosign=True, dual_sign_rotation=True)
    report = audit(tmp_path, info, entry_signatures=True)
    assert report.ok, [str(p) for p in report.problems[:5]]
    kinds = {record(line)["entry"]["type"] for line in lines(tmp_path)}
    assert kinds == {
        "log.created",
        "key.rotated",
        "pool.changed",
        "draw.announced",
        "draw.completed",
        "notice.sent",
        "notice.answered",
        "draw.replaced",
        "list.opened",
        "inspection.announced",
        "inspection.drawn",
    }
    leaves = [bytes.fromhex(record(line)["leaf"]) for line in lines(tmp_path)]
    s = report.summary
    assert s["entries"] == 300 and s["root"] == tree_root(leaves).hex()
    assert s["checkpoints"] == info.checkpoints and s["keys"] == 2 and s["uncovered_tail"] == 0
    assert s["draws_announced"] > 5 and s["draws_replaced"] > 0 and s["draws_rotations"] == 1


def test_parallel_and_serial_audits_agree(tmp_path):
    build_bundle(tmp_path, 2000, rotate_at=1000, draw_every=30, checkpoint_every=100)
    serial = audit(tmp_path, workers=1, level=6)
    parallel = audit(tmp_path, workers=2, level=6)
    assert serial.ok and parallel.ok
    drop = ("seconds", "workers")
    assert {k: v for k, v in serial.summary.items() if k not in drop} == {
        k: v for k, v in parallel.summary.items() if k not in drop
    }
    old = lines(tmp_path)
    old[1500] = old[1500].replace(b'"to":"', b'"to":"X', 1)
    (tmp_path / "entries.jsonl").write_bytes(b"".join(old))
    assert (
        audit(tmp_path, workers=1, level=6).problems == audit(tmp_path, workers=2, level=6).problems
    )


def forged(w: BundleWriter, **changes) -> str:
    """A checkpoint signed by the log key but saying something else."""
    fields = {"origin": ORIGIN, "size": w.size, "root": w.frontier.root(), "time": w.last_time}
    fields.update(changes)
    return checkpoint_note(Checkpoint(**fields), [w.signer])


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"root": bytes(32)}, "checkpoint:root"),
        ({"time": "2026-11-27T00:00:00.000Z"}, "checkpoint:time"),
        ({"origin": "other.example"}, "checkpoint:origin"),
    ],
)
def test_a_signed_checkpoint_that_does_not_match_the_entries_is_named(tmp_path, change, code):
    with BundleWriter(tmp_path, ORIGIN, SIGNER) as w:
        w.checkpoint()
        filler(w, 5)
        w.notes.append(forged(w, **change))
        filler(w, 3)
        w.checkpoint()
    report = audit(tmp_path)
    assert (report.first.code, report.first.checkpoint) == (code, 1)


def test_conflicting_and_decreasing_checkpoints_are_named(tmp_path):
    with BundleWriter(tmp_path / "conflict", ORIGIN, SIGNER) as w:
        w.checkpoint()
        filler(w, 5)
        w.checkpoint()
        w.notes.append(forged(w, root=bytes(32)))
    report = audit(tmp_path / "conflict")
    assert (report.first.code, report.first.checkpoint) == ("checkpoint:conflict", 2)
    with BundleWriter(tmp_path / "order", ORIGIN, SIGNER) as w:
        w.checkpoint()
        filler(w, 5)
        w.checkpoint()
        w.notes.append(w.notes[0])
    report = audit(tmp_path / "order")
    assert (report.first.code, report.first.checkpoint) == ("checkpoint:order", 2)


def test_checkpoints_need_the_key_valid_at_their_last_entry(tmp_path):
    other = demo_signer("someone.example/x")
    with BundleWriter(tmp_path, ORIGIN, SIGNER) as w:
        w.checkpoint()
        filler(w, 2)
        w.notes.append(
            checkpoint_note(Checkpoint(ORIGIN, w.size, w.frontier.root(), w.last_time), [other])
        )
    report = audit(tmp_path)
    assert (report.first.code, report.first.checkpoint) == ("checkpoint:unsigned", 1)


def test_keys_txt_must_say_what_the_log_says(tmp_path):
    info = small_bundle(tmp_path, 80, rotate_at=40)
    keys = (tmp_path / "keys.txt").read_text()
    own = tmp_path.parent / "own-keys.txt"
    own.write_text(keys)
    a, b = (s.verifier for s in info.signers)
    shifted = format_keys_txt(
        [KeyRange(a, 0, info.rotated_at + 1), KeyRange(b, info.rotated_at + 2)]
    )
    (tmp_path / "keys.txt").write_text(shifted)
    report = audit(tmp_path)
    assert not report.ok
    assert {"entry:key", "keys:mismatch"} <= {p.code for p in report.problems}
    assert report.first.seq == info.rotated_at + 1  # the first entry the wrong list misjudges
    assert audit(tmp_path, keys_file=own).ok  # the auditor's own trust list decides


def test_missing_files_and_an_empty_checkpoints_file_are_problems(tmp_path):
    small_bundle(tmp_path, 20)
    (tmp_path / "checkpoints.txt").write_bytes(b"")
    report = audit(tmp_path)
    assert report.first.code == "checkpoint:missing"
    (tmp_path / "keys.txt").unlink()
    (tmp_path / "entries.jsonl").unlink()
    codes = {(p.code, p.file) for p in audit(tmp_path).problems}
    assert {("bundle:missing", "entries.jsonl"), ("bundle:missing", "keys.txt")} <= codes


def test_the_number_of_listed_problems_is_capped(tmp_path):
    small_bundle(tmp_path, 200, draw_every=1000)
    old = lines(tmp_path)
    new = [line.replace(b'"to":"', b'"to":"Y', 1) for line in old]
    (tmp_path / "entries.jsonl").write_bytes(b"".join(new))
    report = audit(tmp_path, max_problems=7)
    assert len(report.problems) == 7 and report.summary["problems"] > 7


def test_floats_and_unsafe_integers_in_a_line_are_named(tmp_path):
    small_bundle(tmp_path, 20, draw_every=1000)
    old = lines(tmp_path)
    rec = record(old[5])
    for bad in (b'"reason":1.5', b'"reason":9007199254740992', b'"reason":-0'):
        changed = old[5].replace(b'"reason":"admin"', bad)
        assert changed != old[5] and json.loads(changed)["entry"]["seq"] == rec["entry"]["seq"]
        (tmp_path / "entries.jsonl").write_bytes(b"".join([*old[:5], changed, *old[6:]]))
        assert audit(tmp_path).first.seq == 5


def test_prefix_exports_end_at_a_checkpoint_or_report_the_uncovered_tail(tmp_path: Path):
    with BundleWriter(tmp_path, ORIGIN, SIGNER) as w:
        w.checkpoint()
        filler(w, 4)
    report = audit(tmp_path)
    assert report.ok and report.summary["uncovered_tail"] == 4


@pytest.mark.parametrize(("seed", "entries"), [(2, 3), (3, 7), (8, 5), (19, 11), (4, 400)])
def test_a_synthetic_bundle_has_exactly_the_entries_asked(tmp_path, seed, entries):
    info = build_bundle(tmp_path / "b", entries, seed=seed)
    assert info.entries == entries
    assert audit(tmp_path / "b", info).ok
    replayed = audit(tmp_path / "b", info, replay=True)  # its draws are not made to replay
    assert [p for p in replayed.problems if p.code.startswith("inspection")] == []


def test_a_sample_drawn_in_the_v1_form_alone_audits_and_one_naming_a_plan_needs_its_announcement(
    tmp_path,
):
    """ledger.md §6 defines inspection.drawn alone; a drawn entry that names a plan (as this
    service's do) claims an inspection.announced before it."""
    bare = {"inspection": "I1", "targets": ["E1"], "inspectors": ["U7"], "seed": "ab"}
    with BundleWriter(tmp_path / "v1", ORIGIN, SIGNER) as w:
        w.checkpoint()
        w.append("inspection.drawn", bare, {"role": "supervisor", "id": "U0001"})
        w.checkpoint()
    assert audit(tmp_path / "v1", replay=True).ok
    with BundleWriter(tmp_path / "claims", ORIGIN, SIGNER) as w:
        w.checkpoint()
        claims = {**bare, "plan_hash": "00" * 32}
        w.append("inspection.drawn", claims, {"role": "supervisor", "id": "U0001"})
        w.checkpoint()
    report = audit(tmp_path / "claims", replay=True)
    assert [p.code for p in report.problems] == ["inspection:order"]
