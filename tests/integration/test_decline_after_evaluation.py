"""A notice sent during the evaluation may still be pending when the window ends (its response
window runs at least five minutes). Its expert's decline must then be recorded like the
timeout the job would record: no place is filled any more, but the answer is the expert's."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Member, Notice
from expertdraw.services import ledger, notices, projects, replacements
from expertdraw.services.errors import Conflict

from . import centre as c
from .test_open_places import _completed_draw, _pending

FIVE_ONE_ALTERNATE = [projects.StratumSpec("technical", "A0101", "technical", 5, 1)]


def test_a_decline_after_the_evaluation_ended_is_recorded_not_refused(app):
    with clock.frozen(c.NOW):
        centre = c.build(technical=9)
        draw = _completed_draw(centre, "P-DECLINE-LATE", strata=FIVE_ONE_ALTERNATE)
    end = c.WINDOW + timedelta(hours=8)
    near_end = end - timedelta(minutes=2)
    with clock.frozen(near_end):
        member = db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw.id, Member.state == "active")
        ).first()
        replacements.replace_member(member, "conflict", dict(ledger.SYSTEM), near_end)
    db.session.expire_all()
    notice_id, code = _pending(draw.id)[-1]  # the alternate's notice, sent two minutes ago
    due = db.session.get(Notice, notice_id).due_at
    assert due > end  # still open after the window's end
    after_end = end + timedelta(minutes=1)
    refused = None
    with clock.frozen(after_end):
        try:
            notices.answer(c.expert_user(code), notice_id, accept=False, reason="ill")
        except Conflict as exc:
            db.session.rollback()
            refused = exc.code
    db.session.expire_all()
    status = db.session.get(Notice, notice_id).status
    assert refused is None, f"the expert's decline was refused with {refused}"
    assert status == "declined"
