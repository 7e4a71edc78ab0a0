"""Project manager's pages: the project form keeps input and places errors beside fields, the
dry run counts, one draw per submitted form, counts only until the list opens."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from expertdraw import clock
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


def test_a_window_error_is_shown_beside_the_time_that_is_wrong(app, centre, login):
    """A start in the past is the start's error; an end before the start is the end's."""
    pm = login("pm")
    past = pm.post(
        "/manager/projects/new?lang=en",
        data=form(centre, window_start="2027-02-01T09:00", window_end="2027-03-01T17:00"),
    )
    html = past.get_data(as_text=True)
    assert past.status_code == 422
    assert "in the future" in error_of(html, "window_start") and not error_of(html, "window_end")
    backwards = pm.post(
        "/manager/projects/new?lang=en",
        data=form(centre, window_start="2027-03-01T17:00", window_end="2027-03-01T09:00"),
    ).get_data(as_text=True)
    assert "end after it starts" in error_of(backwards, "window_end")
    assert not error_of(backwards, "window_start")


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
    page = client.get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    assert "data-award-after" in page and f"/manager/projects/{PROJECT}/award" not in page
    early = client.post(f"/manager/projects/{PROJECT}/award")
    assert early.status_code == 409 and "评标时段结束后方可记录定标结果" in early.get_data(
        as_text=True
    )
    assert client.post(f"/manager/projects/{PROJECT}/list").status_code == 403
    clock.set_clock(lambda: c.WINDOW + timedelta(hours=8))
    client.post(f"/manager/projects/{PROJECT}/award")
    page = client.get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    token = re.search(r'name="opening" value="([^"]+)"', page).group(1)
    opened = client.post(f"/manager/projects/{PROJECT}/list", data={"opening": token})
    assert all(code in opened.get_data(as_text=True) for code in completed["hidden"])
    kinds = db.session.scalars(sa.select(LedgerEntry.type).order_by(LedgerEntry.seq)).all()
    assert kinds[-1] == "list.opened"
    again = client.post(f"/manager/projects/{PROJECT}/list", data={"opening": token})
    assert all(code in again.get_data(as_text=True) for code in completed["hidden"])
    again_kinds = db.session.scalars(sa.select(LedgerEntry.type).order_by(LedgerEntry.seq)).all()
    assert again_kinds == kinds  # a reload: no entry


def _one_stratum_draw(centre: c.Centre) -> str:
    from expertdraw.services import draws, projects

    strata = [projects.StratumSpec("technical", "A0101", "technical", 5, 0)]
    project = projects.create_project(
        c.project_spec(centre, PROJECT, strata=strata), centre.users["pm"]
    )
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draws.add_witness(draw, centre.users["sup1"], "31415")
    return draw.id


def _decline_one(draw_id: str) -> None:
    from expertdraw.models import Expert, Notice
    from expertdraw.services import notices

    notice, code = db.session.execute(
        sa.select(Notice.id, Expert.code)
        .join(Expert, Expert.id == Notice.expert_id)
        .where(Notice.draw_id == draw_id, Notice.status == "pending")
        .order_by(Notice.member_id)
        .limit(1)
    ).one()
    notices.answer(c.expert_user(code), notice, accept=False, reason="ill")


def test_the_draw_page_counts_open_places_and_names_the_draw_waiting_for_them(app, frozen, login):
    draw = _one_stratum_draw(c.build())
    _decline_one(draw)
    html = login("pm").get(f"/manager/draws/{draw}?lang=en").get_data(as_text=True)
    assert '<td data-count="open_places">1</td>' in html
    assert 'data-open-places="waiting"' in html and f"{draw}-R1" in html


def test_the_draw_page_says_when_nothing_can_fill_the_open_places(app, frozen, login):
    draw = _one_stratum_draw(c.build(technical=5))
    _decline_one(draw)
    for user in ("pm", "sup1"):
        path = f"/manager/draws/{draw}" if user == "pm" else f"/supervisor/draws/{draw}"
        html = login(user).get(path).get_data(as_text=True)
        assert '<td data-count="open_places">1</td>' in html, user
        assert 'data-open-places="unfilled"' in html and "专家库目前无法补足空缺名额" in html


def test_a_supervisor_announces_a_supplementary_draw_for_open_places_from_the_room(
    app, frozen, login
):
    """The pool could not fill the place; the room offers the action, which is refused while
    the pool still cannot, beside the form's errors, and announces nothing."""
    draw = _one_stratum_draw(c.build(technical=5))
    _decline_one(draw)
    client = login("sup1")  # the pool cannot fill the place: D-R1 was named, not announced
    room = client.get(f"/supervisor/draws/{draw}?lang=en").get_data(as_text=True)
    assert "data-fill" in room and "Announce a supplementary draw for the open places" in room
    refused = client.post(f"/supervisor/draws/{draw}/supplementary?lang=en")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Stratum technical has too few eligible experts" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 1
    assert "data-fill" not in login("pm").get(f"/manager/draws/{draw}").get_data(as_text=True)
    c.add_technical_expert(1)
    announced = client.post(f"/supervisor/draws/{draw}/supplementary")
    assert announced.status_code == 302
    assert announced.headers["Location"].endswith(f"/supervisor/draws/{draw}-R1")
    assert db.session.get(Draw, f"{draw}-R1").state == "announced"


def test_the_same_registration_sent_twice_lands_on_the_project(app, centre, login):
    """A form sent again at once (a double click on a slow link) shows the project it made,
    not a refusal; another project under a taken code is still refused, and a colleague's
    too."""
    pm = login("pm")
    # The bidders in another order than the project keeps them (sorted): the same form.
    data = form(centre, bidders="\n".join(sorted(centre.bidders, reverse=True)))
    assert pm.post("/manager/projects/new", data=data).status_code == 302
    again = pm.post("/manager/projects/new", data=data)
    assert again.status_code == 302 and again.location.endswith(f"/projects/{PROJECT}")
    other = pm.post("/manager/projects/new", data=form(centre, name="另一个项目"))
    assert other.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(Project.id))) == 1
    with clock.frozen(clock.now() + timedelta(minutes=3)):
        late = pm.post("/manager/projects/new", data=form(centre))
    assert late.status_code == 409


def test_another_registration_under_a_taken_code_is_refused_however_close(app, centre, login):
    """Only the very same form lands on the project: another committee under the same code,
    name and window a moment later is refused, not silently dropped."""
    pm = login("pm")
    assert pm.post("/manager/projects/new", data=form(centre)).status_code == 302
    other = pm.post("/manager/projects/new", data=form(centre, **{"strata.0.count": "5"}))
    assert other.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(Project.id))) == 1


def test_the_documents_drafters_are_registered_with_the_project(app, centre, login):
    """The drafters typed on the form are kept and shown; a code that is no expert's is
    refused beside the drafters' field, naming its line, and nothing is registered."""
    pm = login("pm")
    unknown = pm.post(
        "/manager/projects/new?lang=en",
        data=form(centre, drafters=f"{centre.experts[0]}\nE9999999"),
    )
    assert unknown.status_code == 422
    assert error_of(unknown.get_data(as_text=True), "drafters").startswith("Drafter 2:")
    assert db.session.scalar(sa.select(sa.func.count(Project.id))) == 0
    kept = pm.post("/manager/projects/new", data=form(centre, drafters=centre.experts[0]))
    assert kept.status_code == 302
    page = pm.get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    assert f"<code>{centre.experts[0]}</code>" in page.split("data-drafters>")[1].split("</dd>")[0]
