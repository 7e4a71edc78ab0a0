"""The offline verifier must never crash or hang on a hostile bundle; it must
report a problem naming the bad place (ledger.md §5, README "Verifying without trusting")."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

import tests.unit.test_ledger_draws as draws
from expertdraw.domain.bundle import audit_bundle
from tests.unit.ledger_factory import audit, lines, small_bundle, write_lines
from tests.verifier import REPO, run_verifier

DEEP = 5000  # far beyond Python's default recursion limit of 1000
BEACON_FILE = "beacon/D2026-000777.json"


def _nest(line: bytes) -> bytes:
    """The same line with a deeply nested array as the first member of its body."""
    return line.replace(b'"body":{', b'"body":{"a":' + b"[" * DEEP + b"]" * DEEP + b",", 1)


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr[-300:])
    assert "FAILED" in result.stdout


# --- deeply nested JSON -------------------------------------------------------------------


@pytest.mark.parametrize("seq", [0, 5])
def test_a_deeply_nested_entry_body_is_a_problem_not_a_crash(tmp_path, seq):
    small_bundle(tmp_path, 40)
    found = lines(tmp_path)
    found[seq] = _nest(found[seq])
    write_lines(tmp_path, found)
    report = audit_bundle(tmp_path)  # "never raises for a bad bundle"
    assert not report.ok and report.first.seq == seq, [str(p) for p in report.problems[:3]]


def test_the_cli_names_a_deeply_nested_line_instead_of_a_traceback(tmp_path):
    small_bundle(tmp_path, 40)
    found = lines(tmp_path)
    found[5] = _nest(found[5])
    write_lines(tmp_path, found)
    result = run_verifier(tmp_path)
    _no_traceback(result)
    assert "seq 5" in result.stdout


def test_a_deeply_nested_snapshot_file_is_a_problem_not_a_crash(tmp_path):
    draws.beacon_bundle(tmp_path)
    (tmp_path / "snapshots" / "D2026-000777.json").write_text("[" * DEEP + "]" * DEEP)
    report = audit(tmp_path)
    assert not report.ok and report.first.code == "draw:snapshot"


def test_a_deeply_nested_receipt_is_refused_not_a_crash(tmp_path):
    small_bundle(tmp_path / "b", 40)
    (tmp_path / "receipt.json").write_text("[" * DEEP + "]" * DEEP)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "expertdraw.verify",
            "verify-receipt",
            str(tmp_path / "receipt.json"),
            "--key",
            str(tmp_path / "b" / "keys.txt"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    _no_traceback(result)


# --- beacon pulse files (checked on every audit, replay or not) ---------------------------


def _pulse(**changes) -> bytes:
    pulse = json.loads(draws.PULSE)
    pulse["pulse"].update(changes)
    return json.dumps(pulse).encode()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_pulse(timeStamp="2026-08-31T19:04:00"), id="timestamp-without-offset"),
        pytest.param(_pulse(period=10**20), id="huge-period"),
        pytest.param(b"[" * DEEP + b"]" * DEEP, id="deeply-nested"),
    ],
)
def test_a_damaged_beacon_pulse_is_a_problem_not_a_crash(tmp_path, content):
    seq = draws.beacon_bundle(tmp_path)
    (tmp_path / BEACON_FILE).write_bytes(content)
    report = audit(tmp_path)  # raises TypeError / OverflowError / RecursionError today
    assert not report.ok and report.first.code == "draw:beacon" and report.first.seq == seq


@pytest.mark.parametrize("kind", ["directory", "dangling-symlink"])
def test_an_odd_pem_entry_in_the_beacon_folder_is_not_a_crash(tmp_path, kind):
    draws.beacon_bundle(tmp_path)
    pem = tmp_path / "beacon" / "extra.pem"
    if kind == "directory":
        pem.mkdir()
    else:
        pem.symlink_to(tmp_path / "nowhere.pem")
    result = run_verifier(tmp_path)
    assert "Traceback" not in result.stderr, result.stderr[-400:]


def test_a_fifo_named_pem_in_the_beacon_folder_does_not_hang_the_verifier(tmp_path):
    draws.beacon_bundle(tmp_path)
    os.mkfifo(tmp_path / "beacon" / "extra.pem")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "expertdraw.verify", str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the verifier hangs reading beacon/extra.pem (a FIFO)")
    assert "Traceback" not in result.stderr


# --- replay of a malformed supplementary result -------------------------------------------


@pytest.mark.parametrize(
    "members", [["E0000058"], [None], 7, [{"stratum": "technical", "expert": ["E0000058"]}]]
)
def test_a_malformed_supplementary_result_is_a_replay_problem_not_a_crash(
    tmp_path, monkeypatch, members
):
    example = copy.deepcopy(draws.EXAMPLE)
    example["supplementary_example"]["completed"]["members"] = members
    monkeypatch.setattr(draws, "EXAMPLE", example)
    seqs = draws.example_bundle(tmp_path)
    report = audit(tmp_path, replay=True)  # AttributeError / TypeError today
    assert not report.ok and report.first.seq == seqs["sup_completed"]
