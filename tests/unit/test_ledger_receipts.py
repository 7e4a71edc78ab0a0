"""Receipts (ledger.md §5) prove one entry to someone who holds only a checkpoint."""

from __future__ import annotations

import copy
import json

import pytest

from expertdraw.domain.ledger_files import TrustList, parse_keys_txt
from expertdraw.domain.receipt import ReceiptError, verify_receipt
from tests.unit.ledger_factory import receipt_for, small_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("receipts") / "bundle"
    info = small_bundle(folder, 90, rotate_at=45)
    return folder, info


def test_receipts_verify_with_bare_keys_and_with_a_trust_list(bundle):
    folder, info = bundle
    trust = TrustList(parse_keys_txt((folder / "keys.txt").read_text()))
    for seq in (0, 1, 44, 45, 46, 89):
        receipt = receipt_for(folder, seq)
        check = verify_receipt(receipt, [s.verifier for s in info.signers])
        assert check.seq == seq and check.tree_size == 90
        assert verify_receipt(receipt, trust).signed_by == trust.key_at(seq).key.name


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda r: r["entry"]["body"].update(extra="x"), "receipt:signature"),
        (lambda r: r["entry"].update(seq=r["entry"]["seq"] + 1), "receipt:entry"),
        (lambda r: r.update(index=r["index"] + 1), "receipt:entry"),
        (lambda r: r["inclusion"].reverse(), "receipt:inclusion"),
        (lambda r: r["inclusion"].pop(), "receipt:inclusion"),
        (lambda r: r.update(tree_size=r["tree_size"] - 1), "receipt:checkpoint"),
        (
            lambda r: r.update(checkpoint=r["checkpoint"].replace("\n90\n", "\n91\n")),
            "receipt:checkpoint",
        ),
        (lambda r: r.update(key="00000000"), "receipt:key"),
        (lambda r: r.update(sig=r["sig"][:-4] + "AAA="), "receipt:signature"),
        (lambda r: r.update(extra=1), "receipt:format"),
    ],
)
def test_a_modified_receipt_fails_with_the_right_code(bundle, change, code):
    folder, info = bundle
    receipt = copy.deepcopy(receipt_for(folder, 30))
    change(receipt)
    with pytest.raises(ReceiptError) as caught:
        verify_receipt(receipt, [s.verifier for s in info.signers])
    assert caught.value.code == code


def test_a_receipt_signed_by_a_key_the_verifier_does_not_hold_fails(bundle):
    folder, info = bundle
    receipt = receipt_for(folder, 60)
    only_old = [info.signers[0].verifier]
    with pytest.raises(ReceiptError) as caught:
        verify_receipt(receipt, only_old)
    assert caught.value.code == "receipt:key"


def _with_time(receipt: dict, time: str, signer) -> dict:
    """The receipt with its checkpoint's time line changed, signed again by ``signer``."""
    from dataclasses import replace

    from expertdraw.domain.checkpoint import checkpoint_note, parse_checkpoint
    from expertdraw.domain.notes import parse_note

    checkpoint = parse_checkpoint(parse_note(receipt["checkpoint"]).text)
    return dict(receipt, checkpoint=checkpoint_note(replace(checkpoint, time=time), [signer]))


def test_a_checkpoint_time_must_be_that_of_the_trees_last_entry(bundle):
    """ledger.md §4: the checkpoint's time is entry n-1's. Signed by the log's own key, a
    checkpoint dated before the entry it proves, or (for the last entry) at another time
    than that entry's, is refused."""
    folder, info = bundle
    signer = info.signers[-1]
    last = receipt_for(folder, 89)
    entry_time = last["entry"]["time"]
    assert verify_receipt(_with_time(last, entry_time, signer), [signer.verifier]).seq == 89
    for seq, time in ((89, "2000-01-01T00:00:00.000Z"), (89, "2999-01-01T00:00:00.000Z")):
        with pytest.raises(ReceiptError) as caught:
            verify_receipt(_with_time(receipt_for(folder, seq), time, signer), [signer.verifier])
        assert caught.value.code == "receipt:checkpoint" and "checkpoint time" in str(caught.value)
    early = _with_time(receipt_for(folder, 60), "2000-01-01T00:00:00.000Z", signer)
    with pytest.raises(ReceiptError, match="checkpoint time"):
        verify_receipt(early, [signer.verifier])


def test_bare_keys_say_that_key_ranges_went_unchecked(bundle, tmp_path, capsys):
    """A key retired at a rotation signs nothing after it: only keys.txt can tell. With bare
    keys the verifier says so beside its OK."""
    from expertdraw.verify import main

    folder, info = bundle
    trust = TrustList(parse_keys_txt((folder / "keys.txt").read_text()))
    receipt = receipt_for(folder, 60)
    assert verify_receipt(receipt, [s.verifier for s in info.signers]).ranges_checked is False
    assert verify_receipt(receipt, trust).ranges_checked is True
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    keys = [arg for s in info.signers for arg in ("--key", str(s.verifier))]
    assert main(["verify-receipt", str(path), *keys]) == 0
    assert "NOTE: the keys were given without their seq ranges" in capsys.readouterr().out
    assert main(["verify-receipt", str(path), "--key", str(folder / "keys.txt")]) == 0
    assert "NOTE" not in capsys.readouterr().out
