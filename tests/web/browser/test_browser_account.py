"""In Chromium: a user reaches their account from the masthead, sees an error beside the field
for a wrong current password, changes the password, and signs out another browser."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, release, screenshot

pytestmark = pytest.mark.browser

NEW = "a much longer passphrase"


def test_a_user_changes_the_password_and_signs_out_the_other_browser(centre, open_as, live_server):
    release()
    phone = open_as("sup2")
    laptop = open_as("sup2")
    laptop.click("a.account-name")
    laptop.wait_for_url("**/account")
    assert laptop.locator("[data-sessions] tbody tr").count() == 2
    assert laptop.locator("tr[data-this-session]").count() == 1

    laptop.fill("#f-current_password", "not my password")
    laptop.fill("#f-new_password", NEW)
    laptop.fill("#f-repeat_password", NEW)
    laptop.click("[data-password-form] button[type=submit]")
    error = laptop.locator("#f-current_password-error")
    error.wait_for()
    assert "当前密码不正确" in error.inner_text()

    laptop.fill("#f-current_password", PASSWORD)
    laptop.fill("#f-new_password", NEW)
    laptop.fill("#f-repeat_password", NEW)
    laptop.click("[data-password-form] button[type=submit]")
    laptop.wait_for_selector(".notice-success")
    assert laptop.locator("[data-sessions] tbody tr").count() == 1
    screenshot(laptop, "account")

    phone.goto(f"{live_server}/supervisor/draws")
    assert "/login" in phone.url  # signed out by the change

    again = open_as("sup2", password=NEW)
    again.goto(f"{live_server}/account")
    assert again.locator("[data-sessions] tbody tr").count() == 2
    again.click("form[action='/account/sessions/end-others'] button")
    again.wait_for_selector(".notice-success")
    assert again.questions and "其他所有浏览器" in again.questions[-1]
    assert again.locator("[data-sessions] tbody tr").count() == 1
    laptop.goto(f"{live_server}/supervisor/draws")
    assert "/login" in laptop.url
