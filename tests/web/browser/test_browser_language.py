"""Language in the browser: the switch shows Chinese and English on the same page, the choice
sticks, and each role's main page in English has no Chinese characters except data."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import (
    Expert,
    Notice,
    Organisation,
    Project,
    Region,
    Room,
    Specialty,
    User,
    Venue,
)
from expertdraw.services import draws, projects

from ...integration import centre as c
from ..conftest import project_spec
from .conftest import release, screenshot, visible_text

pytestmark = pytest.mark.browser
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3001-\u303f\uff01-\uff5e]")


def data_strings() -> list[str]:
    """Names and addresses from the database: data may be Chinese on an English page."""
    columns = (
        Organisation.name,
        Expert.name,
        Venue.name,
        Venue.address,
        Room.name,
        Region.name,
        Specialty.name,
        Project.name,
    )
    found: set[str] = set()
    for column in columns:
        found.update(v for v in db.session.scalars(sa.select(column)) if v)
    release()
    return sorted(found, key=len, reverse=True)


def assert_no_cjk(page: Any, data: list[str]) -> None:
    text = visible_text(page)
    for value in data:
        text = text.replace(value, "")
    leftovers = sorted({m.group(0) for m in CJK.finditer(text)})
    snippet = [line.strip() for line in text.splitlines() if CJK.search(line)][:5]
    assert leftovers == [], f"{page.url} has Chinese text outside data: {snippet}"


def test_the_language_switch_shows_chinese_and_english_on_the_same_page(
    centre, live_server, open_as
):
    page = open_as(None, locale="zh-CN")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "登录" in page.inner_text("h1")
    page.click(".lang-switch a[hreflang=en]")
    page.wait_for_url("**/login?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.inner_text("h1") == "Log in"
    page.goto(f"{live_server}/login")  # the choice sticks without ?lang
    assert page.inner_text("h1") == "Log in"
    page.fill("#f-username", "pm")
    page.fill("#f-password", "wrong password!")
    page.click("form[action='/login'] button[type=submit]")
    assert "Wrong username or password." in page.inner_text("#error-summary")
    page.click(".lang-switch a[hreflang=zh-CN]")
    page.wait_for_url("**/login?lang=zh")
    assert page.inner_text("h1") == "登录"


def test_an_english_browser_gets_english_and_the_user_choice_is_saved(centre, open_as):
    page = open_as("pm", locale="en-US")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click(".lang-switch a[hreflang=zh-CN]")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert db.session.scalar(sa.select(User.language).where(User.username == "pm")) == "zh"
    release()


def test_each_role_main_page_in_english_has_no_chinese_outside_data(centre, live_server, open_as):
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 2})
    draws.add_witness(draw, centre.users["sup1"], "1")
    draws.add_witness(draw, centre.users["sup2"], "2")
    code, draw_id = project.code, draw.id
    noticed = db.session.scalars(sa.select(Notice.expert_id).order_by(Notice.id)).first()
    expert = c.expert_user(db.session.get(Expert, noticed).code).username
    release()  # from here the test thread holds no transaction (SQLite: no lock)
    data = data_strings()
    pages = {
        "pm": ["/manager/projects", f"/manager/projects/{code}", "/manager/projects/new"],
        "sup1": ["/supervisor/draws", f"/supervisor/draws/{draw_id}", "/supervisor/ledger"],
        expert: ["/expert/notices", "/expert/profile"],
        "staff": ["/venue/"],
        "admin": ["/admin/", "/admin/experts", "/admin/import"],
    }
    for username, paths in pages.items():
        page = open_as(username, locale="en-US")
        for path in paths:
            page.goto(f"{live_server}{path}?lang=en")
            assert page.locator("html").get_attribute("lang") == "en"
            assert_no_cjk(page, data)
        page.goto(f"{live_server}{paths[0]}")
        role = db.session.scalar(sa.select(User.role).where(User.username == username))
        release()
        screenshot(page, f"{role}-en")
