"""The API's semantics: the OpenAPI document declares the error statuses its endpoints
answer, a body that is not UTF-8 is malformed JSON, and an error names only fields the
request has."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from expertdraw import clock
from expertdraw.services import auth as auth_service

from ..integration import centre as c
from ..integration.inspection_helpers import SAMPLED, completed_project, one_day_plan
from .conftest import ApiClient, assert_problem


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def _as(app, user) -> ApiClient:
    _, token = auth_service.issue_token(user, label="semantics")
    return ApiClient(app.test_client(), token)


def _declared(app, method: str, template: str) -> set[str]:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    return set(document["paths"][template][method.lower()]["responses"])


def _project(centre, **overrides):
    body = {
        "code": "P2027-0042",
        "name": "昭通市某中学教学楼建设工程",
        "tenderer": centre.tenderer,
        "agency": centre.agency,
        "bidders": centre.bidders,
        "region": "530602",
        "window_start": c.WINDOW.isoformat(),
        "window_end": (c.WINDOW + timedelta(hours=8)).isoformat(),
        "strata": [
            {"name": "technical", "specialty": "A0101", "kind": "technical", "count": 4},
            {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 1},
        ],
    }
    body.update(overrides)
    return body


def test_a_receipt_of_an_entry_no_checkpoint_covers_yet_is_a_documented_status(app, centre):
    """An entry appended without a checkpoint (an expert suspended) has no receipt yet: the
    answer, 409 ``ledger:uncovered``, must be one the OpenAPI document declares for the
    operation (it declares 200, 401, 403, 404 only)."""
    sup = _as(app, centre.users["sup1"])
    with clock.frozen(c.NOW):
        suspended = sup.post(
            f"/api/v1/experts/{centre.experts[-1]}/suspend", json={"reason": "other"}
        )
        assert suspended.status_code == 200, suspended.get_json()
        state = sup.get("/api/v1/ledger").get_json()
        assert state["checkpoint_size"] < state["size"]
        response = sup.get(f"/api/v1/ledger/entries/{state['size'] - 1}/receipt")
    assert_problem(response, 409, "ledger:uncovered")
    assert "409" in _declared(app, "GET", "/api/v1/ledger/entries/{seq}/receipt")


def test_replaying_an_undrawn_sample_is_a_documented_status(app, centre):
    """Replaying a supervision sample still waiting for its witnesses answers 409
    ``conflict:inspection-state``; the document declares no 409 for the operation."""
    for n in range(1, 3):
        completed_project(f"P2027-010{n}", c.NOW, centre.tenderer)
    sup = _as(app, centre.users["sup1"])
    plan = one_day_plan(c.NOW.date())
    with clock.frozen(SAMPLED):
        announced = sup.post("/api/v1/inspections", json=plan)
        assert announced.status_code == 201, announced.get_json()
        inspection = announced.get_json()["id"]
        response = sup.get(f"/api/v1/inspections/{inspection}/replay")
    assert_problem(response, 409, "conflict:inspection-state")
    assert "409" in _declared(app, "GET", "/api/v1/inspections/{inspection_id}/replay")


def test_a_body_that_is_not_utf8_json_is_malformed_json(app, api, users):
    """RFC 8259 JSON is UTF-8. A Latin-1 body is 400 ``invalid:json``; the same object in
    UTF-16 passes ``json.loads`` (which guesses UTF-16) and is then refused by pydantic as 422
    ``invalid:body`` on field ``$`` with "Invalid JSON": one fault, two statuses and codes."""
    client = api("admin")
    body = {"username": "new-user", "password": "correct horse battery", "role": "supervisor"}
    latin = client.post(
        "/api/v1/users",
        data=json.dumps(body | {"username": "né"}, ensure_ascii=False).encode("latin-1"),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(latin, 400, "invalid:json")
    utf16 = client.post(
        "/api/v1/users",
        data=json.dumps(body).encode("utf-16"),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(utf16, 400, "invalid:json")


def test_a_draw_refused_for_its_window_names_no_field_the_request_lacks(app, centre):
    """A draw requested after the project's window started is refused (422
    ``invalid:window``) with ``errors: [{"field": "window_start", "in": "body"}]``, but the
    request's body (``DrawRequestIn``) has no ``window_start``: a client mapping errors to its
    input fields finds none. The project's state is at fault, not the request body."""
    pm = _as(app, centre.users["pm"])
    with clock.frozen(c.NOW):
        assert pm.post("/api/v1/projects", json=_project(centre)).status_code == 201
    with clock.frozen(c.WINDOW + timedelta(minutes=1)):
        response = pm.post("/api/v1/projects/P2027-0042/draws", json={})
    assert response.status_code in (409, 422), response.get_json()
    fields = {e["field"] for e in response.get_json().get("errors") or [] if e["in"] == "body"}
    assert fields <= {"entropy", "algorithm"} | {f for f in fields if f.startswith("entropy.")}
