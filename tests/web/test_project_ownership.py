"""A project manager sees and acts on their own projects only: another manager's project and
its draws are not found, through the API and the pages alike; supervisors and admins see
every project. The award, which opens the list to the project manager, follows the
evaluation. On both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from expertdraw import clock
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, projects
from expertdraw.services.users import create_user

from ..api.conftest import ApiClient
from ..integration import centre as c

CODE = "P-OWN-1"


@pytest.fixture
def owned(app):
    """The centre, a completed draw of ``pm``'s project, and a second manager ``pm2``."""
    with clock.frozen(c.NOW):
        centre = c.build()
        project = projects.create_project(c.project_spec(centre, CODE), centre.users["pm"])
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        draws.add_witness(draw, centre.users["sup1"], "w")
        centre.users["pm2"] = create_user("pm2", "correct horse battery", "project_manager")
    return centre, draw.id


def _api(app, user) -> ApiClient:
    _, token = auth_service.issue_token(user, label="t")
    return ApiClient(app.test_client(), token)


def test_another_managers_project_and_draws_are_not_found(app, owned):
    centre, draw_id = owned
    other = _api(app, centre.users["pm2"])
    with clock.frozen(c.NOW + timedelta(hours=1)):
        listed = other.get("/api/v1/projects").get_json()
        assert listed["total"] == 0 and listed["items"] == []
        for method, path, body in (
            ("get", f"/api/v1/projects/{CODE}", None),
            ("post", f"/api/v1/projects/{CODE}/dry-run", None),
            ("post", f"/api/v1/projects/{CODE}/bidders", {"uscc": centre.bidders[0]}),
            ("post", f"/api/v1/projects/{CODE}/award", None),
            ("post", f"/api/v1/projects/{CODE}/draws", {"entropy": {"kind": "witness"}}),
            ("get", f"/api/v1/draws/{draw_id}", None),
            ("get", f"/api/v1/draws/{draw_id}/progress", None),
            ("post", f"/api/v1/draws/{draw_id}/list", {}),
        ):
            answer = (
                getattr(other, method)(path, json=body)
                if body is not None
                else (getattr(other, method)(path))
            )
            assert answer.status_code == 404, (path, answer.get_json())
        owner = _api(app, centre.users["pm"])
        assert owner.get(f"/api/v1/projects/{CODE}").status_code == 200
        assert owner.get(f"/api/v1/draws/{draw_id}/progress").status_code == 200
        assert owner.get("/api/v1/projects").get_json()["total"] == 1
        for role in ("sup1", "admin"):
            assert _api(app, centre.users[role]).get(f"/api/v1/projects/{CODE}").status_code == 200


def test_another_managers_project_pages_are_not_found(app, owned, login):
    _, draw_id = owned
    with clock.frozen(c.NOW + timedelta(hours=1)):
        other = login("pm2")
        assert CODE not in other.get("/manager/projects").get_data(as_text=True)
        for path in (
            f"/manager/projects/{CODE}",
            f"/manager/projects/{CODE}/bidders",
            f"/manager/projects/{CODE}/dry-run",
            f"/manager/draws/{draw_id}",
        ):
            assert other.get(path).status_code == 404, path
        assert other.post(f"/manager/projects/{CODE}/award").status_code == 404
        owner = login("pm")
        assert CODE in owner.get("/manager/projects").get_data(as_text=True)
        assert owner.get(f"/manager/projects/{CODE}").status_code == 200


def test_the_award_follows_the_evaluation(app, owned):
    centre, draw_id = owned
    owner = _api(app, centre.users["pm"])
    with clock.frozen(c.WINDOW + timedelta(hours=7, minutes=59)):
        early = owner.post(f"/api/v1/projects/{CODE}/award")
        assert early.status_code == 409 and early.get_json()["code"] == "conflict:award-early"
        assert owner.get(f"/api/v1/projects/{CODE}").get_json()["awarded_at"] is None
        assert owner.post(f"/api/v1/draws/{draw_id}/list", json={}).status_code == 403
    with clock.frozen(c.WINDOW + timedelta(hours=8)):
        assert owner.post(f"/api/v1/projects/{CODE}/award").status_code == 200
        assert owner.post(f"/api/v1/draws/{draw_id}/list", json={}).status_code == 200
    kinds = [(kind, body.get("project")) for kind, body in _bodies()]
    assert ("project.awarded", CODE) in kinds  # the act that opened the list is on record
    assert kinds.index(("project.awarded", CODE)) < [k for k, _ in kinds].index("list.opened")


