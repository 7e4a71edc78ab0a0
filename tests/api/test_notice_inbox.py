"""An expert's notices come a page at a time, as every list of the API does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, projects

from ..integration import centre as c
from .conftest import ApiClient, assert_problem


def _seated(app, code: str) -> tuple[c.Centre, Any, Member, ApiClient]:
    """A completed committee (witness value ``w``), its first member, and an API client of
    that member's expert."""
    centre = c.build()
    project = projects.create_project(c.project_spec(centre, code), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draws.add_witness(draw, centre.users["sup1"], "w")
    member = db.session.scalars(sa.select(Member).order_by(Member.id)).first()
    expert = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
    _, token = auth_service.issue_token(c.expert_user(expert), label="inbox")
    return centre, draw, member, ApiClient(app.test_client(), token)


def test_the_notice_inbox_is_paged_like_every_other_list(app):
    with clock.frozen(c.NOW):
        _, _, _, expert = _seated(app, "P-PAGE")
        first = expert.get("/api/v1/notices?page=1&per_page=1").get_json()
        second = expert.get("/api/v1/notices?page=2&per_page=1").get_json()
        too_many = expert.get("/api/v1/notices?per_page=201")
    assert (first["page"], first["per_page"], first["total"]) == (1, 1, 1)
    assert [n["check_in_code"] for n in first["items"]] and len(first["items"]) == 1
    assert second["items"] == [] and second["total"] == 1
    assert_problem(too_many, 422, "invalid:query")


def test_the_same_answer_sent_twice_is_recorded_once(app):
    """A retried acceptance answers as the first did and records one answer; answering the
    other way afterwards is refused."""
    from expertdraw.services import ledger

    with clock.frozen(c.NOW):
        centre, draw, _, expert = _seated(app, "P-TWICE")
        again = draws.add_witness(draws.get_draw(draw.id), centre.users["sup1"], "w")
        assert again.state == "completed"
        notice = expert.get("/api/v1/notices").get_json()["items"][0]["notice"]
        answers = [
            expert.post(f"/api/v1/notices/{notice}/answer", json={"answer": "accept"})
            for _ in range(2)
        ]
        other = expert.post(
            f"/api/v1/notices/{notice}/answer", json={"answer": "decline", "reason": "ill"}
        )
    assert [a.get_json() for a in answers] == [{"notice": notice, "status": "accepted"}] * 2
    assert_problem(other, 409, "conflict:notice")
    answered = [b for b in ledger.entry_bodies("notice.answered", draw.id) if b["notice"] == notice]
    assert len(answered) == 1
    witnesses = ledger.entry_body("draw.completed", draw.id)["entropy_value"]
    assert witnesses == ["w"]


def test_a_decline_sent_again_otherwise_is_another_answer_and_refused(app):
    """A second decline with another reason, or a conflict to record, is not the first one
    retried: refused, not answered as done while its conflict goes unrecorded."""
    from expertdraw.models import ExpertRelation

    with clock.frozen(c.NOW):
        centre, _, member, expert = _seated(app, "P-DECL2")
        notice = expert.get("/api/v1/notices").get_json()["items"][0]["notice"]
        url = f"/api/v1/notices/{notice}/answer"
        first = expert.post(url, json={"answer": "decline", "reason": "ill"})
        again = expert.post(url, json={"answer": "decline", "reason": "ill"})
        changed = expert.post(
            url,
            json={"answer": "decline", "reason": "conflict", "conflict_with": centre.bidders[0]},
        )
    assert first.get_json() == again.get_json() == {"notice": notice, "status": "declined"}
    assert_problem(changed, 409, "conflict:notice")
    declared = db.session.scalar(
        sa.select(sa.func.count(ExpertRelation.id)).where(
            ExpertRelation.expert_id == member.expert_id
        )
    )
    assert declared == 0
