"""Draws in the audit: checkpoint coverage, snapshots, beacon pulses and replay (§4-§5)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from expertdraw.domain.bundle_synth import ORIGIN, demo_signer
from expertdraw.domain.bundle_writer import BundleWriter
from expertdraw.domain.canonical import canonical
from tests.unit.ledger_factory import audit

SHARED = Path(os.environ.get("EXPERTDRAW_SHARED") or Path(__file__).resolve().parents[3] / "shared")
EXAMPLE = json.loads((SHARED / "vectors" / "draw-example.json").read_text("utf-8"))
BEACON = SHARED / "vectors" / "nist-beacon"
PULSE = (BEACON / "pulse-2-1921300.json").read_bytes()
CERTIFICATE = (BEACON / "certificate-528943a5.pem").read_bytes()
MANAGER = {"role": "manager", "id": "U0001"}


def writer(folder: Path, start: datetime | None = None) -> BundleWriter:
    w = BundleWriter(folder, ORIGIN, demo_signer(f"{ORIGIN}/2026a"), start=start)
    w.checkpoint()
    return w


def announce(w: BundleWriter, part: dict[str, Any]) -> int:
    w.add_snapshot(part["snapshot"]["draw"], part["snapshot"])
    return w.append("draw.announced", part["announced"], MANAGER)["seq"]


def example_bundle(folder: Path, sup_snapshot: dict[str, Any] | None = None) -> dict[str, int]:
    """The worked example of draw.md as a ledger: every kind of draw entry, all covered;
    ``sup_snapshot`` stands in for the supplementary draw's snapshot (announced with its
    hash)."""
    w, seqs = writer(folder), {}
    sup, failed, lottery = (
        EXAMPLE[k] for k in ("supplementary_example", "failed_example", "rfc3797_example")
    )
    if sup_snapshot is not None:
        sup = dict(sup, snapshot=sup_snapshot)
        sup["announced"] = dict(
            sup["announced"], snapshot_hash=hashlib.sha256(canonical(sup_snapshot)).hexdigest()
        )
    steps = [
        ("announced", lambda: announce(w, EXAMPLE)),
        ("completed", lambda: w.append("draw.completed", EXAMPLE["completed"])["seq"]),
    ]
    for name in ("replacement", "second_replacement"):
        body = EXAMPLE[name]["expected_draw_replaced_body"]
        steps.append((name, lambda body=body: w.append("draw.replaced", body)["seq"]))
    steps += [
        ("sup_announced", lambda: announce(w, sup)),
        ("sup_completed", lambda: w.append("draw.completed", sup["completed"])["seq"]),
        (
            "third",
            lambda: w.append(
                "draw.replaced", EXAMPLE["third_replacement"]["expected_draw_replaced_body"]
            )["seq"],
        ),
        ("failed_announced", lambda: announce(w, failed)),
        ("failed", lambda: w.append("draw.failed", failed["failed"])["seq"]),
        ("lottery_announced", lambda: announce(w, lottery)),
        ("lottery_completed", lambda: w.append("draw.completed", lottery["completed"])["seq"]),
        (
            "lottery_replaced",
            lambda: w.append(
                "draw.replaced", lottery["replacement"]["expected_draw_replaced_body"]
            )["seq"],
        ),
    ]
    for name, step in steps:
        seqs[name] = step()
        w.checkpoint()
    w.close()
    return seqs


class FakeEngine(types.ModuleType):
    """Stands in for expertdraw.domain.draw and records its calls."""

    def __init__(self, verdict: str | None = None) -> None:
        super().__init__("expertdraw.domain.draw")
        self.calls: list[tuple[str, tuple, dict]] = []
        self.verdict = verdict

    def replay(self, snapshot, announced, body):
        self.calls.append(("replay", (snapshot, announced, body), {}))
        return self.verdict

    def supplementary_snapshot(self, *args, **kwargs):
        from expertdraw.domain.draw_supplementary import supplementary_snapshot

        return supplementary_snapshot(*args, **kwargs)

    def replay_replacement(
        self,
        snapshot,
        completed,
        prior,
        body,
        algorithm=None,
        *,
        supplementary_members=(),
        supplementary_draws=(),
    ):
        kwargs = {
            "algorithm": algorithm,
            "supplementary_members": supplementary_members,
            "supplementary_draws": supplementary_draws,
        }
        self.calls.append(("replay_replacement", (snapshot, completed, list(prior), body), kwargs))
        return self.verdict


def test_the_worked_example_replays_with_the_draw_engine(tmp_path):
    example_bundle(tmp_path)
    report = audit(tmp_path, replay=True)
    assert report.ok, [str(p) for p in report.problems]
    assert report.summary["replayed"] == 8


def test_replay_hands_the_engine_each_result_with_its_history(tmp_path, monkeypatch):
    seqs = example_bundle(tmp_path)
    engine = FakeEngine()
    monkeypatch.setitem(sys.modules, "expertdraw.domain.draw", engine)
    assert audit(tmp_path, replay=True).ok
    names = [name for name, _, _ in engine.calls]
    assert names == [
        "replay",
        "replay_replacement",
        "replay_replacement",
        "replay",
        "replay_replacement",
        "replay",
        "replay",
        "replay_replacement",
    ]
    snapshot, announced, body = engine.calls[0][1]
    assert snapshot == EXAMPLE["snapshot"] and announced == EXAMPLE["announced"]
    assert body == EXAMPLE["completed"]
    _, (_, completed, prior, body), kwargs = engine.calls[4]  # the third replacement
    assert completed == EXAMPLE["completed"]
    assert [p["out"] for p in prior] == ["E0000044", "E0000107"]
    assert kwargs["algorithm"] == "expertdraw-score-v1"
    assert kwargs["supplementary_draws"] == ["D2026-000123-R1"]
    committee = EXAMPLE["third_replacement"]["committee"]
    assert kwargs["supplementary_members"] == committee
    assert seqs["third"] > seqs["sup_completed"]


def test_a_replay_difference_is_a_problem_at_the_result(tmp_path, monkeypatch):
    seqs = example_bundle(tmp_path)
    monkeypatch.setitem(sys.modules, "expertdraw.domain.draw", FakeEngine("members differ"))
    report = audit(tmp_path, replay=True)
    assert report.first.seq == seqs["completed"] and report.first.code == "draw:replay"
    assert "members differ" in report.first.message


def test_a_missing_engine_is_reported_once_as_replay_unavailable(tmp_path, monkeypatch):
    example_bundle(tmp_path)
    monkeypatch.setitem(sys.modules, "expertdraw.domain.draw", types.ModuleType("empty"))
    report = audit(tmp_path, replay=True)
    codes = [p.code for p in report.problems]
    assert codes == ["draw:replay-unavailable"] * 3  # each function
    assert audit(tmp_path).ok  # without --replay the engine is not needed


def _forged_supplementary(change: str) -> dict[str, Any]:
    snapshot = copy.deepcopy(EXAMPLE["supplementary_example"]["snapshot"])
    stratum = snapshot["strata"][0]
    if change == "taken":  # a member of D offered again
        stratum["candidates"].append({"id": "E0000044", "group": "G0044"})
        stratum["candidates"].sort(key=lambda c: c["id"])
    else:  # more places than D has open
        stratum["count"] += 1
    return snapshot


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("taken", "offers E0000044, taken for its draw or of a group-full group"),
        ("places", "asks for places {'technical': 2}, its draw has open {'technical': 1}"),
    ],
)
def test_a_supplementary_snapshot_offers_only_what_its_draw_leaves(tmp_path, change, message):
    """draw.md §6.4: ``D-R<n>`` is drawn for ``D``'s open places, from experts never taken
    or sent a notice for ``D``. A snapshot that offers more is a finding at its announcement,
    though the draw replays from it."""
    seqs = example_bundle(tmp_path, _forged_supplementary(change))
    report = audit(tmp_path, replay=True)
    found = [p for p in report.problems if p.code == "draw:supplementary"]
    assert [(p.seq, p.message) for p in found] == [
        (seqs["sup_announced"], f"D2026-000123-R1 {message}")
    ]
    assert "draw:supplementary" not in {p.code for p in audit(tmp_path).problems}


@pytest.mark.parametrize("gap", ["announced", "failed"])
def test_announcements_must_be_covered_before_their_result(tmp_path, gap):
    w = writer(tmp_path)
    a = announce(w, EXAMPLE)
    if gap != "announced":
        w.checkpoint()
    w.append("draw.completed", EXAMPLE["completed"])
    w.checkpoint()
    fa = announce(w, EXAMPLE["failed_example"])
    if gap != "failed":
        w.checkpoint()
    w.append("draw.failed", EXAMPLE["failed_example"]["failed"])  # after entropy: replays
    w.checkpoint()
    w.close()
    report = audit(tmp_path)
    expected = {"announced": a, "failed": fa}[gap]
    assert [(p.code, p.seq) for p in report.problems] == [("draw:coverage", expected)]


@pytest.mark.parametrize("last", ["completed", "replaced"])
def test_results_must_be_covered_by_a_checkpoint(tmp_path, last):
    w = writer(tmp_path)
    announce(w, EXAMPLE)
    w.checkpoint()
    seq = w.append("draw.completed", EXAMPLE["completed"])["seq"]
    if last == "replaced":
        w.checkpoint()
        body = EXAMPLE["replacement"]["expected_draw_replaced_body"]
        seq = w.append("draw.replaced", body)["seq"]
    w.close()
    report = audit(tmp_path)
    assert [(p.code, p.seq) for p in report.problems] == [("draw:coverage", seq)]
    assert report.summary["uncovered_tail"] == 1


def test_a_failure_before_the_entropy_needs_no_covered_announcement(tmp_path):
    w = writer(tmp_path)
    announce(w, EXAMPLE["failed_example"])
    body = {k: EXAMPLE["failed_example"]["failed"][k] for k in ("draw", "secret")}
    w.append("draw.failed", {**body, "reason": "cancelled"})
    w.checkpoint()
    w.close()
    assert audit(tmp_path).ok


def test_snapshot_files_must_be_exact_and_present(tmp_path):
    seqs = example_bundle(tmp_path)
    path = tmp_path / "snapshots" / "D2026-000123.json"
    original = path.read_bytes()
    path.write_bytes(original.replace(b'"max_per_group":1', b'"max_per_group": 1'))
    report = audit(tmp_path)
    assert report.first.seq == seqs["announced"] and report.first.code == "draw:snapshot"
    path.unlink()
    assert "missing" in audit(tmp_path).first.message
    path.write_bytes(original)
    assert audit(tmp_path).ok


def beacon_bundle(
    folder: Path,
    pulse: bytes = PULSE,
    not_before: str | None = None,
    announced_at: str = "2026-08-31T19:03:10.000Z",
) -> int:
    """A draw whose entropy is the NIST vector pulse; returns the seq of its completion (its
    announcement is the entry before)."""
    output = json.loads(PULSE)["pulse"]["outputValue"].lower()
    w = writer(folder, datetime(2026, 8, 31, 19, 0, tzinfo=UTC))
    snapshot = dict(EXAMPLE["snapshot"], draw="D2026-000777")
    entropy = {
        "kind": "beacon",
        "source": "nist-beacon-2.0",
        "not_before": not_before or "2026-08-31T19:03:30.000Z",
    }
    announced = dict(
        EXAMPLE["announced"],
        draw="D2026-000777",
        entropy=entropy,
        snapshot_hash=w.add_snapshot("D2026-000777", snapshot),
    )
    w.append("draw.announced", announced, MANAGER, when=announced_at)
    w.checkpoint()
    completed = dict(EXAMPLE["completed"], draw="D2026-000777", entropy_value=output)
    w.add_beacon("D2026-000777", pulse)
    seq = w.append("draw.completed", completed, when="2026-08-31T19:04:05.000Z")["seq"]
    w.checkpoint()
    w.close()
    return seq


def test_a_beacon_pulse_must_give_the_entropy_value_after_not_before(tmp_path):
    seq = beacon_bundle(tmp_path / "good")
    assert audit(tmp_path / "good").ok
    beacon_bundle(tmp_path / "late", not_before="2026-08-31T19:05:00.000Z")
    report = audit(tmp_path / "late")
    assert report.first.code == "draw:beacon" and report.first.seq == seq
    assert "not_before" in report.first.message
    earlier = (BEACON / "pulse-2-1921299.json").read_bytes()
    beacon_bundle(
        tmp_path / "other",
        earlier,
        not_before="2026-08-31T19:02:30.000Z",
        announced_at="2026-08-31T19:02:00.000Z",
    )
    assert "entropy_value" in audit(tmp_path / "other").first.message
    beacon_bundle(tmp_path / "missing")
    (tmp_path / "missing" / "beacon" / "D2026-000777.json").unlink()
    assert "missing" in audit(tmp_path / "missing").first.message


def test_a_beacon_pulse_must_be_the_first_at_or_after_not_before(tmp_path):
    """draw.md §3.1: *the first* pulse at or after ``not_before``. The vector pulse of 19:04
    is not the first after 19:02:30 (the 19:03 pulse is): whoever held the secret could have
    picked among outcomes. One period after ``not_before`` exactly is no longer the first."""
    seq = beacon_bundle(
        tmp_path / "later",
        not_before="2026-08-31T19:02:30.000Z",
        announced_at="2026-08-31T19:02:00.000Z",
    )
    report = audit(tmp_path / "later")
    assert [(p.code, p.seq) for p in report.problems] == [("draw:beacon", seq)]
    assert "not the first" in report.first.message
    beacon_bundle(
        tmp_path / "edge",
        not_before="2026-08-31T19:03:00.000Z",
        announced_at="2026-08-31T19:02:00.000Z",
    )
    assert "not the first" in audit(tmp_path / "edge").first.message
    beacon_bundle(
        tmp_path / "first",
        not_before="2026-08-31T19:03:00.001Z",
        announced_at="2026-08-31T19:02:00.000Z",
    )
    assert audit(tmp_path / "first").ok


@pytest.mark.parametrize("announced_at", ["2026-08-31T19:03:30.000Z", "2026-08-31T19:03:45.000Z"])
def test_a_beacon_announced_at_or_after_its_not_before_fails_at_the_announcement(
    tmp_path, announced_at
):
    """draw.md §3.1: the first pulse at or after not_before, "which must be later than the
    announcement"; otherwise the entropy may have existed before the commitment."""
    seq = beacon_bundle(tmp_path, announced_at=announced_at)
    report = audit(tmp_path)
    assert report.first.code == "draw:beacon" and report.first.seq == seq - 1
    assert "not later than the announcement" in report.first.message
    assert [p.code for p in report.problems] == ["draw:beacon"]  # the pulse itself is right


