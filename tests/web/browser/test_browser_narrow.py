"""Pages fit a phone's width (360 px): a wide table scrolls by itself, not the whole page,
in English too, whose column headings are longer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.parametrize(
    "user, path",
    [
        ("pm", "/manager/draws/{draw}"),
        ("pm", "/manager/projects/{project}"),
        ("sup1", "/supervisor/draws/{draw}"),
        ("admin", "/admin/experts"),
    ],
)
def test_pages_fit_a_phone_in_english(completed, open_as, live_server, user, path):
    page = open_as(user, locale="en-US")
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(live_server + path.format(**completed))
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert page.evaluate(FITS), f"{path} is {width}px wide on a 360px screen"