def _bodies() -> list[tuple[str, dict]]:
    import json

    import sqlalchemy as sa

    from expertdraw.extensions import db
    from expertdraw.models import LedgerEntry

    rows = db.session.execute(
        sa.select(LedgerEntry.type, LedgerEntry.record).order_by(LedgerEntry.seq)
    )
    return [(kind, json.loads(record)["entry"]["body"]) for kind, record in rows]


def test_a_bidder_added_after_the_draw_is_on_record(app, owned):
    centre, _ = owned
    owner = _api(app, centre.users["pm"])
    supervisor = _api(app, centre.users["sup1"])
    other = c.uscc(7)  # an employer of the test centre, not yet a party
    with clock.frozen(c.NOW + timedelta(hours=1)):
        refused = owner.post(f"/api/v1/projects/{CODE}/bidders", json={"uscc": other})
        assert refused.status_code == 403  # after the draw, not the project manager
        added = supervisor.post(
            f"/api/v1/projects/{CODE}/bidders", json={"uscc": centre.agency, "reason": "late"}
        )
        assert added.status_code == 422  # the agency cannot bid
        late = supervisor.post(
            f"/api/v1/projects/{CODE}/bidders", json={"uscc": other, "reason": "late bid"}
        )
    assert late.status_code == 201, late.get_json()
    entries = [body for kind, body in _bodies() if kind == "project.bidder_added"]
    assert entries[-1] == {
        "project": CODE,
        "bidder": other,
        "after_draw": True,
        "reason": "late bid",
    }


def test_no_award_without_a_completed_draw(app, owned):
    centre, _ = owned
    with clock.frozen(c.NOW):
        projects.create_project(c.project_spec(centre, "P-OWN-2"), centre.users["pm"])
    owner = _api(app, centre.users["pm"])
    with clock.frozen(c.WINDOW + timedelta(days=1)):
        answer = owner.post("/api/v1/projects/P-OWN-2/award")
        assert answer.status_code == 409 and answer.get_json()["code"] == "conflict:award-early"


def test_only_an_admin_lets_a_project_draw_without_outside_entropy(app, owned):
    """The project manager who requests the draw cannot also waive its outside entropy."""
    centre, _ = owned
    pm = _api(app, centre.users["pm"])
    with clock.frozen(c.NOW):
        refused = pm.post(
            "/api/v1/projects", json=c.project_body(centre, "P-NE", allow_no_entropy=True)
        )
        assert refused.status_code == 403
        assert refused.get_json()["code"] == "forbidden:no-entropy"
        assert pm.get("/api/v1/projects/P-NE").status_code == 404  # nothing was registered
        assert pm.post("/api/v1/projects", json=c.project_body(centre, "P-NE")).status_code == 201
        none = {"entropy": {"kind": "none"}}
        assert pm.post("/api/v1/projects/P-NE/draws", json=none).status_code == 422
        assert pm.post("/api/v1/projects/P-NE/no-entropy").status_code == 403
        admin = _api(app, centre.users["admin"])
        allowed = admin.post("/api/v1/projects/P-NE/no-entropy")
        assert allowed.status_code == 200 and allowed.get_json()["allow_no_entropy"] is True
        drawn = pm.post("/api/v1/projects/P-NE/draws", json=none)
        assert drawn.status_code == 201 and drawn.get_json()["state"] == "completed"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"agency": "tenderer"}, "agency"),
        ({"bidders": ["tenderer"]}, "bidders.0"),
        ({"agency": "agency", "bidders": ["bidder", "agency"]}, "bidders.1"),
    ],
)
def test_the_parties_of_a_project_are_distinct(app, owned, extra, field):
    """A tenderer does not bid on its own project, nor act as its own agency; an agency acts
    for the tenderer, not for a bidder. Nothing is registered."""
    centre, _ = owned
    codes = {"tenderer": centre.tenderer, "agency": centre.agency, "bidder": centre.bidders[0]}
    body = {
        key: ([codes[v] for v in value] if isinstance(value, list) else codes[value])
        for key, value in extra.items()
    }
    pm = _api(app, centre.users["pm"])
    with clock.frozen(c.NOW):
        refused = pm.post("/api/v1/projects", json=c.project_body(centre, "P-PARTY", **body))
        assert refused.status_code == 422, refused.get_json()
        problem = refused.get_json()
        assert problem["code"] == "invalid:parties"
        assert [e["field"] for e in problem["errors"]] == [field]
        assert pm.get("/api/v1/projects/P-PARTY").status_code == 404
        supervisor = _api(app, centre.users["sup1"])
        late = supervisor.post(
            f"/api/v1/projects/{CODE}/bidders", json={"uscc": centre.tenderer, "reason": "late"}
        )
        assert late.status_code == 422 and late.get_json()["code"] == "invalid:parties"


