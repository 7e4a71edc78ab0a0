"""Values longer than their columns, and names nobody could read: each a 422 naming the
field (never a 500 on PostgreSQL, never stored on SQLite), with nothing written."""

from __future__ import annotations

import pytest

from expertdraw import clock
from expertdraw.domain.notes import NoteSigner
from expertdraw.extensions import db
from expertdraw.services import auth as auth_service
from expertdraw.services import ledger

from ..integration import centre as c
from .conftest import ApiClient
from .test_bad_input import _counts, _project


@pytest.fixture
def pm(app):
    with clock.frozen(c.NOW):
        centre = c.build(technical=8, economic=4, venues=6)
    _, token = auth_service.issue_token(centre.users["pm"], label="review")
    return centre, ApiClient(app.test_client(), token)


def _strata(name: str) -> list[dict[str, object]]:
    return [
        {"name": name, "specialty": "A0101", "kind": "technical", "count": 4},
        {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 1},
    ]


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("code", {"code": "P" * 33}),  # projects.code is String(32)
        ("strata.0.name", {"strata": _strata("T" * 33)}),  # strata.name is String(32)
    ],
    ids=["project code of 33", "stratum name of 33"],
)
def test_a_code_longer_than_its_column_is_refused_naming_the_field(pm, field, change):
    centre, client = pm
    before = _counts()
    body = {**_project(centre), **change}
    with clock.frozen(c.NOW):
        response = client.post("/api/v1/projects", json=body)
    assert response.status_code == 422, response.get_data(as_text=True)
    fields = [e["field"] for e in response.get_json().get("errors") or []]
    assert field in fields, response.get_json()
    assert _counts() == before


def test_a_cosignature_key_longer_than_its_column_is_refused_not_a_500(api, users):
    ledger.create_log()
    db.session.commit()
    ledger.issue_checkpoint()
    db.session.commit()
    checkpoint = ledger.latest_checkpoint()
    # A valid key whose verifier string is 234 characters: the cosignatures.verifier_key
    # column holds 200.
    signer = NoteSigner.generate("supervisor.zt.example/" + "l" * 158)
    assert 200 < len(str(signer.verifier)) <= 300
    note_text = checkpoint.note[: checkpoint.note.index("\n\n") + 1]
    line = signer.signature_line(note_text)
    assert len(line) <= 400
    response = api("supervisor").post(
        f"/api/v1/ledger/checkpoints/{checkpoint.id}/cosignatures",
        json={"verifier_key": str(signer.verifier), "signature_line": line},
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    fields = [e["field"] for e in response.get_json().get("errors") or []]
    assert "verifier_key" in fields


@pytest.mark.parametrize(
    "name",
    ["\u200b", "\u202e\u2066", "abc\u202egnp.exe", " "],
    ids=["zero-width space only", "direction marks only", "reversed", "space"],
)
def test_a_project_name_of_invisible_characters_is_refused(pm, name):
    centre, client = pm
    before = _counts()
    with clock.frozen(c.NOW):
        response = client.post("/api/v1/projects", json={**_project(centre), "name": name})
    assert response.status_code == 422, response.get_data(as_text=True)
    fields = [e["field"] for e in response.get_json().get("errors") or []]
    assert "name" in fields
    assert _counts() == before
