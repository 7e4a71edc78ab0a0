"""Accessible, translated markup on every page of every role: one ``h1``, a label for every
control, unique ids, ``html lang``; in English no Chinese text outside data."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import (
    Expert,
    Organisation,
    Project,
    Region,
    Room,
    Specialty,
    User,
    Venue,
)

from ..integration import centre as c
from .conftest import PROJECT

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u3001-\u303f\uff01-\uff5e]")


class Page(HTMLParser):
    """What the checks need from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.h1 = 0
        self.ids: list[str] = []
        self.labels: set[str] = set()
        self.controls: list[dict[str, str]] = []
        self.text: list[str] = []
        self._stack: list[tuple[str, bool]] = []

    def _skipping(self) -> bool:
        return any(skip for _, skip in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = attr.get("lang", "")
        if tag == "h1":
            self.h1 += 1
        if "id" in attr:
            self.ids.append(attr["id"])
        if tag == "label" and attr.get("for"):
            self.labels.add(attr["for"])
        hidden = attr.get("type") in {"hidden", "submit", "button"}
        if tag in {"input", "select", "textarea"} and not hidden:
            self.controls.append(attr)
        if tag not in VOID:
            other = "lang" in attr and not attr["lang"].startswith(self.lang[:2])
            self._stack.append((tag, other or tag in {"script", "style"}))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def data_strings() -> list[str]:
    found: set[str] = set()
    for column in (
        Organisation.name,
        Expert.name,
        Venue.name,
        Venue.address,
        Room.name,
        Region.name,
        Specialty.name,
        Project.name,
    ):
        found.update(v for v in db.session.scalars(sa.select(column)) if v)
    return sorted(found, key=len, reverse=True)


def pages(completed: dict[str, Any]) -> dict[str, list[str]]:
    draw = completed["draw"]
    organisation = db.session.scalars(
        sa.select(Organisation.uscc).order_by(Organisation.id)
    ).first()
    user = db.session.scalar(sa.select(User.id).where(User.username == "staff"))
    return {
        "pm": [
            "/manager/projects",
            "/manager/projects/new",
            f"/manager/projects/{PROJECT}",
            f"/manager/projects/{PROJECT}/dry-run",
            f"/manager/draws/{draw}",
        ],
        "sup1": [
            "/supervisor/draws",
            f"/supervisor/draws/{draw}",
            f"/supervisor/draws/{draw}/replay",
            f"/supervisor/draws/{draw}/list",
            "/supervisor/ledger",
            f"/supervisor/eligibility?project={PROJECT}&expert=E0000001",
        ],
        "expert": ["/expert/notices", "/expert/schedule", "/expert/conflicts", "/expert/profile"],
        "staff": ["/venue/?day=2027-03-01"],
        "admin": [
            "/admin/",
            "/admin/experts",
            "/admin/experts/E0000001",
            "/admin/venues",
            "/admin/venues/V530100-0",
            "/admin/organisations",
            f"/admin/organisations/{organisation}",
            "/admin/users",
            f"/admin/users/{user}",
            "/admin/keys",
            "/admin/import",
        ],
        None: ["/login", "/no-such-page"],
    }


def check(html: str, where: str, lang: str, data: list[str]) -> None:
    page = parse(html)
    assert page.lang == lang, where
    assert page.h1 == 1, f"{where}: {page.h1} h1 elements"
    duplicates = {i for i in page.ids if page.ids.count(i) > 1}
    assert not duplicates, f"{where}: duplicate ids {duplicates}"
    for control in page.controls:
        labelled = control.get("id") in page.labels or control.get("aria-label")
        assert labelled, f"{where}: no label for {control}"
    if lang == "en":
        text = " ".join(page.text)
        for value in data:
            text = text.replace(value, "")
        found = [line.strip() for line in text.splitlines() if CJK.search(line)]
        assert found == [], f"{where}: Chinese outside data: {found[:3]}"


def test_every_page_is_labelled_and_translated(app, completed, login):
    expert = c.expert_user(sorted(s for s in completed["hidden"] if s.startswith("E"))[0])
    data = data_strings()
    for username, paths in pages(completed).items():
        if username is None:
            client = app.test_client()
        else:
            client = login(expert.username if username == "expert" else username)
        for path in paths:
            for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
                joiner = "&" if "?" in path else "?"
                response = client.get(f"{path}{joiner}lang={lang}")
                assert response.status_code in (200, 404), (path, response.status_code)
                check(response.get_data(as_text=True), f"{path} [{lang}]", html_lang, data)


def test_a_page_after_an_error_keeps_labels_and_summary(app, centre, login):
    html = login("pm").post("/manager/projects/new?lang=en", data={}).get_data(as_text=True)
    check(html, "project form with errors", "en", data_strings())
    assert 'id="error-summary"' in html and 'aria-invalid="true"' in html
