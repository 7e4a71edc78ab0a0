"""Project manager's pages: the project form keeps input and places errors beside fields, the
dry run counts, one draw per submitted form, counts only until the list opens."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Draw, LedgerEntry, Project

from ..integration import centre as c
from .conftest import PROJECT


def form(centre: c.Centre, **changes: str) -> dict[str, str]:
    """A complete project form as the browser submits it."""
    data = {
        "code": PROJECT,
        "name": "教学楼建设工程",
        "region": "530602",
        "tenderer": centre.tenderer,
        "agency": centre.agency,
        "authority": "",
        "bidders": "\n".join(centre.bidders),
        "window_start": "2027-03-01T09:00",
        "window_end": "2027-03-01T17:00",
        "bid_deadline": "",
        "strata.0.name": "technical",
        "strata.0.specialty": "A0101",
        "strata.0.kind": "technical",
        "strata.0.count": "4",
        "strata.0.alternates": "",
        "strata.1.name": "economic",
        "strata.1.specialty": "C0301",
        "strata.1.kind": "economic",
        "strata.1.count": "1",
        "strata.1.alternates": "",
        "strata.2.name": "",
        "strata.2.specialty": "",
        "strata.2.kind": "technical",
        "strata.2.count": "",
        "strata.2.alternates": "",
        "separation": "venue",
        "max_per_group": "1",
        "region_policy": "exclude-prefecture",
        "tenderer_representatives": "0",
    }
    data.update(changes)
    return data


def error_of(html: str, field: str) -> str:
    """The error message shown beside a field ('' when none)."""
    marker = f'id="f-{field.replace(".", "-")}-error">'
    if marker not in html:
        return ""
    return html.split(marker, 1)[1].split("</p>", 1)[0]


def test_a_project_is_registered_with_times_in_china_standard_time(app, centre, login):
    response = login("pm").post("/manager/projects/new", data=form(centre))
    assert response.status_code == 302 and response.location.endswith(f"/projects/{PROJECT}")
    project = db.session.scalar(sa.select(Project).where(Project.code == PROJECT))
    assert project.window_start == c.WINDOW  # 09:00 in Beijing is 01:00 UTC
    assert [(s.name, s.count, s.alternates) for s in project.strata] == [
        ("technical", 4, 2),
        ("economic", 1, 1),
    ]


def test_a_service_error_stands_beside_its_field_and_keeps_the_input(app, centre, login):
    client = login("pm")
    page = client.post("/manager/projects/new", data=form(centre, tenderer="91530600000000000X"))
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "统一社会信用代码无效" in error_of(html, "tenderer")
    assert 'value="教学楼建设工程"' in html and 'value="91530600000000000X"' in html
    assert '<option value="A0101" selected>' in html


def test_a_stratum_error_points_at_its_row(app, centre, login):
    data = form(centre, **{"strata.1.specialty": "", "strata.1.count": "", "strata.2.count": "1"})
    data["strata.2.specialty"] = "Z99"
    html = login("pm").post("/manager/projects/new", data=data).get_data(as_text=True)
    assert "请从专业代码树中选择专业" in error_of(html, "strata.2.specialty")


def test_a_committee_of_the_wrong_shape_is_explained(app, centre, login):
    html = (
        login("pm")
        .post("/manager/projects/new?lang=en", data=form(centre, **{"strata.0.count": "5"}))
        .get_data(as_text=True)
    )
    assert "A committee has an odd number of members." in html


def test_missing_fields_are_named_in_english_too(app, centre, login):
    html = (
        login("pm")
        .post("/manager/projects/new?lang=en", data=form(centre, code="", window_end="soon"))
        .get_data(as_text=True)
    )
    assert error_of(html, "code") == "Enter the project code."
    assert "YYYY-MM-DD HH:MM" in error_of(html, "window_end")


def test_the_dry_run_shows_counts_and_the_verdict(app, centre, login):
    client = login("pm")
    client.post("/manager/projects/new", data=form(centre))
    html = client.get(f"/manager/projects/{PROJECT}/dry-run?lang=en").get_data(as_text=True)
    assert 'data-eligible="technical">24<' in html and 'data-eligible="economic">12<' in html
    assert "Feasible" in html and "No expert is excluded." in html
    assert db.session.scalar(sa.select(sa.func.count(Draw.id))) == 0


def test_a_resubmitted_draw_form_announces_one_draw(app, centre, login):
    client = login("pm")
    client.post("/manager/projects/new", data=form(centre))
    bad = client.post(f"/manager/projects/{PROJECT}/draws", data={"witnesses": "12"})
    assert bad.status_code == 422
    assert "见证人数量应为 1 至 9 名" in error_of(bad.get_data(as_text=True), "witnesses")
    request = {"witnesses": "2", "idempotency_key": "same-form"}
    first = client.post(f"/manager/projects/{PROJECT}/draws", data=request)
    again = client.post(f"/manager/projects/{PROJECT}/draws", data=request)
    assert first.location == again.location
    assert db.session.scalar(sa.select(sa.func.count(Draw.id))) == 1
    other = client.post(f"/manager/projects/{PROJECT}/draws", data={"witnesses": "2"})
    assert other.status_code == 409
    assert "该项目已有已公告或已完成的抽取" in other.get_data(as_text=True)


def test_pages_show_counts_only_until_the_award(app, completed: dict[str, Any], login):
    client = login("pm")
    for path in (
        "/manager/projects",
        f"/manager/projects/{PROJECT}",
        f"/manager/projects/{PROJECT}/dry-run",
        f"/manager/draws/{completed['draw']}",
    ):
        html = client.get(path).get_data(as_text=True)
        assert [s for s in completed["hidden"] if s in html] == [], path
    early = client.post(f"/manager/projects/{PROJECT}/list")
    assert early.status_code == 403
    assert "名单仍处于密封状态" in early.get_data(as_text=True)
    client.post(f"/manager/projects/{PROJECT}/award")
    opened = client.post(f"/manager/projects/{PROJECT}/list").get_data(as_text=True)
    assert all(code in opened for code in completed["hidden"])
    kinds = db.session.scalars(sa.select(LedgerEntry.type).order_by(LedgerEntry.seq)).all()
    assert kinds[-1] == "list.opened"
