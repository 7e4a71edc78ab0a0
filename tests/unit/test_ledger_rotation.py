"""Key rotation (ledger.md §4): old key up to key.rotated, new key after; ranges in keys.txt."""

from __future__ import annotations

import pytest

from expertdraw.domain.bundle_synth import ORIGIN, demo_signer
from expertdraw.domain.bundle_writer import BundleWriter
from expertdraw.domain.checkpoint import Checkpoint, checkpoint_note
from expertdraw.domain.ledger_files import parse_keys_txt
from tests.unit.ledger_factory import audit, lines, resign, small_bundle, write_lines


@pytest.mark.parametrize("dual_sign", [False, True])
def test_a_bundle_spanning_a_rotation_verifies(tmp_path, dual_sign):
    info = small_bundle(tmp_path, 100, rotate_at=50, dual_sign_rotation=dual_sign)
    report = audit(tmp_path, entry_signatures=True)
    assert report.ok, [str(p) for p in report.problems]
    old, new = (s.verifier for s in info.signers)
    r = info.rotated_at
    ranges = parse_keys_txt((tmp_path / "keys.txt").read_text())
    assert [(k.key, k.from_seq, k.to_seq) for k in ranges] == [(old, 0, r), (new, r + 1, None)]


def test_an_entry_signed_by_the_old_key_after_the_rotation_fails(tmp_path):
    info = small_bundle(tmp_path, 100, rotate_at=50)
    old_signer, new_signer = info.signers
    seq = info.rotated_at + 3
    original = lines(tmp_path)
    sneaky = resign(original[seq], old_signer, key_id=new_signer.key_id)
    write_lines(tmp_path, [*original[:seq], sneaky, *original[seq + 1 :]])
    report = audit(tmp_path, entry_signatures=True)
    assert (report.first.code, report.first.seq) == ("entry:signature", seq)
    assert audit(tmp_path).ok  # only the signature betrays it: hence --entry-signatures
    honest = resign(original[seq], old_signer)
    write_lines(tmp_path, [*original[:seq], honest, *original[seq + 1 :]])
    report = audit(tmp_path)
    assert (report.first.code, report.first.seq) == ("entry:key", seq)


def test_an_entry_signed_by_the_new_key_before_the_rotation_fails(tmp_path):
    info = small_bundle(tmp_path, 100, rotate_at=50)
    seq = info.rotated_at - 1
    original = lines(tmp_path)
    early = resign(original[seq], info.signers[1], key_id=info.signers[0].key_id)
    write_lines(tmp_path, [*original[:seq], early, *original[seq + 1 :]])
    report = audit(tmp_path, entry_signatures=True)
    assert (report.first.code, report.first.seq) == ("entry:signature", seq)


def test_the_rotation_checkpoint_must_carry_the_old_keys_signature(tmp_path):
    old, new = demo_signer(f"{ORIGIN}/2026a"), demo_signer(f"{ORIGIN}/2026b")
    with BundleWriter(tmp_path, ORIGIN, old) as w:
        w.checkpoint()
        w.rotate(new)
        w.notes[-1] = checkpoint_note(
            Checkpoint(ORIGIN, w.size, w.frontier.root(), w.last_time), [new]
        )
    report = audit(tmp_path)
    assert (report.first.code, report.first.checkpoint) == ("checkpoint:unsigned", 1)


def test_a_rotation_as_the_last_entry_may_list_the_new_key_or_not(tmp_path):
    old, new = demo_signer(f"{ORIGIN}/2026a"), demo_signer(f"{ORIGIN}/2026b")
    with BundleWriter(tmp_path, ORIGIN, old) as w:
        w.checkpoint()
        w.rotate(new, dual_sign=True)
    assert audit(tmp_path, entry_signatures=True).ok
    keys = (tmp_path / "keys.txt").read_text().splitlines()
    (tmp_path / "keys.txt").write_text(keys[0].rsplit(" ", 1)[0] + "\n")
    assert audit(tmp_path, entry_signatures=True).ok
    (tmp_path / "keys.txt").write_text(keys[0] + "\n")  # closed, yet the last key
    assert not audit(tmp_path).ok


def test_a_cosignature_of_a_known_supervisor_must_verify(tmp_path):
    info = small_bundle(tmp_path, 60, cosign=True)
    assert audit(tmp_path, info).ok
    data = (tmp_path / "checkpoints.txt").read_text()
    line = next(x for x in data.splitlines() if x.startswith("— supervisor"))
    name, sig = line.rsplit(" ", 1)
    broken = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    (tmp_path / "checkpoints.txt").write_text(data.replace(line, f"{name} {broken}"))
    report = audit(tmp_path, info)
    assert report.first.code == "checkpoint:signature"
    assert audit(tmp_path).ok  # an unknown key's line is ignored (C2SP signed-note)


def test_a_rotation_must_name_the_key_in_use_as_its_old_key(tmp_path):
    """ledger.md §4: ``key.rotated`` names the key it retires; one naming a key the log never
    had is a broken chain of keys, even when every signature verifies."""
    old, new = demo_signer(f"{ORIGIN}/2026a"), demo_signer(f"{ORIGIN}/2026b")
    foreign = demo_signer(f"{ORIGIN}/2026x")
    with BundleWriter(tmp_path, ORIGIN, old) as w:
        w.checkpoint()
        append = w.append

        def forged(type_, body, *args, **kwargs):
            if type_ == "key.rotated":
                body = dict(body, old_key=str(foreign.verifier))
            return append(type_, body, *args, **kwargs)

        w.append = forged
        seq = w.rotate(new)["seq"]
        w.append = append
        w.append("project.awarded", {"project": "P-1", "by": "U0001"})
        w.checkpoint()
    report = audit(tmp_path, entry_signatures=True)
    assert [(p.code, p.seq) for p in report.problems] == [("keys:rotation", seq)]
