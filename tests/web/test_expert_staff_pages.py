"""Expert's and venue staff's pages: anonymous notices, answers with errors beside the field,
schedule, declared conflicts, data confirmation; bookings without identities, check-in."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain.notice_text import DEFAULT_WHAT_TO_BRING
from expertdraw.extensions import db
from expertdraw.models import Expert, ExpertRelation, LedgerEntry, Member, Notice, Venue
from expertdraw.services import notices
from expertdraw.services.users import create_user

from ..integration import centre as c
from .conftest import PROJECT


def first_notice() -> tuple[str, str, str]:
    """Id, expert code and check-in code of the first notice."""
    notice = db.session.scalars(sa.select(Notice).order_by(Notice.id)).first()
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == notice.expert_id))
    return notice.id, code, notice.check_in_code


def last_entry() -> dict[str, Any]:
    record = db.session.scalars(sa.select(LedgerEntry.record).order_by(LedgerEntry.seq.desc()))
    return json.loads(record.first())["entry"]


def test_the_inbox_shows_where_and_when_but_never_the_project(app, completed, login):
    notice_id, code, check_in = first_notice()
    client = login(c.expert_user(code).username)
    html = client.get("/expert/notices").get_data(as_text=True)
    assert notice_id in html and check_in in html
    assert DEFAULT_WHAT_TO_BRING["zh"] in html  # the inbox says what the e-mail says
    others = {s for s in completed["hidden"] if s != code}
    for secret in {PROJECT, "昭通市某中学教学楼建设工程", *others}:
        assert secret not in html


def test_declining_needs_a_reason_and_a_bad_conflict_code_is_shown(app, completed, login):
    notice_id, code, _ = first_notice()
    client = login(c.expert_user(code).username)
    url = f"/expert/notices/{notice_id}/answer"
    missing = client.post(url, data={"answer": "decline"})
    assert missing.status_code == 422
    assert f'id="reason-error-{notice_id}"' in missing.get_data(as_text=True)
    bad = client.post(
        url, data={"answer": "decline", "reason": "conflict", "conflict_with": "91530600XYZ"}
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and f'id="conflict-error-{notice_id}"' in html
    assert 'value="91530600XYZ"' in html
    assert '<option value="conflict" selected>' in html  # the chosen reason is kept
    assert 'href="#f-conflict_with"' in html and 'id="f-conflict_with"' in html
    assert db.session.get(Notice, notice_id).status == "pending"
    unnamed = client.post(url, data={"answer": "decline", "reason": "conflict"})
    assert unnamed.status_code == 422
    assert "以回避为由拒绝时，请填写需回避单位的统一社会信用代码" in unnamed.get_data(as_text=True)
    assert db.session.get(Notice, notice_id).status == "pending"  # nothing recorded
    done = client.post(url, data={"answer": "decline", "reason": "travel"})
    assert done.status_code == 302
    assert db.session.get(Notice, notice_id).status == "declined"
    replacements = db.session.scalar(
        sa.select(sa.func.count(Member.id)).where(Member.state == "replaced")
    )
    assert replacements == 1


def test_accepted_seats_appear_in_the_schedule(app, completed, login):
    notice_id, code, check_in = first_notice()
    user = c.expert_user(code)
    notices.answer(user, notice_id, accept=True)
    html = login(user.username).get("/expert/schedule").get_data(as_text=True)
    assert check_in in html


def test_an_expert_declares_a_conflict(app, centre, login):
    user = c.expert_user("E0000005")
    client = login(user.username)
    bad = client.post("/expert/conflicts", data={"uscc": "12345"})
    assert bad.status_code == 422 and 'id="f-uscc-error"' in bad.get_data(as_text=True)
    assert client.post("/expert/conflicts", data={"uscc": centre.bidders[0]}).status_code == 302
    assert db.session.scalar(sa.select(ExpertRelation.kind)) == "declared"
    assert last_entry()["body"]["field"] == "declared-conflict"
    assert centre.bidders[0] in client.get("/expert/conflicts").get_data(as_text=True)


def test_an_expert_confirms_employer_and_relations(app, centre, login):
    user = c.expert_user("E0000006")
    expert = db.session.get(Expert, user.expert_id)
    expert.data_confirmed_on = c.NOW.date() - timedelta(days=400)
    db.session.commit()
    client = login(user.username)
    assert "单位" in client.get("/expert/profile").get_data(as_text=True)
    with clock.frozen(c.NOW + timedelta(hours=20)):  # 2027-02-21 06:00 in Beijing
        assert client.post("/expert/profile").status_code == 302
    db.session.refresh(expert)
    assert expert.data_confirmed_on.isoformat() == "2027-02-21"
    body = last_entry()["body"]
    assert body["field"] == "data-confirmed" and body["to"] == "2027-02-21"


def test_venue_staff_see_bookings_without_identities_and_check_in(app, completed, login):
    notice_id, code, check_in = first_notice()
    notices.answer(c.expert_user(code), notice_id, accept=True)
    venue = db.session.scalar(
        sa.select(Member.venue_id)
        .join(Notice, Notice.member_id == Member.id)
        .where(Notice.id == notice_id)
    )
    create_user("desk", "correct horse battery", "venue_staff", venue_id=venue)
    client = login("desk")
    day = client.get("/venue/?day=2027-03-01").get_data(as_text=True)
    assert "data-bookings" in day
    for secret in {PROJECT, completed["draw"], *completed["hidden"]}:
        assert secret not in day
    early = client.post("/venue/check-in", data={"code": check_in})
    assert early.status_code == 422 and 'id="f-code-error"' in early.get_data(as_text=True)
    with clock.frozen(c.WINDOW - timedelta(minutes=30)):
        unknown = client.post("/venue/check-in", data={"code": "AAAA-BBBB-CC"})
        assert unknown.status_code == 404
        done = client.post("/venue/check-in", data={"code": check_in})
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "data-checked-in>" in html
    first = db.session.get(Notice, notice_id).checked_in_at
    assert first is not None
    with clock.frozen(c.WINDOW - timedelta(minutes=10)):
        again = client.post("/venue/check-in", data={"code": check_in}).get_data(as_text=True)
    assert "data-checked-in-again" in again and "data-checked-in>" not in again
    db.session.expire_all()
    assert db.session.get(Notice, notice_id).checked_in_at == first  # the first time is kept


def test_a_code_of_another_venue_is_answered_like_an_unknown_code(app, completed, login):
    """The desk of one venue cannot tell another venue's codes from codes that do not exist."""
    notice_id, code, check_in = first_notice()
    notices.answer(c.expert_user(code), notice_id, accept=True)
    seated = db.session.scalar(
        sa.select(Member.venue_id)
        .join(Notice, Notice.member_id == Member.id)
        .where(Notice.id == notice_id)
    )
    other = db.session.scalar(sa.select(Venue.id).where(Venue.id != seated).order_by(Venue.id))
    create_user("elsewhere", "correct horse battery", "venue_staff", venue_id=other)
    client = login("elsewhere")
    with clock.frozen(c.WINDOW - timedelta(minutes=30)):
        theirs = client.post("/venue/check-in", data={"code": check_in})
        unknown = client.post("/venue/check-in", data={"code": "AAAA-BBBB-CC"})
    assert theirs.status_code == unknown.status_code == 404
    message = "本场地没有使用此签到码的座位。"  # the pages speak Chinese by default
    assert message in theirs.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Notice, notice_id).checked_in_at is None
