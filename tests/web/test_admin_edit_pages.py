"""Administrator's editing pages: an expert's data (``pool.changed`` for eligibility fields),
venues, rooms and workstations (add, correct, out of service), organisations by unified social
credit code (check character), users (role, venue, deactivation). A refused form names the
field and changes nothing."""

from __future__ import annotations

import json

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import (
    Employment,
    Expert,
    LedgerEntry,
    Organisation,
    Room,
    User,
    Venue,
    Workstation,
)
from expertdraw.services import draws, pool, projects

from ..integration import centre as c
from .conftest import project_spec


def entries() -> list[dict]:
    records = db.session.scalars(sa.select(LedgerEntry.record).order_by(LedgerEntry.seq))
    return [json.loads(r)["entry"] for r in records]


def ledger_size() -> int:
    return db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) or 0


def expert_form(client, code: str) -> dict[str, str]:
    """The edit form's current values, as the page shows them."""
    from html.parser import HTMLParser

    html = client.get(f"/admin/experts/{code}").get_data(as_text=True)
    values: dict[str, str] = {}

    class Reader(HTMLParser):
        select: str | None = None
        area: str | None = None

        def handle_starttag(self, tag, attrs):
            attr = dict(attrs)
            if tag == "input" and attr.get("type") != "hidden" and attr.get("name"):
                values[attr["name"]] = attr.get("value") or ""
            if tag == "select":
                self.select = attr.get("name")
            if tag == "option" and self.select and "selected" in attr:
                values[self.select] = attr.get("value") or ""
            if tag == "textarea":
                self.area = attr.get("name")

        def handle_endtag(self, tag):
            if tag == "select":
                self.select = None
            if tag == "textarea":
                self.area = None

        def handle_data(self, data):
            if self.area:
                values[self.area] = values.get(self.area, "") + data

    Reader().feed(html)
    return values


def test_the_expert_pool_links_each_expert_to_its_edit_page(app, centre, login):
    html = login("admin").get("/admin/experts?q=E0000003").get_data(as_text=True)
    assert 'href="/admin/experts/E0000003"' in html


def test_an_expert_is_corrected_and_eligibility_changes_are_logged(app, centre, login):
    client = login("admin")
    values = expert_form(client, "E0000003")
    assert values["name"] and values["specialties"].strip() == "A0101"
    new_employer = centre.tenderer
    values.update(
        name="改名专家",
        employer_uscc=new_employer.lower(),
        specialties="A0101, C0301",
        phone="139 0000 1234",
        csrf_token="",
    )
    size = ledger_size()
    response = client.post("/admin/experts/E0000003", data=values)
    assert response.status_code == 302
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == "E0000003"))
    assert expert.name == "改名专家" and expert.phone == "13900001234"
    assert sorted(s.specialty_code for s in expert.specialties) == ["A0101", "C0301"]
    employer = db.session.get(Organisation, expert.employer_id)
    assert employer.uscc == new_employer
    open_jobs = db.session.scalars(
        sa.select(Employment.organisation_id).where(
            Employment.expert_id == expert.id, Employment.end.is_(None)
        )
    ).all()
    assert open_jobs == [expert.employer_id]
    logged = entries()[size:]
    changes = [e["body"] for e in logged if e["type"] == "pool.changed"]
    assert {c["field"] for c in changes} == {"employer", "specialty"}
    specialty = next(c for c in changes if c["field"] == "specialty")
    assert (specialty["from"], specialty["to"]) == ("A0101", "A0101,C0301")
    assert all("改名专家" not in json.dumps(c, ensure_ascii=False) for c in changes)
    # The expert now works for the tenderer: the draw excludes them.
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    explained = pool.explain_expert(project, expert, draws.rules())
    assert not explained["eligible"]


