"""Success answers of the operations no other test reaches through the API: each request is
one a client makes in the course of its work, and its answer must be what the document says
(every test's API answers are held to it: tests/api/contract.py; a lottery draw's
numbers are entered in tests/integration/test_rfc3797_draw.py). The fuzzing's generated
requests seldom get past validation to these answers."""

from __future__ import annotations

from expertdraw import clock
from expertdraw.services import auth as auth_service
from expertdraw.services import projects

from ..integration import centre as c
from ..integration.inspection_helpers import SAMPLED, completed_project, one_day_plan
from .conftest import ApiClient


def _as(app, user) -> ApiClient:
    _, token = auth_service.issue_token(user, label="answers")
    return ApiClient(app.test_client(), token)


def test_a_supervisor_reads_eligibility_and_the_latest_checkpoint(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        projects.create_project(c.project_spec(centre, "P2027-0007"), centre.users["pm"])
        sup = _as(app, centre.users["sup1"])
        why = sup.get(f"/api/v1/eligibility?project=P2027-0007&expert={centre.experts[0]}")
        assert why.status_code == 200, why.get_json()
        assert isinstance(why.get_json()["reasons"], list)
        latest = sup.get("/api/v1/ledger/checkpoints/latest")
    assert latest.status_code == 200, latest.get_json()


def test_an_expert_declares_a_conflict(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        expert = _as(app, c.expert_user(centre.experts[0]))
        declared = expert.post("/api/v1/conflicts", json={"uscc": centre.tenderer})
    assert declared.status_code == 204, declared.get_data(as_text=True)


def test_a_supervisor_reads_an_announced_sample(app):
    with clock.frozen(c.NOW):
        centre = c.build()
    for n in range(1, 3):
        completed_project(f"P2027-010{n}", c.NOW, centre.tenderer)
    sup = _as(app, centre.users["sup1"])
    plan = one_day_plan(c.NOW.date())
    with clock.frozen(SAMPLED):
        announced = sup.post("/api/v1/inspections", json=plan)
        assert announced.status_code == 201, announced.get_json()
        read = sup.get(f"/api/v1/inspections/{announced.get_json()['id']}")
    assert read.status_code == 200, read.get_json()
    assert read.get_json()["id"] == announced.get_json()["id"]
