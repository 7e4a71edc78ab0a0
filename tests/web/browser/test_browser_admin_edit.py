"""In Chromium: the project form names the organisation of each credit code typed (or why the
code is unusable); the administrator takes a workstation out of service and back on the
venue's page, and corrects an expert with the error shown beside the field."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Expert, Organisation, Workstation

from ...integration import centre as c
from .conftest import release, screenshot

pytestmark = pytest.mark.browser


def test_the_project_form_names_the_party_of_each_code(centre, open_as, live_server):
    tenderer = db.session.scalar(
        sa.select(Organisation.name).where(Organisation.uscc == centre.tenderer)
    )
    release()
    pm = open_as("pm", locale="en-US")
    pm.goto(f"{live_server}/manager/projects/new")
    pm.fill("#f-tenderer", centre.tenderer)
    pm.press("#f-tenderer", "Tab")
    names = pm.locator("[data-uscc-names-for=f-tenderer]")
    assert names.get_attribute("aria-live") == "polite"
    item = names.locator(f"li[data-uscc='{centre.tenderer}']")
    item.wait_for()
    assert tenderer in item.inner_text()
    wrong = centre.bidders[0][:17] + ("0" if centre.bidders[0][17] != "0" else "1")
    pm.fill("#f-bidders", f"{centre.bidders[1]}\n{wrong}\n{c.uscc(5000)}")
    pm.press("#f-bidders", "Tab")
    bidders = pm.locator("[data-uscc-names-for=f-bidders] li")
    bidders.nth(2).wait_for()
    assert bidders.count() == 3
    assert "check character" in bidders.nth(1).inner_text()
    assert bidders.nth(1).get_attribute("class") == "error-message"
    assert "No organisation" in bidders.nth(2).inner_text()
    screenshot(pm, "project-form-lookup")


def test_a_workstation_goes_out_of_service_and_back(centre, open_as, live_server):
    seat = "V530100-0-R01-W02"
    admin = open_as("admin")
    admin.goto(f"{live_server}/admin/venues")
    admin.click("a[data-venue='V530100-0']")
    admin.wait_for_url("**/admin/venues/V530100-0")
    admin.click(f"[data-service='workstation:{seat}'] button")
    admin.wait_for_selector(f"tr[data-workstation='{seat}'].muted")
    assert db.session.get(Workstation, seat).active is False
    release()
    screenshot(admin, "admin-venue")
    admin.click(f"[data-service='workstation:{seat}'] button")
    admin.wait_for_selector(f"tr[data-workstation='{seat}']:not(.muted)")
    assert db.session.get(Workstation, seat).active is True
    release()


def test_an_expert_correction_with_a_bad_phone_keeps_the_form(centre, open_as, live_server):
    admin = open_as("admin", locale="en-US")
    admin.goto(f"{live_server}/admin/experts?q=E0000005")
    admin.click("a[data-edit-expert='E0000005']")
    admin.fill("#f-title", "Senior engineer")
    admin.fill("#f-phone", "12345")
    admin.click("form.stack button[type=submit]")
    assert "11-digit" in admin.inner_text("#f-phone-error")
    assert admin.get_attribute("#f-phone", "aria-invalid") == "true"
    assert admin.input_value("#f-title") == "Senior engineer"
    assert db.session.scalar(sa.select(Expert.title).where(Expert.code == "E0000005")) != (
        "Senior engineer"
    )
    release()
    admin.fill("#f-phone", "13900001111")
    admin.click("form.stack button[type=submit]")
    admin.wait_for_selector(".notice-success")
    assert db.session.scalar(sa.select(Expert.title).where(Expert.code == "E0000005")) == (
        "Senior engineer"
    )
    release()
