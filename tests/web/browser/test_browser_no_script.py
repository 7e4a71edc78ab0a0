"""Without JavaScript no button is shown that does nothing: "Add a stratum" and "Print" are
marked ``hidden`` for app.js to show, and stay hidden whatever their class's display."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD

pytestmark = pytest.mark.browser


def _page_without_script(browser, live_server, username):
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return context, page


def test_no_dead_add_a_stratum_button_without_script(centre, browser, live_server):
    context, page = _page_without_script(browser, live_server, "pm")
    try:
        page.goto(f"{live_server}/manager/projects/new")
        assert page.locator("[data-add-row]").is_visible() is False  # a click does nothing
    finally:
        context.close()


def test_no_dead_print_button_without_script(completed, browser, live_server):
    context, page = _page_without_script(browser, live_server, "sup1")
    try:
        page.goto(f"{live_server}/supervisor/draws/{completed['draw']}/record")
        page.fill("#f-purpose", "print the record")
        page.click(f"form[action='/supervisor/draws/{completed['draw']}/record'] button")
        page.wait_for_load_state()
        assert page.locator("[data-print]").count() == 1
        assert page.locator("[data-print]").is_visible() is False  # a click does nothing
    finally:
        context.close()
