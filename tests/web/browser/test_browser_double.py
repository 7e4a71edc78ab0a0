"""A second click on a form's button while the first answer is on its way (a slow server, an
impatient user) does the thing once, and the page left on screen shows it done."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import LedgerEntry

from .conftest import release

pytestmark = pytest.mark.browser


@pytest.fixture
def slow_posts(app):
    """Every POST takes 0.5 s longer before the app sees it (a loaded server, a slow link)."""
    inner = app.wsgi_app

    def slow(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            time.sleep(0.5)
        return inner(environ, start_response)

    app.wsgi_app = slow
    yield
    app.wsgi_app = inner


def entries(kind: str) -> int:
    count = db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == kind)
    )
    release()
    return count


def click_twice(page, selector: str) -> None:
    """Click, and click again 0.2 s later while the first answer is still on its way."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(200)
    page.mouse.click(x, y)
    page.wait_for_timeout(2500)  # both requests answered


@pytest.mark.parametrize("action", ["list", "record"])
def test_a_second_click_opens_the_list_once(completed, slow_posts, open_as, live_server, action):
    draw_id = completed["draw"]
    before = entries("list.opened")
    sup = open_as("sup1", locale="en-US")
    sup.goto(f"{live_server}/supervisor/draws/{draw_id}/{action}")
    posts = []
    sup.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    sup.fill("#f-purpose", "audit")
    click_twice(sup, f"form[action='/supervisor/draws/{draw_id}/{action}'] button")
    assert len(posts) == 2  # the browser sent the form twice
    assert entries("list.opened") == before + 1


def test_a_second_click_announces_one_sample(day_over, slow_posts, open_as, live_server):
    from expertdraw.models.inspection import Inspection

    sup = open_as("sup1", locale="en-US")
    sup.goto(f"{live_server}/supervisor/samples/new")
    posts = []
    sup.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    sup.fill("#f-start", "2027-02-01")
    sup.fill("#f-end", "2027-02-20")
    click_twice(sup, "form[action='/supervisor/samples/new'] button")
    assert len(posts) == 2
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Inspection))
    release()
    assert count == 1
    assert "/supervisor/samples/I" in sup.url, sup.url


def test_a_second_click_registers_one_project_and_says_so(centre, slow_posts, open_as, live_server):
    from expertdraw.models import Project

    pm = open_as("pm", locale="en-US")
    pm.goto(f"{live_server}/manager/projects/new")
    pm.fill("#f-code", "P2027-0099")
    pm.fill("#f-name", "Double")
    pm.select_option("#f-region", "530602")
    pm.fill("#f-tenderer", centre.tenderer)
    pm.fill("#f-agency", centre.agency)
    pm.fill("#f-bidders", "\n".join(centre.bidders))
    pm.fill("#f-window_start", "2027-03-01T09:00")
    pm.fill("#f-window_end", "2027-03-01T17:00")
    pm.select_option("#f-strata-0-specialty", "A0101")
    pm.fill("#f-strata-0-count", "4")
    pm.select_option("#f-strata-1-specialty", "C0301")
    pm.fill("#f-strata-1-count", "1")
    posts = []
    pm.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    click_twice(pm, "form.stack button[type=submit]")
    assert len(posts) == 2
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Project))
    release()
    assert count == 1
    # The page the PM is left on shows the project registered.
    assert pm.url.endswith("/manager/projects/P2027-0099"), pm.inner_text("#error-summary")
