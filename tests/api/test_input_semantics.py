"""Input the schema lets through that the service refuses, naming the field and changing
nothing: an invisible purpose for an early list opening, an unknown expert or venue for an
account, an unchanged password, a language the service does not speak, one lottery source
twice, an integer longer than Python reads, an authority that is also a party, an acceptance
with a decline's reason."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.services import auth as auth_service
from expertdraw.services import draws

from ..integration import centre as c
from .conftest import ApiClient
from .test_bad_input import _counts, _project


@pytest.fixture
def pm(app):
    with clock.frozen(c.NOW):
        centre = c.build(technical=8, economic=4, venues=6)
    _, token = auth_service.issue_token(centre.users["pm"], label="input semantics")
    return centre, ApiClient(app.test_client(), token)


def _as(app, centre, who):
    _, token = auth_service.issue_token(centre.users[who], label="review")
    return ApiClient(app.test_client(), token)


def _completed_draw(centre, client):
    client.post("/api/v1/projects", json=_project(centre))
    draw_id = client.post(
        "/api/v1/projects/P-BAD-1/draws", json={"entropy": {"kind": "witness", "witnesses": 1}}
    ).get_json()["id"]
    draws.add_witness(draws.get_draw(draw_id), centre.users["sup1"], "w")
    return draw_id


def test_an_invisible_purpose_does_not_open_the_sealed_list_early(app, pm):
    """rules.md: supervisors open the list early 'for cause, which is logged with the
    purpose'; an empty purpose is refused (invalid:purpose), so is one of zero-width or
    direction-override characters, as witness values and bidder reasons already are."""
    centre, client = pm
    sup = _as(app, centre, "sup1")
    with clock.frozen(c.NOW):  # before the window start: an early opening
        draw_id = _completed_draw(centre, client)
        before = _counts()
        answer = sup.post(f"/api/v1/draws/{draw_id}/list", json={"purpose": "\u200b\u202e"})
    assert answer.status_code == 422, answer.get_json()
    assert [e["field"] for e in answer.get_json()["errors"]] == ["purpose"]
    assert _counts() == before


def test_user_errors_name_the_field(app, pm):
    centre, _ = pm
    admin = _as(app, centre, "admin")
    with clock.frozen(c.NOW):
        linked = admin.post(
            "/api/v1/users",
            json={
                "username": "new-expert",
                "password": "correct horse battery x",
                "role": "expert",
                "expert_code": "NOPE",
            },
        )
    assert linked.status_code == 422
    assert [e["field"] for e in linked.get_json().get("errors") or []] == ["expert_code"]
    pm_client = _as(app, centre, "pm")
    same = pm_client.post(
        "/api/v1/me/password",
        json={"current_password": "correct horse battery", "new_password": "correct horse battery"},
    )
    assert same.status_code == 422
    assert [e["field"] for e in same.get_json().get("errors") or []] == ["new_password"]


def test_a_user_language_the_service_does_not_speak_is_refused(app, pm):
    """Only zh and en (or their regional forms): another would fall back silently."""
    centre, _ = pm
    admin = _as(app, centre, "admin")
    with clock.frozen(c.NOW):
        answer = admin.post(
            "/api/v1/users",
            json={
                "username": "newu",
                "password": "correct horse battery x",
                "role": "admin",
                "language": "xx",
            },
        )
    assert answer.status_code == 422, answer.get_json()
    assert [e["field"] for e in answer.get_json()["errors"]] == ["language"]


def test_a_public_lottery_source_listed_twice_is_refused(pm):
    centre, client = pm
    with clock.frozen(c.NOW):
        client.post("/api/v1/projects", json=_project(centre))
        before = _counts()
        entropy = {"kind": "public-lottery", "sources": ["双色球 2027053期", "双色球 2027053期"]}
        answer = client.post("/api/v1/projects/P-BAD-1/draws", json={"entropy": entropy})
    assert answer.status_code == 422, answer.get_json()
    assert [e["field"] for e in answer.get_json()["errors"]] == ["entropy.sources.1"]
    assert _counts() == before


def test_an_over_long_integer_is_refused_naming_the_field(pm):
    """A 5000-digit number is valid JSON: out of range like any other, naming the field."""
    centre, client = pm
    body = json.dumps(_project(centre))[:-1] + ', "max_per_group": ' + "9" * 5000 + "}"
    with clock.frozen(c.NOW):
        answer = client.post(
            "/api/v1/projects", data=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 422, answer.get_json()
    assert [e["field"] for e in answer.get_json()["errors"]] == ["max_per_group"], answer.get_json()


def test_a_bidder_cannot_be_the_supervising_authority(pm):
    """The supervising authority is none of the parties it supervises."""
    centre, client = pm
    with clock.frozen(c.NOW):
        before = _counts()
        answer = client.post(
            "/api/v1/projects",
            json=_project(centre, bidders=centre.bidders, authority=centre.bidders[0]),
        )
    assert answer.status_code == 422, answer.get_json()
    assert _counts() == before


def test_an_accept_with_a_decline_reason_is_refused_not_dropped(app, pm):
    """Refused, not dropped: an acceptance sent with a decline's reason was meant otherwise."""
    from expertdraw.models import Expert, Notice

    centre, client = pm
    with clock.frozen(c.NOW):
        _completed_draw(centre, client)
        notice = db.session.scalars(sa.select(Notice)).first()
        user = c.expert_user(db.session.get(Expert, notice.expert_id).code)
        _, token = auth_service.issue_token(user, label="e")
        expert = ApiClient(app.test_client(), token)
        answer = expert.post(
            f"/api/v1/notices/{notice.id}/answer", json={"answer": "accept", "reason": "ill"}
        )
    assert answer.status_code == 422, answer.get_json()
    assert [e["field"] for e in answer.get_json()["errors"]] == ["reason"]