def test_a_bad_expert_field_is_named_and_nothing_changes(app, centre, login):
    client = login("admin")
    values = expert_form(client, "E0000004")
    before = values["name"]
    size = ledger_size()
    for field, bad, error_id in (
        ("employer_uscc", "91530600000000000X", "f-employer_uscc-error"),
        ("specialties", "Z9999", "f-specialties-error"),
        ("phone", "12345", "f-phone-error"),
        ("home_region", "999999", "f-home_region-error"),
    ):
        sent = {**values, "name": "不应保存", field: bad}
        response = client.post("/admin/experts/E0000004?lang=en", data=sent)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, field
        assert f'id="{error_id}"' in html, field
        assert 'value="不应保存"' in html  # what was typed is kept
    long_name = client.post("/admin/experts/E0000004?lang=en", data={**values, "name": "名" * 101})
    assert long_name.status_code == 422
    assert "Enter the name (at most 100 characters)." in long_name.get_data(as_text=True)
    assert db.session.scalar(sa.select(Expert.name).where(Expert.code == "E0000004")) == before
    assert ledger_size() == size


def test_a_venue_with_a_room_and_workstation_is_added(app, centre, login):
    client = login("admin")
    added = client.post(
        "/admin/venues",
        data={
            "venue_id": "V530700-9",
            "name": "新场地",
            "region_code": "530700",
            "address": "某路1号",
        },
    )
    assert added.status_code == 302 and added.location.endswith("/admin/venues/V530700-9")
    client.post(
        "/admin/venues/V530700-9/rooms", data={"room_id": "V530700-9-R01", "room_name": "一室"}
    )
    client.post(
        "/admin/venues/V530700-9/rooms/V530700-9-R01/workstations",
        data={"workstation_id-V530700-9-R01": "V530700-9-R01-W01"},
    )
    assert db.session.get(Workstation, "V530700-9-R01-W01").room_id == "V530700-9-R01"
    page = client.get("/admin/venues/V530700-9").get_data(as_text=True)
    assert 'data-workstation="V530700-9-R01-W01"' in page
    renamed = client.post(
        "/admin/venues/V530700-9",
        data={"name": "新场地（改）", "region_code": "530700", "address": "某路2号"},
    )
    assert renamed.status_code == 302
    assert db.session.get(Venue, "V530700-9").address == "某路2号"


def test_venue_errors_name_the_field_and_add_nothing(app, centre, login):
    client = login("admin")
    venues = db.session.scalar(sa.select(sa.func.count(Venue.id)))
    taken = client.post(
        "/admin/venues?lang=en",
        data={"venue_id": "V530100-0", "name": "x", "region_code": "530100", "address": "y"},
    )
    assert taken.status_code == 409 and 'id="f-venue_id-error"' in taken.get_data(as_text=True)
    bad_id = client.post(
        "/admin/venues",
        data={"venue_id": "V 1", "name": "x", "region_code": "530100", "address": "y"},
    )
    assert bad_id.status_code == 422 and 'id="f-venue_id-error"' in bad_id.get_data(as_text=True)
    no_region = client.post(
        "/admin/venues", data={"venue_id": "V9", "name": "x", "region_code": "", "address": "y"}
    )
    assert 'id="f-region_code-error"' in no_region.get_data(as_text=True)
    # Text that reads differently from what is stored (it goes into every notice), as the
    # venues import refuses it: a zero-width name, a right-to-left override in the address.
    for name, address, named in (
        ("\u200b", "某路1号", "name"),
        ("新场地", "某路\u202e号1001", "address"),
    ):
        unseen = client.post(
            "/admin/venues",
            data={
                "venue_id": "V530700-9",
                "name": name,
                "region_code": "530100",
                "address": address,
            },
        )
        assert unseen.status_code == 422
        assert f'id="f-{named}-error"' in unseen.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Venue.id))) == venues
    room = client.post("/admin/venues/V530100-0/rooms", data={"room_id": "R9", "room_name": ""})
    assert room.status_code == 422 and 'id="f-room_name-error"' in room.get_data(as_text=True)
    assert db.session.get(Room, "R9") is None
    field = "workstation_id-V530100-0-R01"
    twice = client.post(
        "/admin/venues/V530100-0/rooms/V530100-0-R01/workstations",
        data={field: "V530100-0-R01-W01"},
    )
    assert twice.status_code == 409
    assert f'id="f-{field}-error"' in twice.get_data(as_text=True)


