"""A supervision sample and an alert through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert
from expertdraw.services import alerts
from expertdraw.services import auth as auth_service

from ..integration import centre as c
from ..integration.inspection_helpers import SAMPLED, append, completed_project
from .conftest import ApiClient, assert_problem


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        built = c.build()
    for n in range(1, 5):
        completed_project(f"P2027-010{n}", c.NOW, built.tenderer)
    return built


def _as(app, user) -> ApiClient:
    _, token = auth_service.issue_token(user, label="inspection test")
    return ApiClient(app.test_client(), token)


def test_a_sample_from_announcement_to_public_list(app, centre):
    sup1, sup2, admin = (_as(app, centre.users[u]) for u in ("sup1", "sup2", "admin"))
    plan = {
        "start": c.NOW.date().isoformat(),
        "end": c.NOW.date().isoformat(),
        "ratios": {"high": "1/2", "low": "1/4"},
        "risk": {"P2027-0101": "high", "P2027-0102": "high"},
        "witnesses": 2,
    }
    with clock.frozen(SAMPLED):
        assert_problem(admin.post("/api/v1/inspections", json=plan), 403, "auth:forbidden")
        response = sup1.post("/api/v1/inspections", json=plan)
        assert response.status_code == 201, response.get_json()
        announced = response.get_json()
        inspection = announced["id"]
        assert announced["state"] == "announced" and announced["witnessed"] == 0
        assert announced["result"] is None and announced["seed"] is None
        sup1.post(f"/api/v1/inspections/{inspection}/witnesses", json={"value": "7 42"})
        drawn = sup2.post(f"/api/v1/inspections/{inspection}/witnesses", json={"value": "zt"})
    assert drawn.status_code == 201
    body = drawn.get_json()
    assert body["state"] == "drawn" and body["witnessed"] == 2
    assert [len(t["projects"]) for t in body["result"]["targets"]] == [1, 1]
    replay = admin.get(f"/api/v1/inspections/{inspection}/replay").get_json()
    assert replay == {"inspection": inspection, "ok": True, "differences": []}
    listing = admin.get("/api/v1/inspections").get_json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == inspection
    public = ApiClient(app.test_client(), None)
    assert public.get(f"/api/v1/public/inspections/{inspection}").status_code == 404
    assert sup2.post(f"/api/v1/inspections/{inspection}/publish").status_code == 200
    shown = public.get(f"/api/v1/public/inspections/{inspection}").get_json()
    assert [t["project"] for t in shown["targets"]] == [
        a["project"] for a in body["result"]["inspectors"]
    ]


def test_bad_ratios_are_refused_before_anything_is_announced(app, centre):
    sup1 = _as(app, centre.users["sup1"])
    plan = {"start": "2027-02-20", "end": "2027-02-20", "ratios": {"high": "0.5"}}
    response = sup1.post("/api/v1/inspections", json=plan)
    assert_problem(response, 422, "invalid:body")


def test_supervisors_list_and_acknowledge_alerts(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 1}}
    body = {"draw": "D2027-900001", "notice": "N000001", "expert": "E0000003", "channel": "inbox"}
    append("notice.sent", body, c.NOW + timedelta(hours=1))
    alerts.evaluate(c.NOW + timedelta(hours=2))
    sup1 = _as(app, centre.users["sup1"])
    listing = sup1.get("/api/v1/alerts").get_json()
    assert [(a["kind"], a["expert_code"]) for a in listing["items"]] == [("frequency", "E0000003")]
    alert_id = listing["items"][0]["id"]
    acked = sup1.post(f"/api/v1/alerts/{alert_id}/ack")
    assert acked.status_code == 200 and acked.get_json()["acked_at"]
    assert sup1.get("/api/v1/alerts").get_json()["total"] == 0
    assert sup1.get("/api/v1/alerts?include_acked=true").get_json()["total"] == 1
    assert_problem(sup1.post(f"/api/v1/alerts/{alert_id}/ack"), 409, "conflict:alert")


def test_suspending_an_expert_acknowledges_only_an_alert_about_that_expert(app, centre):
    """The alert acted on is acknowledged with the suspension; an alert about another expert
    is refused (it would be closed while nobody handled it) and nothing changes."""
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 1}}
    body = {"draw": "D2027-900001", "notice": "N000001", "expert": "E0000003", "channel": "inbox"}
    append("notice.sent", body, c.NOW + timedelta(hours=1))
    (alert,) = alerts.evaluate(c.NOW + timedelta(hours=2))
    sup1 = _as(app, centre.users["sup1"])
    wrong = sup1.post(
        "/api/v1/experts/E0000001/suspend", json={"reason": "other", "alert": alert.id}
    )
    assert_problem(wrong, 422, "invalid:alert")
    assert sup1.get("/api/v1/alerts").get_json()["total"] == 1
    db.session.expire_all()
    status = db.session.scalar(sa.select(Expert.status).where(Expert.code == "E0000001"))
    assert status == "active"
    right = sup1.post(
        "/api/v1/experts/E0000003/suspend", json={"reason": "other", "alert": alert.id}
    )
    assert right.status_code == 200 and right.get_json()["status"] == "suspended"
    assert sup1.get("/api/v1/alerts").get_json()["total"] == 0
