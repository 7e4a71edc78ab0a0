"""A cosignature is one signature line, the supervisor's own key's."""

from __future__ import annotations

import base64

from expertdraw.domain.bundle import audit_bundle
from expertdraw.domain.notes import NoteSigner
from expertdraw.extensions import db
from expertdraw.services import export, keys, ledger

from .test_ledger_api import _grow


def test_a_cosignature_cannot_smuggle_a_failing_log_key_line_into_the_export(api, users, tmp_path):
    ledger.create_log()
    db.session.commit()
    _grow(2)
    checkpoint = ledger.latest_checkpoint()
    text = checkpoint.note[: checkpoint.note.index("\n\n") + 1]
    supervisor = NoteSigner.generate("supervisor.zt.example/li")
    own = supervisor.signature_line(text)
    log_key = keys.current_row()
    bogus = base64.b64encode(bytes.fromhex(log_key.key_id) + bytes(64)).decode()
    smuggled = own + f"\u2014 {log_key.name} {bogus}"  # a second line, under the LOG's key
    response = api("supervisor").post(
        f"/api/v1/ledger/checkpoints/{checkpoint.id}/cosignatures",
        json={"verifier_key": str(supervisor.verifier), "signature_line": smuggled},
    )
    # Either the service refuses the extra line, or the export must still verify.
    if response.status_code == 201:
        export.write_bundle(tmp_path / "bundle")
        report = audit_bundle(tmp_path / "bundle")
        assert report.ok, [str(p) for p in report.problems]
    else:
        assert response.status_code == 422
        assert response.get_json()["code"] == "cosign:signature"
