"""Project manager adds bidders by unified social credit code until the bid deadline; a bad or
repeated code changes nothing; members of a completed draw in conflict with a new bidder are
replaced, and the page says how many, never who."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Organisation
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


def test_a_member_in_conflict_with_a_new_bidder_is_replaced_without_being_named(
    app, completed, login
):
    member = db.session.scalars(sa.select(Member).where(Member.state == "active")).first()
    employer = db.session.scalar(
        sa.select(Organisation.uscc)
        .join(Expert, Expert.employer_id == Organisation.id)
        .where(Expert.id == member.expert_id)
    )
    client = login("pm")
    done = client.post(f"{PATH}?lang=en", data={"uscc": employer}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "in conflict with the new bidder, now replaced: 1." in html
    assert [s for s in completed["hidden"] if s in html] == []
    replaced = db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == "draw.replaced")
    )
    assert replaced == 1
    db.session.expire_all()
    assert db.session.get(Member, member.id).state == "replaced"
    project_page = client.get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    assert [s for s in completed["hidden"] if s in project_page] == []


def test_only_project_managers_and_administrators_add_bidders(app, completed, login):
    assert login("admin").get(PATH).status_code == 200
    for name in ("sup1", "staff", c.expert_user("E0000001").username):
        client = login(name)
        assert client.get(PATH).status_code == 403
        assert client.post(PATH, data={"uscc": c.uscc(6)}).status_code == 403
    assert c.uscc(6) not in bidders()