def test_a_workstation_out_of_service_is_no_longer_seated(app, centre, login):
    client = login("admin")
    seats = "V530100-0-R01-W01"
    taken = client.post(
        "/admin/venues/V530100-0/service",
        data={"kind": "workstation", "id": seats, "active": "0"},
    )
    assert taken.status_code == 302
    assert db.session.get(Workstation, seats).active is False
    page = client.get("/admin/venues/V530100-0?lang=en").get_data(as_text=True)
    assert "Put back in service" in page
    # Another venue's workstation cannot be switched from this venue's page.
    foreign = client.post(
        "/admin/venues/V530100-0/service",
        data={"kind": "workstation", "id": "V530300-1-R01-W01", "active": "0"},
    )
    assert foreign.status_code == 404
    again = client.post(
        "/admin/venues/V530100-0/service",
        data={"kind": "workstation", "id": seats, "active": "0"},
    )
    assert again.status_code == 409
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draws.add_witness(draw, centre.users["sup1"], "1")
    from expertdraw.models import Member

    used = set(db.session.scalars(sa.select(Member.workstation_id)))
    assert used and seats not in used
    venue, booked = db.session.execute(
        sa.select(Member.venue_id, Member.workstation_id).order_by(Member.id).limit(1)
    ).one()
    warned = client.post(
        f"/admin/venues/{venue}/service?lang=en",
        data={"kind": "workstation", "id": booked, "active": "0"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "It still has 1 current bookings; those seats stay as given." in warned
    assert db.session.scalar(sa.select(Member.state).where(Member.workstation_id == booked)) == (
        "active"
    )
    client.post(
        "/admin/venues/V530100-0/service",
        data={"kind": "room", "id": "V530100-0-R02", "active": "0"},
    )
    assert db.session.get(Room, "V530100-0-R02").active is False
    back = client.post(
        "/admin/venues/V530100-0/service",
        data={"kind": "workstation", "id": seats, "active": "1"},
    )
    assert back.status_code == 302 and db.session.get(Workstation, seats).active is True


def test_an_organisation_is_registered_by_a_valid_code_only(app, centre, login):
    client = login("admin")
    good = c.uscc(900)
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    count = db.session.scalar(sa.select(sa.func.count(Organisation.id)))
    refused = client.post(
        "/admin/organisations?lang=en",
        data={"uscc": wrong_check, "name": "新单位", "kind": "bidder"},
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="f-uscc-error"' in html
    assert "check character" in html and 'value="新单位"' in html
    no_kind = client.post("/admin/organisations", data={"uscc": good, "name": "新单位"})
    assert 'id="f-kind-error"' in no_kind.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Organisation.id))) == count
    done = client.post(
        "/admin/organisations",
        data={
            "uscc": good.lower(),
            "name": "新单位",
            "kind": "bidder",
            "region_code": "530100",
            "parent_uscc": centre.agency,
        },
    )
    assert done.status_code == 302
    org = db.session.scalar(sa.select(Organisation).where(Organisation.uscc == good))
    assert org.name == "新单位" and org.parent_id is not None
    twice = client.post(
        "/admin/organisations", data={"uscc": good, "name": "again", "kind": "bidder"}
    )
    assert twice.status_code == 409


def test_an_organisation_is_corrected_without_cycles(app, centre, login):
    client = login("admin")
    page = client.get(f"/admin/organisations/{centre.agency}").get_data(as_text=True)
    assert 'name="parent_uscc"' in page
    client.post(
        f"/admin/organisations/{centre.agency}",
        data={"name": "代理机构（改）", "kind": "agency", "parent_uscc": centre.tenderer},
    )
    agency = db.session.scalar(sa.select(Organisation).where(Organisation.uscc == centre.agency))
    assert agency.name == "代理机构（改）"
    cycle = client.post(
        f"/admin/organisations/{centre.tenderer}",
        data={"name": "x", "kind": "tenderer", "parent_uscc": centre.agency},
    )
    assert cycle.status_code == 422
    assert 'id="f-parent_uscc-error"' in cycle.get_data(as_text=True)
    assert client.get("/admin/organisations/91530600000000000X").status_code == 404


