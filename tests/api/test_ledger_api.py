"""Ledger endpoints: state, receipts, consistency, cosignatures."""

from __future__ import annotations

from expertdraw.domain import merkle
from expertdraw.domain.notes import NoteSigner, VerifierKey
from expertdraw.domain.receipt import verify_receipt
from expertdraw.extensions import db
from expertdraw.services import keys, ledger

ACTOR = {"role": "admin", "id": "U0000000001"}


def _grow(n: int) -> None:
    for i in range(n):
        ledger.append(
            "pool.changed",
            {
                "expert": f"E{i:07d}",
                "field": "status",
                "from": "active",
                "to": "retired",
                "reason": "t",
            },
            ACTOR,
        )
    ledger.issue_checkpoint()
    db.session.commit()


def test_supervisor_reads_state_receipt_and_consistency(api, users):
    ledger.create_log()
    db.session.commit()
    _grow(6)
    sup = api("supervisor")
    state = sup.get("/api/v1/ledger").get_json()
    assert state["size"] == 7 and state["checkpoint_size"] == 7
    receipt = sup.get("/api/v1/ledger/entries/3/receipt").get_json()
    verify_receipt(receipt, [VerifierKey.parse(keys.current_row().verifier)])
    proof = sup.get("/api/v1/ledger/consistency", query_string={"old": 1, "new": 7}).get_json()
    assert merkle.verify_consistency(
        1, 7, ledger.root(1), ledger.root(7), [bytes.fromhex(h) for h in proof["proof"]]
    )
    assert api("project_manager").get("/api/v1/ledger").status_code == 403


def test_cosignature_must_verify_and_never_go_backwards(api, users):
    ledger.create_log()
    db.session.commit()
    _grow(2)
    first = ledger.latest_checkpoint()
    _grow(2)
    second = ledger.latest_checkpoint()
    sup = api("supervisor")
    signer = NoteSigner.generate("supervisor.zt.example/li")
    note_text = second.note[: second.note.index("\n\n") + 1]
    line = signer.signature_line(note_text)
    url = f"/api/v1/ledger/checkpoints/{second.id}/cosignatures"
    forged = line[:-5] + ("A" if line[-5] != "A" else "B") + line[-4:]
    bad = sup.post(url, json={"verifier_key": str(signer.verifier), "signature_line": forged})
    assert bad.status_code == 422 and bad.get_json()["code"] == "cosign:signature"
    ok = sup.post(url, json={"verifier_key": str(signer.verifier), "signature_line": line})
    assert ok.status_code == 201, ok.get_json()
    older = first.note[: first.note.index("\n\n") + 1]
    back = sup.post(
        f"/api/v1/ledger/checkpoints/{first.id}/cosignatures",
        json={"verifier_key": str(signer.verifier), "signature_line": signer.signature_line(older)},
    )
    assert back.status_code == 409 and back.get_json()["code"] == "cosign:backwards"
