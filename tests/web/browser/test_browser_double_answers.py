"""A second click on a form's button while the first answer is on its way does the thing once,
and the page left on screen shows it done, not an error (as test_browser_double asks of the
project, list and sample forms)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, Notice
from expertdraw.services import draws, notices, projects
from expertdraw.services.users import create_user

from ...integration import centre as c
from ..conftest import project_spec
from .conftest import release
from .test_browser_double import click_twice, slow_posts  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


def test_a_second_click_on_accept_leaves_the_expert_told_they_accepted(
    completed,
    slow_posts,  # noqa: F811
    open_as,
    live_server,
):
    notice = db.session.scalars(sa.select(Notice).order_by(Notice.id)).first()
    notice_id = notice.id
    username = c.expert_user(db.session.get(Expert, notice.expert_id).code).username
    release()
    page = open_as(username, locale="en-US")
    click_twice(page, f"[data-notice='{notice_id}'] form:not(.decline-form) button")
    status = db.session.scalar(sa.select(Notice.status).where(Notice.id == notice_id))
    release()
    assert status == "accepted"  # done once
    # The expert is told it worked, not that the notice "can no longer be answered".
    assert page.locator("#error-summary").count() == 0, page.inner_text("#error-summary")


def test_a_second_click_on_the_witness_value_shows_no_error(
    centre,
    slow_posts,  # noqa: F811
    open_as,
    live_server,
):
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 2})
    draw_id = draw.id
    release()
    page = open_as("sup1", locale="en-US")
    page.goto(f"{live_server}/supervisor/draws/{draw_id}")
    page.fill("#f-value", "31415")
    click_twice(page, f"form[action='/supervisor/draws/{draw_id}/witness'] button")
    assert page.locator("#error-summary").count() == 0, page.inner_text("#error-summary")


def test_a_second_click_on_check_in_raises_no_alarm(
    completed,
    slow_posts,  # noqa: F811
    open_as,
    live_server,
):
    for notice in db.session.scalars(sa.select(Notice)):
        notices.answer(
            c.expert_user(db.session.get(Expert, notice.expert_id).code), notice.id, accept=True
        )
    venue_id, code = db.session.execute(
        sa.select(Member.venue_id, Notice.check_in_code)
        .join(Notice, Notice.member_id == Member.id)
        .where(Notice.status == "accepted")
        .order_by(Member.id)
    ).first()
    create_user("staff-x", "correct horse battery", "venue_staff", venue_id=venue_id)
    release()
    clock.set_clock(lambda: c.WINDOW - timedelta(minutes=30))
    page = open_as("staff-x", locale="en-US")
    page.fill("#f-code", code)
    click_twice(page, "form[action='/venue/check-in'] button")
    # One person, one double click: not "this code was already used, check who is in front of you".
    assert page.locator("[data-checked-in-again]").count() == 0, page.inner_text("main")
    assert page.locator("[data-checked-in]").count() == 1
