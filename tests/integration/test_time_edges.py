"""Time edges of a draw: entropy after the deadline completes nothing, a draw and its notices
end before the evaluation starts, a notice's due time belongs to the timeout, and an
idempotency key stands for one request. On both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, Notice
from expertdraw.services import draws, experts, ledger, notices, projects, seating
from expertdraw.services.errors import Conflict, ServiceError

from . import centre as c


def _project(centre: c.Centre, code: str, starts_in: timedelta | None = None):
    overrides = {}
    if starts_in is not None:
        overrides = {
            "window_start": c.NOW + starts_in,
            "window_end": c.NOW + starts_in + timedelta(hours=8),
        }
    return projects.create_project(c.project_spec(centre, code, **overrides), centre.users["pm"])


def test_a_witness_value_after_the_deadline_fails_the_draw_instead(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = draws.announce(
            _project(centre, "P-LATE"), centre.users["pm"], {"kind": "witness", "witnesses": 1}
        )
    late = draw.deadline_at  # the first instant too late, as the job has it (fail_stale)
    with clock.frozen(late), pytest.raises(Conflict) as refused:
        draws.add_witness(draw, centre.users["sup1"], "too late")
    assert refused.value.code == "conflict:deadline"
    db.session.expire_all()
    assert draws.get_draw(draw.id).state == "failed"
    assert ledger.entry_body("draw.failed", draw.id)["reason"] == "timeout:entropy"


def test_a_draw_and_its_notices_end_before_the_evaluation_starts(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        soon = _project(centre, "P-SOON", starts_in=timedelta(minutes=9))
        with pytest.raises(ServiceError) as refused:
            draws.announce(soon, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        assert refused.value.code == "invalid:window-soon"
        near = _project(centre, "P-NEAR", starts_in=timedelta(minutes=30))
        draw = draws.announce(near, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    start = c.NOW + timedelta(minutes=30)
    assert draw.deadline_at == start - draws.NOTICE_LEAD  # not the usual hour
    with clock.frozen(draw.deadline_at - timedelta(seconds=1)):
        draws.add_witness(draw, centre.users["sup1"], "just in time")
    due = db.session.scalars(sa.select(Notice.due_at).where(Notice.draw_id == draw.id)).all()
    assert due and max(due) <= start
    with app.test_request_context():
        assert seating.response_due(start - timedelta(minutes=2), start) == start


def test_at_the_due_time_the_notice_belongs_to_the_timeout(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = draws.announce(
            _project(centre, "P-DUE"), centre.users["pm"], {"kind": "witness", "witnesses": 1}
        )
        draw = draws.add_witness(draw, centre.users["sup1"], "w")
    notice = db.session.scalars(sa.select(Notice).where(Notice.draw_id == draw.id)).first()
    code = db.session.scalar(
        sa.text("SELECT code FROM experts WHERE id = :id"), {"id": notice.expert_id}
    )
    with clock.frozen(notice.due_at), pytest.raises(Conflict):
        notices.answer(c.expert_user(code), notice.id, accept=True)
    db.session.rollback()
    with clock.frozen(notice.due_at - timedelta(seconds=1)):
        assert notices.answer(c.expert_user(code), notice.id, accept=True)["status"] == "accepted"


def test_an_idempotency_key_stands_for_one_request(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        project = _project(centre, "P-KEY")
        first = draws.announce(
            project, centre.users["pm"], {"kind": "witness", "witnesses": 2}, idempotency_key="k1"
        )
        again = draws.announce(
            project, centre.users["pm"], {"kind": "witness", "witnesses": 2}, idempotency_key="k1"
        )
        assert again.id == first.id
        for other in (
            {"kind": "witness", "witnesses": 3},
            {"kind": "public-lottery", "sources": ["x"]},
        ):
            with pytest.raises(Conflict) as refused:
                draws.announce(project, centre.users["pm"], other, idempotency_key="k1")
            assert refused.value.code == "conflict:idempotency-key"


def test_an_idempotency_key_is_its_users_and_names_the_beacon_time(app, shared_dir):
    """Another user's request with the same key is another request (refused here only because
    the project has its draw); a retry asking for another pulse time is not the same request."""
    app.config["BEACON_CERTIFICATE"] = str(
        shared_dir / "vectors/nist-beacon/certificate-528943a5.pem"
    )
    with clock.frozen(c.NOW):
        centre = c.build()
        project = _project(centre, "P-KEY2")
        pulse = c.NOW + timedelta(minutes=10)
        first = draws.announce(
            project,
            centre.users["pm"],
            {"kind": "beacon", "not_before": pulse},
            idempotency_key="1",
        )
        again = draws.announce(
            project,
            centre.users["pm"],
            {"kind": "beacon", "not_before": pulse},
            idempotency_key="1",
        )
        assert again.id == first.id
        later = {"kind": "beacon", "not_before": pulse + timedelta(minutes=30)}
        with pytest.raises(Conflict) as refused:
            draws.announce(project, centre.users["pm"], later, idempotency_key="1")
        assert refused.value.code == "conflict:idempotency-key"
        with pytest.raises(Conflict) as taken:
            draws.announce(
                project,
                centre.users["admin"],
                {"kind": "witness", "witnesses": 2},
                idempotency_key="1",
            )
        assert taken.value.code == "conflict:draw"  # the project's own draw, not the key
        other = _project(centre, "P-KEY3")
        mine = draws.announce(
            other, centre.users["admin"], {"kind": "witness", "witnesses": 2}, idempotency_key="1"
        )
        assert mine.id != first.id and mine.project_id == other.id


def test_no_seat_is_offered_past_or_accepted_after_the_evaluation_end(app):
    """A member suspended a minute before the window ends: the newcomer's notice is due by
    the end, not five minutes later; and a notice due after the end (written before due
    times were held to it) cannot be accepted once the evaluation is over."""
    with clock.frozen(c.NOW):
        centre = c.build()
        project = projects.create_project(c.project_spec(centre, "P-END"), centre.users["pm"])
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        draw = draws.add_witness(draw, centre.users["sup1"], "w")
        for notice in db.session.scalars(sa.select(Notice).where(Notice.draw_id == draw.id)):
            code = db.session.scalar(sa.select(Expert.code).where(Expert.id == notice.expert_id))
            notices.answer(c.expert_user(code), notice.id, accept=True)
    end = project.window_end
    member = db.session.scalars(
        sa.select(Member).where(Member.draw_id == draw.id).order_by(Member.id)
    ).first()
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
    with clock.frozen(end - timedelta(minutes=1)):
        experts.set_status(code, "suspended", "investigation", centre.users["admin"])
    newcomer = db.session.scalar(
        sa.select(Notice).where(Notice.draw_id == draw.id, Notice.status == "pending")
    )
    assert newcomer is not None and newcomer.due_at == end
    newcomer.due_at = end + timedelta(minutes=4)  # as a notice written before this rule
    db.session.commit()
    user = c.expert_user(
        db.session.scalar(sa.select(Expert.code).where(Expert.id == newcomer.expert_id))
    )
    with clock.frozen(end + timedelta(minutes=2)), pytest.raises(Conflict) as late:
        notices.answer(user, newcomer.id, accept=True)
    assert late.value.code == "conflict:notice-late"
    db.session.expire_all()
    assert db.session.get(Notice, newcomer.id).status == "pending"