def test_a_project_is_corrected_until_its_draw(app, owned, login):
    """A typo in a window or a stratum need not mean registering again under a new code; once
    a draw is announced the project is what the draw was made from."""
    centre, _ = owned
    pm = _api(app, centre.users["pm"])
    with clock.frozen(c.NOW):
        assert pm.post("/api/v1/projects", json=c.project_body(centre, "P-FIX")).status_code == 201
        body = c.project_body(
            centre,
            "P-FIX",
            name="改正后的名称",
            bidders=[centre.bidders[1]],
            window_start=(c.WINDOW + timedelta(days=1)).isoformat(),
            window_end=(c.WINDOW + timedelta(days=1, hours=8)).isoformat(),
            strata=[{"name": "t", "specialty": "A0101", "kind": "technical", "count": 5}],
        )
        fixed = pm.put("/api/v1/projects/P-FIX", json=body)
        assert fixed.status_code == 200, fixed.get_json()
        shown = fixed.get_json()
        assert shown["name"] == "改正后的名称" and shown["bidders"] == [centre.bidders[1]]
        assert [(s["name"], s["count"]) for s in shown["strata"]] == [("t", 5)]
        other = pm.put("/api/v1/projects/P-FIX", json={**body, "code": "P-OTHER"})
        assert other.status_code == 422 and other.get_json()["errors"][0]["field"] == "code"
        bad = pm.put("/api/v1/projects/P-FIX", json={**body, "window_end": body["window_start"]})
        assert bad.status_code == 422
        assert pm.get("/api/v1/projects/P-FIX").get_json()["name"] == "改正后的名称"
        stranger = _api(app, centre.users["pm2"]).put("/api/v1/projects/P-FIX", json=body)
        assert stranger.status_code == 404
        page = login("pm").get("/manager/projects/P-FIX/edit").get_data(as_text=True)
        assert 'value="改正后的名称"' in page and "data-editing" in page
        drawn = pm.post("/api/v1/projects/P-FIX/draws", json={"entropy": {"kind": "witness"}})
        assert drawn.status_code == 201
        late = pm.put("/api/v1/projects/P-FIX", json=body)
        assert late.status_code == 409 and late.get_json()["code"] == "conflict:project-drawn"


def test_the_correction_page_keeps_its_errors_beside_the_fields(app, owned, login):
    centre, _ = owned
    with clock.frozen(c.NOW):
        projects.create_project(c.project_spec(centre, "P-FORM"), centre.users["pm"])
        client = login("pm")
        form = client.get("/manager/projects/P-FORM/edit").get_data(as_text=True)
        assert 'value="technical"' in form and "data-editing" in form
        values = {
            "code": "P-FORM",
            "name": "更正",
            "tenderer": centre.tenderer,
            "region": "530602",
            "window_start": "2027-03-01T09:00",
            "window_end": "2027-03-01T08:00",
            "strata.0.name": "technical",
            "strata.0.specialty": "A0101",
            "strata.0.kind": "technical",
            "strata.0.count": "5",
        }
        refused = client.post("/manager/projects/P-FORM/edit", data=values)
        assert refused.status_code == 422 and 'id="f-window_end-error"' in refused.get_data(
            as_text=True
        )
        values["window_end"] = "2027-03-01T17:00"
        done = client.post("/manager/projects/P-FORM/edit", data=values)
        assert done.status_code == 302
    assert projects.get_project("P-FORM").name == "更正"
