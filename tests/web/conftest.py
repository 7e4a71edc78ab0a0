"""Page test fixtures: the small trading centre, a frozen clock, logged-in test clients, and a
project with a completed draw.

Browser fixtures (a live server and one Chromium per session) are in ``browser.py`` and are
used by the ``test_browser_*`` modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member
from expertdraw.services import draws, projects

from ..integration import centre as c

PASSWORD = "correct horse battery"
PROJECT = "P2027-0042"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def frozen() -> Iterator[None]:
    """The business clock stands at ``centre.NOW`` during the test."""
    previous = clock.set_clock(lambda: c.NOW)
    yield
    clock.set_clock(previous)


@pytest.fixture
def centre(app: Any, frozen: None) -> c.Centre:
    """The small trading centre with users pm, sup1, sup2, admin and staff."""
    return c.build()


@pytest.fixture
def day_over(completed: dict[str, Any]) -> dict[str, Any]:
    """:func:`completed`, then the clock on to the next day: that day can be sampled."""
    from ..integration.inspection_helpers import SAMPLED

    clock.set_clock(lambda: SAMPLED)  # ``frozen`` sets the clock back after the test
    return completed


def csrf_of(html: str) -> str:
    """The CSRF token of a rendered form."""
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@pytest.fixture
def login(app: Any) -> Callable[[str], Any]:
    """``login(username)``: a test client with a page session for that user."""

    def make(username: str, password: str = PASSWORD) -> Any:
        client = app.test_client()
        page = client.get("/login")
        token = csrf_of(page.get_data(as_text=True)) if app.config["WTF_CSRF_ENABLED"] else ""
        response = client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make


def project_spec(centre: c.Centre, code: str = PROJECT) -> projects.ProjectSpec:
    """The story's project: four technical members and one economic."""
    return projects.ProjectSpec(
        code=code,
        name="昭通市某中学教学楼建设工程",
        tenderer=centre.tenderer,
        agency=centre.agency,
        bidders=tuple(centre.bidders),
        region="530602",
        window_start=c.WINDOW,
        window_end=c.WINDOW + timedelta(hours=8),
        strata=[
            projects.StratumSpec("technical", "A0101", "technical", 4),
            projects.StratumSpec("economic", "C0301", "economic", 1),
        ],
    )


@pytest.fixture
def completed(centre: c.Centre) -> dict[str, Any]:
    """A registered project whose draw both supervisors witnessed (completed)."""
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 2})
    draws.add_witness(draw, centre.users["sup1"], "31415")
    draws.add_witness(draw, centre.users["sup2"], "zt-2027")
    rows = db.session.execute(
        sa.select(Expert.code, Expert.name).join(Member, Member.expert_id == Expert.id)
    ).all()
    return {
        "project": PROJECT,
        "draw": draw.id,
        "hidden": {code for code, _ in rows} | {name for _, name in rows},
    }
