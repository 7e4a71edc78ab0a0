"""After the evaluation window has ended no place is filled any more: no supplementary draw
is announced for it, by a supervisor or a retry, and one still waiting then completes
nothing (its deadline is the window's end at the latest)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Booking, Draw, Member
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, ledger, replacements
from expertdraw.services.errors import Conflict

from . import centre as c
from .test_open_places import _completed_draw, _decline


def test_a_supervisor_cannot_fill_open_places_after_the_evaluation_ended(app):
    """The pool could not fill a declined place; the evaluation then ends. A supervisor's
    request (API) to fill the open places must be refused as over (409
    ``conflict:evaluation-over``, as a replacement is), not announce ``D-R1``."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        draw = _completed_draw(centre, "P-FILL-LATE")
        _decline(draw.id)
    _, token = auth_service.issue_token(centre.users["sup1"], label="fill")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/draws/{draw.id}/supplementary"
    late = c.WINDOW + timedelta(hours=9)  # the eight-hour window ended an hour ago
    with clock.frozen(late):
        c.add_technical_expert(1)
        answer = api.post(path, headers=headers)
    assert db.session.get(Draw, f"{draw.id}-R1") is None, answer.get_json()
    assert answer.status_code == 409, answer.get_json()
    assert answer.get_json()["code"] == "conflict:evaluation-over"


def _waiting_near_the_end(code: str) -> tuple[c.Centre, Draw, Draw]:
    """A completed draw whose member is found conflicted half an hour before the window's
    end (at +8 h): the centre, the draw and its supplementary draw ``D-R1``, announced."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=9)
        draw = _completed_draw(centre, code)
    near_end = c.WINDOW + timedelta(hours=7, minutes=30)
    with clock.frozen(near_end):
        member = db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw.id, Member.state == "active")
        ).first()
        replacements.replace_member(member, "conflict", dict(ledger.SYSTEM), near_end)
    sub = db.session.get(Draw, f"{draw.id}-R1")
    assert sub is not None and sub.state == "announced"
    assert sub.deadline_at == c.WINDOW + timedelta(hours=8)  # the window's end at the latest
    return centre, draw, sub


def test_a_supplementary_draw_failing_after_the_evaluation_ended_is_not_retried(app):
    """``D-R1`` waits for its witness past the end of the evaluation and fails at its
    deadline (the stale-draw job): the retry of draw.md §6.4 must not announce ``D-R2`` for
    an evaluation that is over."""
    _centre, draw, sub = _waiting_near_the_end("P-RETRY-LATE")
    with clock.frozen(sub.deadline_at):
        assert draws.fail_stale() == 1
    db.session.expire_all()
    later = db.session.scalars(
        sa.select(Draw.id).where(Draw.root_id == draw.id, Draw.id != sub.id)
    ).all()
    assert later == [], f"{later} announced after the evaluation ended"


def test_a_supplementary_draw_completed_after_the_evaluation_ended_seats_no_one(app):
    """``D-R1`` was announced half an hour before the window's end; its witness comes ten
    minutes after the end, before the draw's deadline. Nobody can take a place in an
    evaluation that is over: the completion must not seat, book and notify a new member."""
    centre, draw, sub = _waiting_near_the_end("P-WITNESS-LATE")
    after_end = c.WINDOW + timedelta(hours=8, minutes=10)
    with clock.frozen(after_end), pytest.raises(Conflict, match="deadline"):
        draws.add_witness(sub, centre.users["sup1"], "late")
    db.session.expire_all()
    assert (db.session.get(Draw, sub.id).state, db.session.get(Draw, sub.id).reason) == (
        "failed",
        "timeout:entropy",
    )
    seated = db.session.scalars(sa.select(Member.id).where(Member.source_draw_id == sub.id)).all()
    booked = db.session.scalars(
        sa.select(Booking.id).where(Booking.draw_id == draw.id, Booking.start >= after_end)
    ).all()
    assert seated == [], f"{len(seated)} member(s) seated for an evaluation that is over"
    assert booked == []
