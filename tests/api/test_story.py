"""The whole job through the API: project → dry run → announce → witnesses → notices →
decline and timeout → replacements → check-in → list opening → export → offline verify."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, Notice, User
from expertdraw.services import auth as auth_service
from expertdraw.services import export, notices
from expertdraw.services.users import create_user
from tests.verifier import run_verifier

from ..integration import centre as c
from .conftest import ApiClient


def _client(app, user: User) -> ApiClient:
    _, token = auth_service.issue_token(user, label="story")
    return ApiClient(app.test_client(), token)


def _member_codes() -> set[str]:
    rows = db.session.scalars(sa.select(Expert).join(Member, Member.expert_id == Expert.id)).all()
    return {e.code for e in rows} | {e.name for e in rows}


def _assert_hides(response, secrets_: set[str]) -> None:
    text = response.get_data(as_text=True)
    leaked = [s for s in secrets_ if s in text]
    assert leaked == [], f"response leaks {leaked}"


@pytest.fixture
def story_centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def test_the_whole_story_through_the_api(app, story_centre, tmp_path: Path):
    users = story_centre.users
    pm, sup1, sup2 = (_client(app, users[u]) for u in ("pm", "sup1", "sup2"))
    project = {
        "code": "P2027-0042",
        "name": "昭通市某中学教学楼建设工程",
        "tenderer": story_centre.tenderer,
        "agency": story_centre.agency,
        "bidders": story_centre.bidders,
        "region": "530602",
        "window_start": c.WINDOW.isoformat(),
        "window_end": (c.WINDOW + timedelta(hours=8)).isoformat(),
        "strata": [
            {"name": "technical", "specialty": "A0101", "kind": "technical", "count": 4},
            {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 1},
        ],
    }
    with clock.frozen(c.NOW):
        response = pm.post("/api/v1/projects", json=project)
        assert response.status_code == 201, response.get_json()
        dry = pm.post("/api/v1/projects/P2027-0042/dry-run").get_json()
        assert dry["feasible"] and [s["eligible"] for s in dry["strata"]] == [24, 12]
        response = pm.post(
            "/api/v1/projects/P2027-0042/draws",
            json={"entropy": {"kind": "witness", "witnesses": 2}},
            headers={"Idempotency-Key": "story-1"},
        )
        assert response.status_code == 201, response.get_json()
        draw = response.get_json()
        again = pm.post(
            "/api/v1/projects/P2027-0042/draws",
            json={"entropy": {"kind": "witness", "witnesses": 2}},
            headers={"Idempotency-Key": "story-1"},
        )
        assert again.get_json()["id"] == draw["id"]
        assert draw["state"] == "announced" and len(draw["commitment"]) == 64
        first = sup1.post(f"/api/v1/draws/{draw['id']}/witnesses", json={"value": "31415"})
        assert first.status_code == 201 and first.get_json()["state"] == "announced"
        twice = sup1.post(f"/api/v1/draws/{draw['id']}/witnesses", json={"value": "again"})
        assert twice.status_code == 409
        done = sup2.post(f"/api/v1/draws/{draw['id']}/witnesses", json={"value": "zt-2027"})
        assert done.get_json()["state"] == "completed"

        hidden = _member_codes()
        assert len(hidden) == 10
        for path in (f"/api/v1/draws/{draw['id']}", f"/api/v1/draws/{draw['id']}/progress"):
            _assert_hides(pm.get(path), hidden)
        progress = pm.get(f"/api/v1/draws/{draw['id']}/progress").get_json()
        assert progress["pending"] == 5

        notice_rows = db.session.scalars(sa.select(Notice).order_by(Notice.id)).all()
        decliner = db.session.get(Expert, notice_rows[0].expert_id)
        expert_api = _client(app, c.expert_user(decliner.code))
        inbox = expert_api.get("/api/v1/notices").get_json()["items"]
        assert len(inbox) == 1 and inbox[0]["notice"] == notice_rows[0].id
        assert "P2027-0042" not in json.dumps(inbox) and "中学" not in json.dumps(inbox)
        answer = expert_api.post(
            f"/api/v1/notices/{notice_rows[0].id}/answer",
            json={"answer": "decline", "reason": "travel"},
        )
        assert answer.status_code == 200, answer.get_json()

        for notice in db.session.scalars(sa.select(Notice).where(Notice.status == "pending")):
            if notice.id == notice_rows[1].id:
                continue
            who = db.session.get(Expert, notice.expert_id)
            accepted = _client(app, c.expert_user(who.code)).post(
                f"/api/v1/notices/{notice.id}/answer", json={"answer": "accept"}
            )
            assert accepted.status_code == 200

    late = c.NOW + timedelta(hours=1)
    with clock.frozen(late):
        assert notices.expire_overdue(late) == 1  # notice_rows[1] timed out
        for notice in db.session.scalars(sa.select(Notice).where(Notice.status == "pending")):
            who = db.session.get(Expert, notice.expert_id)
            _client(app, c.expert_user(who.code)).post(
                f"/api/v1/notices/{notice.id}/answer", json={"answer": "accept"}
            )
        progress = pm.get(f"/api/v1/draws/{draw['id']}/progress").get_json()
        assert progress == {**progress, "accepted": 5, "declined": 1, "timeout": 1, "replaced": 2}
        assert pm.post(f"/api/v1/draws/{draw['id']}/list", json={}).status_code == 403

    seated = db.session.scalars(
        sa.select(Member).where(Member.state == "active").order_by(Member.id)
    ).first()
    staff_user = create_user(
        "staff-x", "correct horse battery", "venue_staff", venue_id=seated.venue_id
    )
    staff = _client(app, staff_user)
    code = db.session.scalar(sa.select(Notice).where(Notice.member_id == seated.id)).check_in_code
    with clock.frozen(c.WINDOW - timedelta(minutes=30)):
        checked = staff.post("/api/v1/checkin", json={"code": code})
        assert checked.status_code == 200, checked.get_json()
        assert checked.get_json()["workstation"] == seated.workstation_id
        assert checked.get_json()["again"] is False
    with clock.frozen(c.WINDOW - timedelta(minutes=29)):  # not a double click: a minute on
        again = staff.post("/api/v1/checkin", json={"code": code}).get_json()
        assert again["again"] is True
        assert again["checked_in_at"] == checked.get_json()["checked_in_at"]
        assert set(checked.get_json()) == {
            "again",
            "workstation",
            "room",
            "window_start",
            "window_end",
            "checked_in_at",
        }
        opened = sup1.post(f"/api/v1/draws/{draw['id']}/list", json={"purpose": "audit"})
        assert opened.status_code == 200 and len(opened.get_json()["members"]) == 7
        early = pm.post("/api/v1/projects/P2027-0042/award")
        assert early.status_code == 409 and early.get_json()["code"] == "conflict:award-early"
        assert pm.post(f"/api/v1/draws/{draw['id']}/list", json={}).status_code == 403
    with clock.frozen(c.WINDOW + timedelta(minutes=1)):
        seen = staff.post(f"/api/v1/draws/{draw['id']}/list", json={})
        assert seen.status_code == 200, seen.get_json()
        listed = seen.get_json()["members"]
        assert listed and all(m["venue"] == seated.venue_id for m in listed)
        assert {(m["stratum"], m["answer"]) for m in listed} == {(None, None)}
    with clock.frozen(c.WINDOW + timedelta(hours=8)):
        # after the evaluation the desk no longer sees who sat there
        late = staff.post(f"/api/v1/draws/{draw['id']}/list", json={})
        assert late.status_code == 403 and late.get_json()["code"] == "forbidden:list-sealed"
        assert pm.post("/api/v1/projects/P2027-0042/award").status_code == 200
        assert pm.post(f"/api/v1/draws/{draw['id']}/list", json={}).status_code == 200
        replay = sup1.get(f"/api/v1/draws/{draw['id']}/replay").get_json()
        assert replay["verdict"] == "match", replay
        assert replay["replacements"] == 2

    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--replay", "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
