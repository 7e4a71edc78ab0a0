"""Project manager adds bidders by unified social credit code until the bid deadline; a bad or
repeated code changes nothing; after the draw only a supervisor (or an admin) adds a bidder, with
a reason, and members of the completed draw in conflict with it are replaced."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Organisation, User
from expertdraw.services import projects

from ..integration import centre as c
from .conftest import PROJECT, project_spec
from .test_markup import check, data_strings

PATH = f"/manager/projects/{PROJECT}/bidders"


def bidders() -> list[str]:
    return projects.summary(projects.get_project(PROJECT))["bidders"]


def test_a_bidder_is_added_by_code_and_bad_codes_change_nothing(app, centre, login):
    projects.create_project(project_spec(centre), centre.users["pm"])
    client = login("pm")
    page = client.get(PATH).get_data(as_text=True)
    assert all(code in page for code in centre.bidders) and 'name="uscc"' in page
    assert PATH in client.get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
        check(
            client.get(f"{PATH}?lang={lang}").get_data(as_text=True),
            PATH,
            html_lang,
            data_strings(),
        )
    before = bidders()
    for code, status in (
        ("", 422),
        ("12345", 422),
        (c.uscc(999), 422),  # valid, but no such organisation
        (centre.bidders[0], 409),
    ):
        response = client.post(PATH, data={"uscc": code})
        assert response.status_code == status, code
        assert 'id="f-uscc-error"' in response.get_data(as_text=True), code
    assert bidders() == before
    new = c.uscc(6)  # the supervising authority of the centre, not yet a bidder
    done = client.post(PATH, data={"uscc": new.lower()})
    assert done.status_code == 302
    assert sorted(bidders()) == sorted([*before, new])
    assert new in client.get(PATH).get_data(as_text=True)


def test_after_the_bid_deadline_no_bidder_is_added(app, centre, login):
    from dataclasses import replace

    spec = replace(project_spec(centre), bid_deadline=c.NOW - timedelta(hours=1))
    projects.create_project(spec, centre.users["pm"])
    client = login("pm")
    assert 'name="uscc"' not in client.get(PATH).get_data(as_text=True)
    late = client.post(f"{PATH}?lang=en", data={"uscc": c.uscc(6)})
    assert late.status_code == 422 and "Bids closed" in late.get_data(as_text=True)
    assert c.uscc(6) not in bidders()


def test_after_the_draw_a_supervisor_adds_a_bidder_with_a_reason(app, completed, login):
    """A bidder added after the draw takes members it conflicts with off the committee. In a
    project manager's hands each addition would tell a member's employer and remove whom they
    chose, so the project manager is refused; a supervisor adds it, with a reason that the
    ledger entry keeps and the draw's record lists."""
    member = db.session.scalars(sa.select(Member).where(Member.state == "active")).first()
    employer = db.session.scalar(
        sa.select(Organisation.uscc)
        .join(Expert, Expert.employer_id == Organisation.id)
        .where(Expert.id == member.expert_id)
    )
    pm = login("pm")
    page = pm.get(PATH).get_data(as_text=True)
    assert 'name="uscc"' not in page and "data-bidders-after-draw" in page
    refused = pm.post(PATH, data={"uscc": employer})
    assert refused.status_code == 403
    assert employer not in bidders()
    db.session.expire_all()
    assert db.session.get(Member, member.id).state == "active"

    supervisor = login("sup1")
    room = supervisor.get(f"/supervisor/draws/{completed['draw']}").get_data(as_text=True)
    assert PATH in room
    form = supervisor.get(PATH).get_data(as_text=True)
    assert 'name="reason"' in form
    for reason, status in (("", 422), ("   ", 422), ("身份证 530102199001010011", 422)):
        response = supervisor.post(PATH, data={"uscc": employer, "reason": reason})
        assert response.status_code == status, reason
        assert 'id="f-reason-error"' in response.get_data(as_text=True), reason
    assert employer not in bidders()
    done = supervisor.post(
        f"{PATH}?lang=en",
        data={"uscc": employer, "reason": "bid opening found a late bidder"},
        follow_redirects=True,
    )
    assert "in conflict with the new bidder, now replaced: 1." in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, member.id).state == "replaced"
    entry = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.type == "project.bidder_added")
    ).one()
    assert entry.draw_id == completed["draw"]
    body = json.loads(entry.record)["entry"]["body"]
    assert body["reason"] == "bid opening found a late bidder" and body["after_draw"] is True
    record = supervisor.post(
        f"/supervisor/draws/{completed['draw']}/record", data={"purpose": "audit"}
    )
    assert "project.bidder_added" in record.get_data(as_text=True)


def test_after_the_draw_the_api_refuses_the_project_manager_too(app, completed):
    from expertdraw.services import auth as auth_service

    _, token = auth_service.issue_token(db.session.get(User, completed_pm_id()), "t")
    response = app.test_client().post(
        f"/api/v1/projects/{PROJECT}/bidders",
        json={"uscc": c.uscc(6)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden:after-draw"
    assert c.uscc(6) not in bidders()


def completed_pm_id() -> int:
    return db.session.scalar(sa.select(User.id).where(User.username == "pm"))


def test_only_project_managers_supervisors_and_administrators_see_bidders(app, completed, login):
    assert login("admin").get(PATH).status_code == 200
    assert login("sup1").get(PATH).status_code == 200
    for name in ("staff", c.expert_user("E0000001").username):
        client = login(name)
        assert client.get(PATH).status_code == 403
        assert client.post(PATH, data={"uscc": c.uscc(6)}).status_code == 403
    assert c.uscc(6) not in bidders()
