"""A supervisor cosigns the latest checkpoint from the ledger page: the page shows the note text
to sign and the consistency with the checkpoint they last cosigned; a line that does not verify
under their key is refused beside its field and stores nothing; going backwards is refused."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from expertdraw.domain.notes import NoteSigner, parse_note, sign_note
from expertdraw.extensions import db
from expertdraw.models import Checkpoint, Cosignature
from expertdraw.services import export, ledger

from ..integration import centre as c
from ..integration.inspection_helpers import append
from .test_markup import check, data_strings


def cosignatures() -> int:
    return db.session.scalar(sa.select(sa.func.count(Cosignature.id)))


def latest() -> Checkpoint:
    row = ledger.latest_checkpoint()
    assert row is not None
    return row


def signed_form(signer: NoteSigner, checkpoint: Checkpoint) -> dict[str, Any]:
    text = parse_note(checkpoint.note).text
    return {
        "checkpoint": checkpoint.id,
        "verifier_key": str(signer.verifier),
        "signature_line": signer.signature_line(text),
    }


def grow_ledger() -> None:
    """One more entry and a checkpoint covering it."""
    body = {"expert": "E0000001", "field": "status", "from": "a", "to": "b", "reason": "test"}
    append("pool.changed", body, c.NOW + timedelta(minutes=5))
    ledger.issue_checkpoint(c.NOW + timedelta(minutes=5))
    db.session.commit()


def test_the_page_shows_what_to_sign_and_a_valid_line_is_recorded(app, completed, login, tmp_path):
    client = login("sup1")
    signer = NoteSigner.generate("sup1.zt.example/2027")
    checkpoint = latest()
    page = client.get("/supervisor/ledger").get_data(as_text=True)
    assert "data-cosign" in page and 'data-consistency="none"' in page
    assert parse_note(checkpoint.note).text.splitlines()[1] in page
    assert 'name="signature_line"' in page
    for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
        html = client.get(f"/supervisor/ledger?lang={lang}").get_data(as_text=True)
        check(html, f"ledger [{lang}]", html_lang, data_strings())
    note = client.get("/supervisor/ledger/checkpoint.txt")
    assert note.mimetype == "text/plain" and note.get_data(as_text=True) == checkpoint.note

    done = client.post("/supervisor/ledger/cosign", data=signed_form(signer, checkpoint))
    assert done.status_code == 302
    row = db.session.scalars(sa.select(Cosignature)).one()
    assert row.checkpoint_id == checkpoint.id and row.verifier_key == str(signer.verifier)
    assert "data-cosigned" in client.get("/supervisor/ledger").get_data(as_text=True)
    export.write_bundle(Path(tmp_path) / "bundle")
    assert row.line in (Path(tmp_path) / "bundle" / "checkpoints.txt").read_text()

    grow_ledger()
    later = client.get("/supervisor/ledger").get_data(as_text=True)
    assert 'data-consistency="ok"' in later and "data-cosigned" not in later
    assert f'value="{signer.verifier}"' in later  # the key used last time is offered again
    assert client.post("/supervisor/ledger/cosign", data=signed_form(signer, latest())).status_code
    assert cosignatures() == 2


def test_bad_cosignatures_are_refused_beside_their_field_and_store_nothing(app, completed, login):
    client = login("sup1")
    mine, other = NoteSigner.generate("sup1.zt.example/2027"), NoteSigner.generate("x.example/1")
    checkpoint = latest()
    good = signed_form(mine, checkpoint)
    cases = {
        "verifier_key": {**good, "verifier_key": ""},
        "signature_line": {**good, "signature_line": "   "},
    }
    cases_service = {
        "verifier_key": {**good, "verifier_key": "not a verifier key at all"},
        "signature_line": {
            **good,
            "signature_line": signed_form(other, checkpoint)["signature_line"],
        },
    }
    for name, form in cases.items():
        response = client.post("/supervisor/ledger/cosign", data=form)
        assert response.status_code == 422, name
        assert f'id="f-{name}-error"' in response.get_data(as_text=True), name
    for name, form in cases_service.items():
        response = client.post("/supervisor/ledger/cosign", data=form)
        assert response.status_code == 422, name
        assert f'id="f-{name}-error"' in response.get_data(as_text=True), name
    assert cosignatures() == 0

    grow_ledger()
    assert client.post("/supervisor/ledger/cosign", data=signed_form(mine, latest())).status_code
    backwards = client.post("/supervisor/ledger/cosign?lang=en", data=good)
    assert backwards.status_code == 409
    assert "already cosigned a larger checkpoint" in backwards.get_data(as_text=True)
    assert cosignatures() == 1


def test_only_supervisors_cosign(app, completed, login):
    signer = NoteSigner.generate("admin.example/1")
    admin = login("admin")
    assert "data-cosign" not in admin.get("/supervisor/ledger").get_data(as_text=True)
    assert (
        admin.post("/supervisor/ledger/cosign", data=signed_form(signer, latest())).status_code
        == 403
    )
    assert login("pm").post("/supervisor/ledger/cosign").status_code == 403
    assert login("pm").get("/supervisor/ledger/checkpoint.txt").status_code == 403
    assert cosignatures() == 0


def test_a_checkpoint_that_does_not_extend_the_cosigned_one_is_refused(app, completed, login):
    client = login("sup1")
    mine = NoteSigner.generate("sup1.zt.example/2027")
    assert client.post("/supervisor/ledger/cosign", data=signed_form(mine, latest())).status_code
    grow_ledger()
    real = latest()
    text = parse_note(real.note).text.splitlines()
    forged_root = bytes(32)
    text[2] = base64.b64encode(forged_root).decode()
    forged_text = "\n".join(text) + "\n"
    forged = Checkpoint(
        size=real.size,
        root=forged_root.hex(),
        note=sign_note(forged_text, [NoteSigner.generate("split.example/1")]),
        issued_at=real.issued_at,
    )
    db.session.add(forged)
    db.session.commit()
    page = client.get("/supervisor/ledger").get_data(as_text=True)
    assert 'data-consistency="bad"' in page and " disabled>" in page
    refused = client.post("/supervisor/ledger/cosign?lang=en", data=signed_form(mine, forged))
    assert refused.status_code == 409
    assert "does not extend the one you cosigned last" in refused.get_data(as_text=True)
    assert cosignatures() == 1
