"""The venue desk: check-in codes as an input method types them, check-in after the window,
and the sealed list only of committees seated at the desk's venue."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, Notice
from expertdraw.services import notices
from expertdraw.services.errors import Forbidden, ServiceError
from expertdraw.services.users import create_user

from . import centre as c
from .inspection_helpers import run_draw


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def _accepted_seat(centre):
    draw = run_draw(centre, "P2027-0001", c.NOW)
    notice = db.session.scalars(
        sa.select(Notice).where(Notice.draw_id == draw.id).order_by(Notice.id)
    ).first()
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == notice.expert_id))
    with clock.frozen(c.NOW + timedelta(minutes=1)):
        notices.answer(c.expert_user(code), notice.id, accept=True)
    member = db.session.get(Member, notice.member_id)
    desk = create_user("desk", "correct horse battery", "venue_staff", venue_id=member.venue_id)
    db.session.commit()
    return draw, notice, desk


def test_a_full_width_check_in_code_is_accepted(centre):
    """A Chinese input method types the code in full-width form (Ｋ７Ｍ２Ｐ－Ｑ９Ｘ４Ｒ); the desk
    accepts it like the code on the notice, lower case and spaces too."""
    _draw, notice, desk = _accepted_seat(centre)
    code = notice.check_in_code
    assert unicodedata.normalize("NFKC", code) == code
    full_width = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in code)
    with clock.frozen(c.WINDOW - timedelta(minutes=30)):
        checked = notices.check_in(desk, full_width)
    assert checked["again"] is False


def test_a_check_in_after_the_window_is_not_told_that_check_in_opens_later(centre):
    """Two days early the desk is told check-in opens two hours before the window; after the
    window it is told check-in has closed, not sent to wait for it to open."""
    _draw, notice, desk = _accepted_seat(centre)
    with clock.frozen(c.WINDOW - timedelta(days=2)), pytest.raises(ServiceError) as early:
        notices.check_in(desk, notice.check_in_code)
    after = c.WINDOW + timedelta(hours=8, minutes=1)
    with clock.frozen(after), pytest.raises(ServiceError) as late:
        notices.check_in(desk, notice.check_in_code)
    assert (early.value.code, late.value.code) == ("checkin:time", "checkin:closed")
    assert "opens" not in str(late.value)


def test_a_desk_with_no_seat_in_the_draw_cannot_open_its_list(centre):
    """A desk of a venue where no member of the committee sits is refused the list during its
    window, and nothing is recorded; the desk where a member sits opens it (one entry)."""
    from expertdraw.models import LedgerEntry, Venue
    from expertdraw.services import sealed

    draw, _notice, desk = _accepted_seat(centre)
    seated = set(db.session.scalars(sa.select(Member.venue_id).where(Member.draw_id == draw.id)))
    other = db.session.scalar(sa.select(Venue.id).where(Venue.id.not_in(seated)).order_by(Venue.id))
    assert other is not None
    stranger = create_user("stranger", "correct horse battery", "venue_staff", venue_id=other)
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))
    with clock.frozen(c.WINDOW + timedelta(minutes=5)):
        with pytest.raises(Forbidden, match="no member of this draw sits at your venue"):
            sealed.open_list(draw, stranger)
        assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == before
        assert sealed.open_list(draw, desk)
    assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == before + 1


def test_a_desk_with_no_seat_in_the_draw_learns_nothing_of_its_window(centre):
    """Walking the draw ids, a desk with no member in a draw gets one answer before, during
    and after that draw's window: refusals judged by time would tell other venues' windows."""
    from expertdraw.models import Venue
    from expertdraw.services import sealed

    draw, _notice, _desk = _accepted_seat(centre)
    seated = set(db.session.scalars(sa.select(Member.venue_id).where(Member.draw_id == draw.id)))
    other = db.session.scalar(sa.select(Venue.id).where(Venue.id.not_in(seated)).order_by(Venue.id))
    stranger = create_user("walker", "correct horse battery", "venue_staff", venue_id=other)
    db.session.commit()
    answers = set()
    for moment in (c.WINDOW - timedelta(hours=1), c.WINDOW, c.WINDOW + timedelta(hours=9)):
        with clock.frozen(moment), pytest.raises(Forbidden) as refused:
            sealed.open_list(draw, stranger)
        db.session.rollback()
        answers.add((refused.value.code, str(refused.value)))
    assert answers == {("forbidden:list-venue", "no member of this draw sits at your venue")}


def test_the_same_desk_entering_a_code_twice_at_once_is_one_check_in(centre):
    """A double click at the desk is the one check-in, not the alarm of a second person with
    the same code; another desk at once, or the same desk later, still raises it."""
    _draw, notice, desk = _accepted_seat(centre)
    other = create_user("desk2", "correct horse battery", "venue_staff", venue_id=desk.venue_id)
    db.session.commit()
    first = c.WINDOW - timedelta(minutes=30)
    with clock.frozen(first):
        assert notices.check_in(desk, notice.check_in_code)["again"] is False
    with clock.frozen(first + timedelta(seconds=2)):
        twice = notices.check_in(desk, notice.check_in_code)
        elsewhere = notices.check_in(other, notice.check_in_code)
    with clock.frozen(first + notices.SAME_CHECK_IN):
        later = notices.check_in(desk, notice.check_in_code)
    assert (twice["again"], elsewhere["again"], later["again"]) == (False, True, True)
    assert twice["checked_in_at"] == later["checked_in_at"] == first
