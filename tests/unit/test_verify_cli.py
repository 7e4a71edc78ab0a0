"""``python -m expertdraw.verify`` as a supervisor runs it: exit 0 clean, 1 problems, 2 usage."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

import expertdraw.verify
from tests.unit.ledger_factory import lines, receipt_for, small_bundle, write_lines
from tests.verifier import run_verifier

REPO = Path(__file__).resolve().parents[2]


run = run_verifier


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "bundle"
    info = small_bundle(folder, 80, rotate_at=40, cosign=True)
    return folder, info


def test_a_good_bundle_exits_0(bundle):
    folder, info = bundle
    done = run(folder, "--entry-signatures", "--cosigner", str(info.cosigner.verifier))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("OK: 80 entries")
    assert "entry signatures not checked" not in done.stdout
    cosigned = [line for line in done.stdout.splitlines() if line.startswith("COSIGNED ")]
    assert len(cosigned) == 1 and info.cosigner.verifier.name in cosigned[0]
    assert ": 0 checkpoints" not in cosigned[0]


def test_without_entry_signatures_the_ok_says_they_were_not_checked(bundle):
    folder, _ = bundle
    done = run(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "entry signatures not checked: add --entry-signatures" in done.stdout


def test_a_cosigner_whose_signatures_were_stripped_is_told(bundle, tmp_path):
    """Removing a supervisor's cosignature lines must not leave their own check saying OK."""
    folder, info = bundle
    stripped = tmp_path / "stripped"
    stripped.mkdir()
    for name in ("entries.jsonl", "keys.txt"):
        (stripped / name).write_bytes((folder / name).read_bytes())
    (stripped / "snapshots").symlink_to(folder / "snapshots")
    mark = f"\u2014 {info.cosigner.verifier.name} ".encode()
    kept = [
        line
        for line in (folder / "checkpoints.txt").read_bytes().split(b"\n")
        if not line.startswith(mark)
    ]
    assert len(kept) < len((folder / "checkpoints.txt").read_bytes().split(b"\n"))
    (stripped / "checkpoints.txt").write_bytes(b"\n".join(kept))
    done = run(stripped, "--cosigner", str(info.cosigner.verifier))
    assert done.returncode == 1, done.stdout
    assert "no checkpoint carries a verifying signature of cosigner" in done.stdout
    assert f"COSIGNED {info.cosigner.verifier.name}: 0 checkpoints" in done.stdout


def test_a_bad_bundle_exits_1_and_names_the_bad_seq(bundle, tmp_path):
    folder, _ = bundle
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("checkpoints.txt", "keys.txt"):
        (bad / name).write_bytes((folder / name).read_bytes())
    (bad / "snapshots").symlink_to(folder / "snapshots")
    old = lines(folder)
    write_lines(bad, [*old[:33], old[33].replace(b'"seq":33', b'"seq":34'), *old[34:]])
    done = run(bad)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("PROBLEM seq 33: ")
    assert "first bad place: seq 33" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["/nonexistent/bundle"],
        ["--no-such-flag"],
        [],
        ["verify-receipt", "x.json"],
        ["verify-receipt", "x.json", "--key", "not-a-key"],
    ],
)
def test_usage_errors_exit_2(args, capsys):
    try:
        status = expertdraw.verify.main(args)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    assert status == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--workers", "0"], "--workers must be 1 to 64, got 0"),
        (["--workers", "100000"], "--workers must be 1 to 64, got 100000"),
        (["--max-problems", "-1"], "--max-problems must be 0 or more"),
    ],
)
def test_numbers_out_of_range_exit_2_before_any_work(bundle, extra, said, capsys):
    """An absurd worker count would start that many processes: refused, naming the option."""
    assert expertdraw.verify.main([str(bundle[0]), *extra]) == 2
    assert said in capsys.readouterr().err


def test_usage_errors_exit_2_from_the_command_line():
    done = run("/nonexistent/bundle")
    assert done.returncode == 2 and "no such folder" in done.stderr


def test_verify_receipt_passes_and_fails_on_a_modified_receipt(bundle, tmp_path):
    folder, info = bundle
    receipt = receipt_for(folder, 50)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    keys = folder / "keys.txt"
    done = run("verify-receipt", path, "--key", keys)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: the receipt proves seq 50")
    assert (
        expertdraw.verify.main(
            ["verify-receipt", str(path), "--key", str(info.signers[1].verifier)]
        )
        == 0
    )
    receipt["entry"]["time"] = receipt["entry"]["time"].replace(".", ".9", 1)[:-2] + "Z"
    path.write_text(json.dumps(receipt))
    done = run("verify-receipt", path, "--key", keys)
    assert done.returncode == 1 and done.stdout.startswith("FAILED")


def test_the_verifier_imports_only_the_domain_and_the_standard_library():
    tree = ast.parse(Path(expertdraw.verify.__file__).read_text(encoding="utf-8"))
    modules = [
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    ]
    project = [m for m in modules if m.startswith("expertdraw")]
    assert project and all(m.startswith("expertdraw.domain.") for m in project)
    assert all(m.split(".")[0] in sys.stdlib_module_names or m in project for m in modules)
