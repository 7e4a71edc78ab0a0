"""An expert declares, lists and cancels their own leave: a leave overlapping a window makes
them ineligible (``unavailable``) for it, each change is a ``pool.changed`` entry, and bad
input is refused beside its field without changing anything."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Leave, LedgerEntry
from expertdraw.services import draws, experts, pool, projects

from ..integration import centre as c
from .conftest import project_spec
from .test_markup import check, data_strings

PATH = "/expert/leave"
# Local (China Standard Time) form values; the project window is 2027-03-01 09:00-17:00.
OVER_THE_WINDOW = {"start": "2027-02-28T08:00", "end": "2027-03-02T20:00"}


def leave_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Leave.id)))


def leave_entries() -> list[dict]:
    bodies = []
    for record in db.session.scalars(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == "pool.changed")
        .order_by(LedgerEntry.seq)
    ):
        body = json.loads(record)["entry"]["body"]
        if body["field"] == "leave":
            bodies.append(body)
    return bodies


def reasons_for(code: str) -> list[str]:
    project = projects.get_project("P2027-0042")
    return pool.explain_expert(project, experts.get_by_code(code), draws.rules())["reasons"]


def test_a_leave_is_declared_listed_and_cancelled(app, centre, login):
    projects.create_project(project_spec(centre), centre.users["pm"])
    user = c.expert_user("E0000001")
    client = login(user.username)
    page = client.get(PATH).get_data(as_text=True)
    assert 'name="start"' in page and f'href="{PATH}"' in page  # form and menu link
    assert PATH in client.get("/expert/conflicts").get_data(as_text=True)
    for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
        check(
            client.get(f"{PATH}?lang={lang}").get_data(as_text=True),
            PATH,
            html_lang,
            data_strings(),
        )
    assert "unavailable" not in reasons_for("E0000001")

    done = client.post(PATH, data=OVER_THE_WINDOW)
    assert done.status_code == 302 and leave_count() == 1
    leave = db.session.scalars(sa.select(Leave)).one()
    assert leave.start.isoformat() == "2027-02-28T00:00:00+00:00"
    assert "unavailable" in reasons_for("E0000001")
    assert leave_entries() == [
        {
            "expert": "E0000001",
            "field": "leave",
            "from": "",
            "to": "2027-02-28T00:00:00.000Z/2027-03-02T12:00:00.000Z",
            "reason": "declared by the expert",
        }
    ]
    listed = client.get(PATH).get_data(as_text=True)
    assert f'data-leave="{leave.id}"' in listed and "2027-02-28 08:00" in listed

    other = login(c.expert_user("E0000002").username)
    assert other.post(f"{PATH}/{leave.id}/cancel").status_code == 404
    assert leave_count() == 1
    assert client.post(f"{PATH}/{leave.id}/cancel").status_code == 302
    assert leave_count() == 0
    assert "unavailable" not in reasons_for("E0000001")
    assert leave_entries()[-1]["from"] == "2027-02-28T00:00:00.000Z/2027-03-02T12:00:00.000Z"
    assert leave_entries()[-1]["to"] == ""


def test_bad_leave_is_refused_beside_its_field_and_changes_nothing(app, centre, login):
    client = login(c.expert_user("E0000001").username)
    assert client.post(PATH, data=OVER_THE_WINDOW).status_code == 302
    before = len(leave_entries())
    cases = [
        ({"start": "", "end": "2027-03-02T20:00"}, 422, "start"),
        ({"start": "2027-03-02T08:00", "end": "soon"}, 422, "end"),
        ({"start": "2027-03-05T08:00", "end": "2027-03-04T08:00"}, 422, "end"),
        ({"start": "2027-01-01T08:00", "end": "2027-01-02T08:00"}, 422, "end"),  # over already
        ({"start": "2027-03-05T08:00", "end": "2028-06-01T08:00"}, 422, "end"),  # over a year
        ({"start": "2027-03-01T10:00", "end": "2027-03-04T08:00"}, 409, "start"),  # overlaps
    ]
    for form, status, name in cases:
        response = client.post(PATH, data=form)
        assert response.status_code == status, form
        html = response.get_data(as_text=True)
        assert f'id="f-{name}-error"' in html, form
        assert 'id="error-summary"' in html, form
    assert leave_count() == 1 and len(leave_entries()) == before
    overlap = client.post(f"{PATH}?lang=en", data=cases[-1][0]).get_data(as_text=True)
    assert "overlaps a leave you have already declared" in overlap
    assert client.post(f"{PATH}/99999/cancel").status_code == 404
    leave = db.session.scalars(sa.select(Leave)).one()
    with clock.frozen(leave.end + timedelta(minutes=1)):
        over = client.post(f"{PATH}/{leave.id}/cancel?lang=en")
        assert over.status_code == 409 and "already over" in over.get_data(as_text=True)
        assert f'data-leave="{leave.id}"' not in client.get(PATH).get_data(as_text=True)
    assert leave_count() == 1 and len(leave_entries()) == before


def test_only_experts_have_leave_pages(app, centre, login):
    for name in ("pm", "sup1", "admin", "staff"):
        client = login(name)
        assert client.get(PATH).status_code == 403
        assert client.post(PATH, data=OVER_THE_WINDOW).status_code == 403
    assert app.test_client().get(PATH).status_code == 302
    assert leave_count() == 0
