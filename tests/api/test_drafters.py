"""A project names the experts who drafted or consulted on its documents: rules.md's
``drafting`` leaves them out of its draws, and a code that names no expert, or one listed
twice, is refused naming its entry, with nothing registered."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Project
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, ledger, projects

from ..integration import centre as c
from .conftest import ApiClient, assert_problem
from .test_api_semantics import _project


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def _pm(app, centre) -> ApiClient:
    _, token = auth_service.issue_token(centre.users["pm"], label="drafters")
    return ApiClient(app.test_client(), token)


def test_a_projects_drafters_are_registered_corrected_and_never_drawn(app, centre):
    pm = _pm(app, centre)
    drafter = centre.experts[0]
    with clock.frozen(c.NOW):
        created = pm.post("/api/v1/projects", json=_project(centre, drafters=[drafter]))
        assert created.status_code == 201, created.get_json()
        assert created.get_json()["drafters"] == [drafter]
        corrected = pm.put(
            "/api/v1/projects/P2027-0042",
            json=_project(centre, drafters=[centre.experts[2], drafter]),
        )
        assert corrected.status_code == 200, corrected.get_json()
        assert corrected.get_json()["drafters"] == sorted([drafter, centre.experts[2]])
        dry = pm.post("/api/v1/projects/P2027-0042/dry-run").get_json()
        assert dry["excluded"].get("drafting") == 2
        project = projects.get_project("P2027-0042")
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        draws.add_witness(draw, centre.users["sup1"], "w")
    announced = ledger.entry_body("draw.announced", draw.id)
    assert announced["excluded"].get("drafting") == 2
    completed = ledger.entry_body("draw.completed", draw.id)
    drawn = {m["expert"] for m in completed["members"]}
    drawn.update(code for a in completed["alternates"] for code in a["experts"])
    assert drawn and not drawn & {drafter, centre.experts[2]}


@pytest.mark.parametrize(
    "drafters, field",
    [(["E9999999"], "drafters.0"), (["E0000001", "E0000001"], "drafters.1")],
)
def test_a_drafter_who_is_not_an_expert_or_is_listed_twice_is_refused(app, centre, drafters, field):
    pm = _pm(app, centre)
    with clock.frozen(c.NOW):
        refused = pm.post("/api/v1/projects", json=_project(centre, drafters=drafters))
    body = assert_problem(refused, 422, "invalid:drafters")
    assert [error["field"] for error in body["errors"]] == [field]
    assert db.session.scalar(sa.select(sa.func.count(Project.id))) == 0