def test_a_user_changes_role_and_a_deactivated_user_is_logged_out(app, centre, login):
    admin = login("admin")
    pm = login("pm")
    pm_id = centre.users["pm"].id
    to_staff = admin.post(
        f"/admin/users/{pm_id}?lang=en", data={"role": "venue_staff", "active": "1"}
    )
    assert to_staff.status_code == 422
    assert 'id="f-venue_id-error"' in to_staff.get_data(as_text=True)
    assert db.session.get(User, pm_id).role == "project_manager"
    to_expert = admin.post(f"/admin/users/{pm_id}", data={"role": "expert", "active": "1"})
    assert to_expert.status_code == 422
    done = admin.post(f"/admin/users/{pm_id}", data={"role": "supervisor", "active": "1"})
    assert done.status_code == 302
    assert db.session.get(User, pm_id).role == "supervisor"
    assert pm.get("/supervisor/draws").status_code == 200
    admin.post(f"/admin/users/{pm_id}", data={"role": "supervisor"})  # unchecked: inactive
    assert db.session.get(User, pm_id).active is False
    assert pm.get("/supervisor/draws").status_code == 302  # back to the login page
    own = centre.users["admin"].id
    demote = admin.post(f"/admin/users/{own}", data={"role": "supervisor", "active": "1"})
    assert demote.status_code == 422 and 'id="f-active-error"' in demote.get_data(as_text=True)
    assert db.session.get(User, own).role == "admin"


def test_editing_pages_are_for_admins_only(app, centre, login):
    pm = login("pm")
    for path in (
        "/admin/experts/E0000001",
        "/admin/venues/V530100-0",
        f"/admin/organisations/{centre.agency}",
        f"/admin/users/{centre.users['pm'].id}",
    ):
        assert pm.get(path).status_code == 403, path
    assert pm.post("/admin/venues", data={"venue_id": "V9"}).status_code == 403
    assert db.session.get(Venue, "V9") is None


def test_a_new_password_revokes_the_users_api_tokens(app, centre, login):
    """A password reset is the answer to a leaked credential: tokens issued before it stop
    working, as page sessions do."""
    from expertdraw.services import auth as auth_service

    pm_id = centre.users["pm"].id
    _, token = auth_service.issue_token(centre.users["pm"], label="laptop")
    bearer = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    assert api.get("/api/v1/me", headers=bearer).status_code == 200
    admin = login("admin")
    changed = admin.post(
        f"/admin/users/{pm_id}",
        data={"role": "project_manager", "active": "1", "password": "a-brand-new-passphrase"},
    )
    assert changed.status_code == 302
    assert api.get("/api/v1/me", headers=bearer).status_code == 401


def test_an_admin_setting_their_own_password_stays_signed_in_here_only(app, centre, login):
    """Like ``/account``: the browser that made the change carries on, the admin's other
    browsers are signed out."""
    admin, elsewhere = login("admin"), login("admin")
    admin_id = centre.users["admin"].id
    changed = admin.post(
        f"/admin/users/{admin_id}",
        data={"role": "admin", "active": "1", "password": "a-brand-new-passphrase"},
    )
    assert changed.status_code == 302
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "admin" in page.get_data(as_text=True)
    assert elsewhere.get("/admin/users").status_code == 302  # to the login page
    login("admin", "a-brand-new-passphrase")


