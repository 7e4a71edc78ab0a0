"""A notice sent during the evaluation may still be pending when the window ends (its response
window runs at least five minutes). Its expert's decline must then be recorded like the
timeout the job would record: no place is filled any more, but the answer is the expert's.
An expert who declined or never answered never sat: they leave the committee, and later draws
do not count the evaluation against them (``frequency``, ``same-tenderer``)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Notice, Project
from expertdraw.services import draws, ledger, notices, pool, projects, replacements
from expertdraw.services.errors import Conflict

from . import centre as c
from .test_open_places import _completed_draw, _pending

FIVE_ONE_ALTERNATE = [projects.StratumSpec("technical", "A0101", "technical", 5, 1)]
END = c.WINDOW + timedelta(hours=8)


def _open_after_the_end(code: str) -> tuple[c.Centre, str, str]:
    """A committee whose member was replaced two minutes before the window's end: the
    alternate's notice (id, expert), due by the end, is made due after it, as one written
    before due times were held to the end would be."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=9)
        draw = _completed_draw(centre, code, strata=FIVE_ONE_ALTERNATE)
    near_end = END - timedelta(minutes=2)
    with clock.frozen(near_end):
        member = db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw.id, Member.state == "active")
        ).first()
        replacements.replace_member(member, "conflict", dict(ledger.SYSTEM), near_end)
    db.session.expire_all()
    notice_id, expert = _pending(draw.id)[-1]
    notice = db.session.get(Notice, notice_id)
    assert notice.due_at == END  # held to the window's end
    # As a notice written before due times were held to the end (an upgraded deployment).
    notice.due_at = END + timedelta(minutes=3)
    db.session.commit()
    return centre, notice_id, expert


def _next_evaluation(centre: c.Centre, code: str) -> Project:
    """The same tenderer's evaluation ten days on."""
    start = c.WINDOW + timedelta(days=10)
    spec = c.project_spec(centre, code, window_start=start, window_end=start + timedelta(hours=8))
    return projects.create_project(spec, centre.users["pm"])


def _reasons(project: Project, code: str) -> list[str]:
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == code))
    return pool.explain_expert(project, expert, draws.rules())["reasons"]


def test_a_decline_after_the_evaluation_ended_is_recorded_not_refused(app):
    _, notice_id, code = _open_after_the_end("P-DECLINE-LATE")
    refused = None
    with clock.frozen(END + timedelta(minutes=1)):
        try:
            notices.answer(c.expert_user(code), notice_id, accept=False, reason="ill")
        except Conflict as exc:
            db.session.rollback()
            refused = exc.code
    db.session.expire_all()
    status = db.session.get(Notice, notice_id).status
    assert refused is None, f"the expert's decline was refused with {refused}"
    assert status == "declined"


def test_a_decline_after_the_window_ended_does_not_count_as_sitting(app):
    centre, notice_id, code = _open_after_the_end("P-LATE-COUNT")
    with clock.frozen(END + timedelta(minutes=1)):
        notices.answer(c.expert_user(code), notice_id, accept=False, reason="ill")
        later = _next_evaluation(centre, "P-NEXT")
    db.session.expire_all()
    notice = db.session.get(Notice, notice_id)
    assert notice.status == "declined"
    left = db.session.get(Member, notice.member_id)
    assert (left.state, left.left_reason) == ("replaced", "declined")
    # No place is filled after the evaluation: the one replacement is the one made before.
    replaced = db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == "draw.replaced")
    )
    assert replaced == 1
    assert "same-tenderer" not in _reasons(later, code)


def test_a_timeout_caught_up_after_the_window_does_not_count_as_sitting(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed_draw(centre, "P-LATE-TIMEOUT")
    pending = _pending(draw.id)
    assert pending
    # The scheduler was down; it comes back after the window ended and catches up.
    assert notices.expire_overdue(END + timedelta(minutes=1)) == len(pending)
    with clock.frozen(END + timedelta(minutes=2)):
        later = _next_evaluation(centre, "P-NEXT2")
    db.session.expire_all()
    notice_id, code = pending[0]
    assert db.session.get(Notice, notice_id).status == "timeout"
    assert "same-tenderer" not in _reasons(later, code)
