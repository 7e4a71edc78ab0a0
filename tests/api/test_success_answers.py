"""Success answers of the operations no other test reaches through the API: each request is
one a client makes in the course of its work, and its answer must be what the document says
(every test's API answers are held to it: tests/api/contract.py). The fuzzing's generated
requests seldom get past validation to these answers."""

from __future__ import annotations

from datetime import timedelta

from expertdraw import clock
from expertdraw.domain import draw as engine
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, projects

from ..integration import centre as c
from ..integration.inspection_helpers import completed_project
from .conftest import ApiClient


def _as(app, user) -> ApiClient:
    _, token = auth_service.issue_token(user, label="answers")
    return ApiClient(app.test_client(), token)


def test_a_lottery_draws_numbers_complete_it(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        spec = c.project_spec(
            centre,
            "P2027-3797",
            strata=[projects.StratumSpec("technical", "A0101", "technical", 5, 2)],
        )
        project = projects.create_project(spec, centre.users["pm"])
        sources = ["福彩3D 2027-02-21", "体彩排列5 2027-02-21"]
        draw = draws.announce(
            project,
            centre.users["pm"],
            {"kind": "public-lottery", "sources": sources},
            algorithm=engine.RFC3797,
        )
        numbers = {"numbers": [[22, 3, 17], [5, 1]]}
        first = _as(app, centre.users["sup1"]).post(
            f"/api/v1/draws/{draw.id}/entropy", json=numbers
        )
        assert first.status_code == 200 and first.get_json()["state"] == "announced"
        second = _as(app, centre.users["sup2"]).post(
            f"/api/v1/draws/{draw.id}/entropy", json=numbers
        )
    assert second.status_code == 200 and second.get_json()["state"] == "completed"


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
    plan = {
        "start": c.NOW.date().isoformat(),
        "end": c.NOW.date().isoformat(),
        "ratios": {"low": "1/2"},
        "witnesses": 2,
    }
    with clock.frozen(c.NOW + timedelta(hours=1)):
        announced = sup.post("/api/v1/inspections", json=plan)
        assert announced.status_code == 201, announced.get_json()
        read = sup.get(f"/api/v1/inspections/{announced.get_json()['id']}")
    assert read.status_code == 200, read.get_json()
    assert read.get_json()["id"] == announced.get_json()["id"]
