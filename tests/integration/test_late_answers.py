"""An expert who declined or never answered a notice after the evaluation ended never sat: they
leave the committee (no place is filled any more), and later draws do not count the evaluation
against them (``frequency``, ``same-tenderer``)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Notice
from expertdraw.services import draws, ledger, notices, pool, projects, replacements
from tests.integration import centre as c
from tests.integration.test_open_places import _completed_draw, _pending

FIVE_ONE_ALTERNATE = [projects.StratumSpec("technical", "A0101", "technical", 5, 1)]


def _reasons(project, code: str) -> list[str]:
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == code))
    return pool.explain_expert(project, expert, draws.rules())["reasons"]


def test_a_decline_after_the_window_ended_does_not_count_as_sitting(app):
    with clock.frozen(c.NOW):
        centre = c.build(technical=9)
        draw = _completed_draw(centre, "P-LATE-COUNT", strata=FIVE_ONE_ALTERNATE)
    end = c.WINDOW + timedelta(hours=8)
    near_end = end - timedelta(minutes=2)
    with clock.frozen(near_end):
        member = db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw.id, Member.state == "active")
        ).first()
        replacements.replace_member(member, "conflict", dict(ledger.SYSTEM), near_end)
    db.session.expire_all()
    notice_id, code = _pending(draw.id)[-1]  # the alternate's notice, due after the end
    after_end = end + timedelta(minutes=1)
    with clock.frozen(after_end):
        notices.answer(c.expert_user(code), notice_id, accept=False, reason="ill")
        # A later evaluation for the same tenderer, ten days on.
        start = c.WINDOW + timedelta(days=10)
        later = projects.create_project(
            c.project_spec(
                centre, "P-NEXT", window_start=start, window_end=start + timedelta(hours=8)
            ),
            centre.users["pm"],
        )
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
    # The expert declined: they never sat, so the tenderer's next evaluation is open to them.
    assert "same-tenderer" not in _reasons(later, code)


def test_a_timeout_caught_up_after_the_window_does_not_count_as_sitting(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed_draw(centre, "P-LATE-TIMEOUT")
    end = c.WINDOW + timedelta(hours=8)
    pending = _pending(draw.id)
    assert pending
    # The scheduler was down; it comes back after the window ended and catches up.
    assert notices.expire_overdue(end + timedelta(minutes=1)) == len(pending)
    with clock.frozen(end + timedelta(minutes=2)):
        start = c.WINDOW + timedelta(days=10)
        later = projects.create_project(
            c.project_spec(
                centre, "P-NEXT2", window_start=start, window_end=start + timedelta(hours=8)
            ),
            centre.users["pm"],
        )
    db.session.expire_all()
    _, code = pending[0]
    assert (
        db.session.scalar(sa.select(Notice.status).where(Notice.id == pending[0][0])) == "timeout"
    )
    assert "same-tenderer" not in _reasons(later, code)