def test_passwords_over_256_characters_are_refused_on_the_pages_as_in_the_api(app, centre, login):
    """One length rule everywhere, so a password set on a page also works with the API."""
    from expertdraw.models import User as UserModel

    too_long = "p" * 257
    admin = login("admin")
    created = admin.post(
        "/admin/users",
        data={"username": "long-pass", "password": too_long, "role": "supervisor"},
    )
    assert created.status_code == 422 and "密码须为 10 至 256 个字符" in created.get_data(
        as_text=True
    )
    assert db.session.scalar(sa.select(UserModel).where(UserModel.username == "long-pass")) is None
    pm_id = centre.users["pm"].id
    before = db.session.get(UserModel, pm_id).password_hash
    edited = admin.post(
        f"/admin/users/{pm_id}",
        data={"role": "project_manager", "active": "1", "password": too_long},
    )
    assert edited.status_code == 422
    db.session.expire_all()
    assert db.session.get(UserModel, pm_id).password_hash == before
    fits = "p" * 256
    admin.post(
        f"/admin/users/{pm_id}",
        data={"role": "project_manager", "active": "1", "password": fits},
    )
    token = app.test_client().post("/api/v1/auth/token", json={"username": "pm", "password": fits})
    assert token.status_code == 201


def test_a_second_user_for_an_expert_is_refused_beside_the_expert_code(app, centre, login):
    """Each expert has one user: a second is a field error, not a server error."""
    from expertdraw.models import User as UserModel

    c.expert_user("E0000001")
    before = db.session.scalar(sa.select(sa.func.count(UserModel.id)))
    page = login("admin").post(
        "/admin/users",
        data={
            "username": "second-e1",
            "password": "a-long-enough-password",
            "role": "expert",
            "expert_code": "E0000001",
        },
    )
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'id="f-expert_code-error"' in html and "该专家已有用户账户" in html
    assert db.session.scalar(sa.select(sa.func.count(UserModel.id))) == before


def test_every_bad_expert_field_is_named_in_one_answer(app, centre, login):
    """One submit lists every problem beside its field, not the first one only."""
    client = login("admin")
    values = expert_form(client, "E0000004")
    sent = {**values, "phone": "12345", "email": "not-an-email", "specialties": "Z9999"}
    response = client.post("/admin/experts/E0000004?lang=en", data=sent)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("phone", "email", "specialties"):
        assert f'id="f-{field}-error"' in html, field


def test_a_removed_expert_gets_no_account_back(app, centre, login):
    """Removal from the pool closes an expert's accounts: neither a new account nor the old
    one reactivated signs them in again; each refusal is named beside its field."""
    from expertdraw.models import Expert
    from expertdraw.models import User as UserModel

    closed = c.expert_user("E0000001")
    for code in ("E0000001", "E0000002"):
        db.session.scalar(sa.select(Expert).where(Expert.code == code)).status = "removed"
    closed.active = False  # as the import that removed the expert leaves it
    db.session.commit()
    admin = login("admin")
    before = db.session.scalar(sa.select(sa.func.count(UserModel.id)))
    page = admin.post(
        "/admin/users",
        data={
            "username": "gone-e2",
            "password": "a-long-enough-password",
            "role": "expert",
            "expert_code": "E0000002",
        },
    )
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'id="f-expert_code-error"' in html and "该专家已移出专家库" in html
    assert db.session.scalar(sa.select(sa.func.count(UserModel.id))) == before
    again = admin.post(f"/admin/users/{closed.id}", data={"role": "expert", "active": "1"})
    assert again.status_code == 422 and 'id="f-active-error"' in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(UserModel, closed.id).active is False


def test_a_language_the_service_does_not_know_is_a_field_error(app, centre, login):
    """The page checks the language as the API does (a 500 on PostgreSQL before: the column
    holds 8 characters)."""
    from expertdraw.models import User as UserModel

    for language in ("zh-Hans-CN", "fr<script>"):
        page = login("admin").post(
            "/admin/users",
            data={
                "username": "new-supervisor",
                "password": "a-long-enough-password",
                "role": "supervisor",
                "language": language,
            },
        )
        assert page.status_code == 422
        assert 'id="f-language-error"' in page.get_data(as_text=True) or "请选择语言" in (
            page.get_data(as_text=True)
        )
    assert (
        db.session.scalar(sa.select(UserModel).where(UserModel.username == "new-supervisor"))
        is None
    )
