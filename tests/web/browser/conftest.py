"""Browser fixtures: the app served on a free local port, and one headless Chromium per session.

The live server runs the test's own app (same database as the ``app`` fixture) with werkzeug's
``make_server`` in a thread, CSRF protection on. Browser tests run on SQLite only: they test the
pages, and the services below them run on both engines in their own tests.

Chromium is Debian's (``/usr/bin/chromium``, or ``EXPERTDRAW_CHROMIUM``). Without it the tests
are skipped, except under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from expertdraw.extensions import db

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("EXPERTDRAW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"


@pytest.fixture
def backend() -> str:
    """Browser tests run on SQLite (they test pages; services are tested on both engines)."""
    return "sqlite"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The test app with CSRF protection on, as in production."""
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (set EXPERTDRAW_CHROMIUM)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler without a log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The app served on a free port of 127.0.0.1; yields its base URL."""
    db.session.commit()  # never hold SQLite's write lock while the server works
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def open_as(browser: Any, live_server: str) -> Iterator[Callable[..., Any]]:
    """``open_as(username, locale="zh-CN")``: a logged-in page in its own browser context.

    Script errors and console errors (a CSP violation, a failed load) fail the test.
    """
    contexts: list[Any] = []
    problems: list[str] = []

    def make(username: str | None, locale: str = "zh-CN", password: str = PASSWORD) -> Any:
        context = browser.new_context(
            locale=locale, accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
        # Irreversible actions ask to confirm (data-confirm): the person clicking agrees, and
        # the question asked is kept for the tests that look at it.
        questions: list[str] = []
        page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
        page.questions = questions
        page.on("console", lambda message: _console(page, message, problems))
        page.goto(f"{live_server}/login")
        if username is not None:
            page.fill("#f-username", username)
            page.fill("#f-password", password)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield make
    for context in contexts:
        context.close()
    assert problems == [], "errors in the browser console"


def _console(page: Any, message: Any, problems: list[str]) -> None:
    """Collect console errors; a page answered with a 4xx status on purpose is not one."""
    if message.type != "error":
        return
    document = message.location.get("url") == page.url
    if document and message.text.startswith("Failed to load resource: the server responded"):
        return
    problems.append(f"{page.url}: {message.text} ({message.location.get('url')})")


def release() -> None:
    """End the test thread's transaction, so the live server can write (SQLite)."""
    db.session.rollback()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under ``test-artifacts/screens/`` (git-ignored)."""
    folder = ARTIFACTS / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def visible_text(page: Any) -> str:
    """The page's rendered text, leaving out parts marked as another language (``lang``)."""
    page.wait_for_load_state()
    return page.evaluate(
        """() => {
            const copy = document.body.cloneNode(true);
            const lang = document.documentElement.lang;
            copy.querySelectorAll('[lang]').forEach(el => {
                if (!el.getAttribute('lang').startsWith(lang.slice(0, 2))) { el.remove(); }
            });
            copy.querySelectorAll('script, style').forEach(el => el.remove());
            return copy.textContent;
        }"""
    )
