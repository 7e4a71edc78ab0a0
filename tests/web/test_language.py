"""Choosing the language: ``?lang=``, then the user's saved choice, then ``Accept-Language``;
Chinese by default."""

from __future__ import annotations

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import User


def test_chinese_is_the_default(app):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "登录" in page


def test_an_english_browser_gets_english(app):
    client = app.test_client()
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in page.get_data(as_text=True)
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert "登录" in chinese.get_data(as_text=True)


def test_a_lang_parameter_switches_and_is_remembered_for_the_session(app):
    client = app.test_client()
    assert "Log in" in client.get("/login?lang=en").get_data(as_text=True)
    assert "Log in" in client.get("/login").get_data(as_text=True)
    assert "登录" in client.get("/login?lang=zh").get_data(as_text=True)
    assert "登录" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_a_logged_in_user_choice_is_saved_and_wins_over_the_browser(app, centre, login):
    client = login("pm")
    client.get("/manager/projects?lang=en")
    assert db.session.scalar(sa.select(User.language).where(User.username == "pm")) == "en"
    fresh = login("pm")
    page = fresh.get("/manager/projects", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in page.get_data(as_text=True)


def test_an_unknown_lang_value_is_ignored(app):
    page = app.test_client().get("/login?lang=fr").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_the_switch_links_keep_the_page_and_its_query(app, centre, login):
    page = login("admin").get("/admin/experts?q=E0001").get_data(as_text=True)
    assert 'href="/admin/experts?q=E0001&amp;lang=en"' in page


def test_query_keys_that_are_url_building_words_do_not_break_the_switch(app, centre, login):
    """The switch link carries the page's query as it came: a key named like one of Flask's
    URL-building arguments (``endpoint``, ``_method``) or like a path argument is just text."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does
    anonymous = app.test_client().get("/login?endpoint=x&lang=zh")
    assert anonymous.status_code == 200
    assert 'href="/login?endpoint=x&amp;lang=en"' in anonymous.get_data(as_text=True)
    assert login("pm").get("/manager/projects?_method=POST").status_code == 200
    admin = login("admin").get("/admin/experts/E0000001?code=x")
    assert admin.status_code in (200, 404)


def test_what_a_logged_in_user_downloads_is_not_stored(app, centre, login):
    """``send_file`` answers ``no-cache`` (which still stores the file); the bundle lists
    committees by expert code."""
    response = login("sup1").get("/supervisor/ledger/bundle.zip")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_the_switch_link_keeps_an_encoded_path_and_the_script_root(app, centre, login):
    admin = login("admin")
    page = admin.get("/admin/experts/E%3Fx").get_data(as_text=True)
    assert "/admin/experts/E%3Fx?lang=en" in page
    mounted = admin.get("/admin/experts?q=E1", environ_overrides={"SCRIPT_NAME": "/ed"})
    assert 'href="/ed/admin/experts?q=E1&amp;lang=en"' in mounted.get_data(as_text=True)


def test_the_style_sheet_stays_cacheable_for_a_logged_in_user(app, centre, login):
    """It holds nobody's data; ``no-store`` would fetch it again on every page."""
    for client in (app.test_client(), login("admin")):
        response = client.get("/assets/style.css")
        assert response.status_code == 200
        assert response.headers.get("Cache-Control") != "no-store"
        response.close()
