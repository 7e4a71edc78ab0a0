"""A leave over a seat the expert holds.

Over an accepted seat, before its evaluation, the leave stands and the expert leaves the
committee (replaced as ``unavailable``, the seat withdrawn, an alternate in): the committee
no longer counts on a member who said they will not come. Over a seat still offered it is
refused (the expert declines the notice); over an evaluation that has begun it is refused.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Leave, Member, Notice
from expertdraw.services import draws, export, leave, ledger, notices, projects
from expertdraw.services.errors import Conflict
from tests.integration import centre as c
from tests.verifier import run_verifier


def _seated(code: str, accept: bool) -> tuple[Member, Notice, object]:
    centre = c.build()
    project = projects.create_project(c.project_spec(centre, code), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draw = draws.add_witness(draw, centre.users["sup1"], "w")
    member = db.session.scalars(
        sa.select(Member).where(Member.draw_id == draw.id).order_by(Member.id)
    ).first()
    notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
    expert = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
    user = c.expert_user(expert)
    if accept:
        notices.answer(user, notice.id, accept=True)
    return member, notice, user


def test_a_leave_over_an_accepted_seat_takes_the_expert_off_the_committee(app, tmp_path):
    with clock.frozen(c.NOW):
        member, notice, user = _seated("P-LEAVE", accept=True)
        declared = leave.declare(user, c.WINDOW - timedelta(days=1), c.WINDOW + timedelta(days=2))
    db.session.expire_all()
    assert db.session.get(Leave, declared.id) is not None
    left = db.session.get(Member, member.id)
    assert (left.state, left.left_reason) == ("replaced", "unavailable")
    assert db.session.get(Notice, notice.id).status == "withdrawn"
    (replaced,) = ledger.entry_bodies("draw.replaced", member.draw_id)
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
    assert replaced["out"] == code and replaced["reason"] == "unavailable"
    assert replaced["in"] is not None
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--replay")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_leave_over_a_seat_still_offered_is_refused_and_changes_nothing(app):
    with clock.frozen(c.NOW):
        member, notice, user = _seated("P-OFFER", accept=False)
        with pytest.raises(Conflict) as refused:
            leave.declare(user, c.WINDOW - timedelta(days=1), c.WINDOW + timedelta(days=2))
    assert refused.value.code == "conflict:leave-offered"
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Leave.id))) == 0
    assert db.session.get(Member, member.id).state == "active"
    assert db.session.get(Notice, notice.id).status == "pending"


def test_a_leave_over_an_evaluation_that_has_begun_is_refused(app):
    with clock.frozen(c.NOW):
        member, _, user = _seated("P-BEGUN", accept=True)
    with clock.frozen(c.WINDOW + timedelta(hours=1)), pytest.raises(Conflict) as refused:
        leave.declare(user, c.WINDOW + timedelta(hours=2), c.WINDOW + timedelta(days=2))
    assert refused.value.code == "conflict:leave-begun"
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Leave.id))) == 0
    assert db.session.get(Member, member.id).state == "active"


def test_a_leave_beside_a_seat_leaves_it_alone(app):
    with clock.frozen(c.NOW):
        member, notice, user = _seated("P-BESIDE", accept=True)
        leave.declare(user, c.WINDOW + timedelta(days=3), c.WINDOW + timedelta(days=5))
    db.session.expire_all()
    assert db.session.get(Member, member.id).state == "active"
    assert db.session.get(Notice, notice.id).status == "accepted"


def test_a_seat_offered_inside_a_leave_declared_while_the_draw_awaited_cannot_be_accepted(app):
    """A leave declared while the draw awaits its entropy (its snapshot taken already): the
    seat offered over it is refused on acceptance; declining it still works."""
    with clock.frozen(c.NOW):
        centre = c.build()
        project = projects.create_project(
            c.project_spec(centre, "P-LATE-LEAVE"), centre.users["pm"]
        )
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        for code in db.session.scalars(sa.select(Expert.code).order_by(Expert.id)).all():
            leave.declare(
                c.expert_user(code), c.WINDOW - timedelta(days=1), c.WINDOW + timedelta(days=2)
            )
        draw = draws.add_witness(draw, centre.users["sup1"], "w")
        member = db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw.id).order_by(Member.id)
        ).first()
        notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
        user = c.expert_user(
            db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
        )
        with pytest.raises(Conflict) as refused:
            notices.answer(user, notice.id, accept=True)
        assert refused.value.code == "conflict:notice-leave"
        db.session.rollback()
        assert db.session.get(Notice, notice.id).status == "pending"
        notices.answer(user, notice.id, accept=False, reason="other")
    assert db.session.get(Member, member.id).state == "replaced"