def test_on_replay_the_pulse_signature_is_checked_with_nist_certificate(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "expertdraw.domain.draw", FakeEngine())
    beacon_bundle(tmp_path / "good")
    assert audit(tmp_path / "good", replay=True, beacon_certificates=CERTIFICATE).ok
    no_cert = audit(tmp_path / "good", replay=True)
    assert [p.code for p in no_cert.problems] == ["draw:beacon"]
    pulse = json.loads(PULSE)
    pulse["pulse"]["signatureValue"] = "00" + pulse["pulse"]["signatureValue"][2:]
    seq = beacon_bundle(tmp_path / "forged", json.dumps(pulse).encode())
    report = audit(tmp_path / "forged", replay=True, beacon_certificates=CERTIFICATE)
    assert report.first.code == "draw:beacon" and report.first.seq == seq
    assert "verify_pulse failed" in report.first.message


def test_notices_answers_and_openings_must_match_the_draws_of_the_log(tmp_path):
    """A notice to an expert who was not drawn, an answer to a notice never sent to that
    expert, a list opening of a draw never announced, and a snapshot of no announced draw are
    each named; a notice to a member, answered by them, is not."""
    good = tmp_path / "good"
    w = writer(good)
    announce(w, EXAMPLE)
    w.checkpoint()
    w.append("draw.completed", EXAMPLE["completed"])
    draw = EXAMPLE["completed"]["draw"]
    member = EXAMPLE["completed"]["members"][0]["expert"]
    notice = {"draw": draw, "notice": "N1", "expert": member, "channel": "inbox"}
    w.append("notice.sent", notice)
    w.append("notice.answered", {**notice_answer(notice), "answer": "accepted"})
    w.append("list.opened", {"draw": draw, "by": "U0009", "purpose": "evaluation"})
    w.checkpoint()
    w.close()
    assert audit(good).ok, audit(good).problems

    bad = tmp_path / "bad"
    w = writer(bad)
    announce(w, EXAMPLE)
    w.checkpoint()
    w.append("draw.completed", EXAMPLE["completed"])
    stranger = {"draw": draw, "notice": "N2", "expert": "E9999999", "channel": "sms"}
    w.append("notice.sent", stranger)
    w.append("notice.answered", {**notice_answer(notice), "answer": "declined"})
    w.append("list.opened", {"draw": "D2026-999999", "by": "U0009", "purpose": "audit"})
    w.checkpoint()
    w.add_snapshot("D2026-888888", EXAMPLE["snapshot"])
    w.close()
    found = [(p.code, p.where, p.message) for p in audit(bad).problems]
    assert [code for code, _, _ in found] == ["draw:event"] * 3 + ["draw:snapshot"]
    assert "E9999999, who was not drawn" in found[0][2]
    assert "not sent to them" in found[1][2]
    assert "D2026-999999, never announced" in found[2][2]
    assert found[3][1] == "snapshots/D2026-888888.json"


def notice_answer(sent: dict[str, Any]) -> dict[str, Any]:
    return {"draw": sent["draw"], "notice": sent["notice"], "expert": sent["expert"], "reason": ""}
