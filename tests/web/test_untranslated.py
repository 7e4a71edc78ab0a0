"""No untranslated string on the Chinese pages of any role: outside data (names, addresses,
usernames, stratum names, notice ids) and machine text (``code``, ``pre``, ``kbd``, ``samp``),
a Chinese page shows no English words but the abbreviations every user reads as such (CSV,
XLSX, ...).

The catalog test (``test_catalogs``) proves every extracted message has a Chinese translation;
this test catches what extraction cannot see: text in a template that is not marked for
translation, and words a view puts on the page without ``gettext``.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Notice, Stratum, User

from ..integration import centre as c
from .test_markup import data_strings, pages, parse

MACHINE_TEXT = re.compile(r"<(code|pre|kbd|samp)\b[^>]*>.*?</\1>", re.S)
WORD = re.compile(r"[A-Za-z]{2,}")
ABBREVIATIONS = {"API", "CSV", "XLSX", "JSON", "PDF", "UTC", "UTF", "SHA", "ID", "URL", "GB", "Ed"}
# Machine text inside translated sentences: a command, file names, a date pattern, examples.
MACHINE_WORDS = {
    "python",
    "expertdraw",
    "verify",
    "BUNDLE",
    "replay",
    "zip",
    "keys",
    "txt",
    "example",
    "AbCd",
    "YYYY",
    "MM",
    "DD",
    "high",
    "medium",
    "low",
}


def extra_pages(completed: dict[str, Any]) -> dict[str, list[str]]:
    """Supervisor pages the markup test does not open."""
    draw = completed["draw"]
    return {
        "sup1": [
            "/supervisor/reports",
            "/supervisor/alerts",
            "/supervisor/samples",
            "/supervisor/samples/new",
            f"/supervisor/draws/{draw}/record",
            "/supervisor/export/draws",
        ]
    }


def english_words(html: str, data: list[str]) -> set[str]:
    text = " ".join(parse(MACHINE_TEXT.sub(" ", html)).text)
    for value in data:
        text = text.replace(value, " ")
    return {w for w in WORD.findall(text) if w not in ABBREVIATIONS | MACHINE_WORDS}


def test_chinese_pages_have_no_untranslated_text(app, completed, login):
    expert = c.expert_user(sorted(s for s in completed["hidden"] if s.startswith("E"))[0])
    data = data_strings()
    data += list(db.session.scalars(sa.select(User.username)))
    data += list(db.session.scalars(sa.select(Stratum.name)))
    data += list(db.session.scalars(sa.select(Notice.id)))
    data.sort(key=len, reverse=True)
    found: dict[str, set[str]] = {}
    everything = pages(completed)
    for username, paths in extra_pages(completed).items():
        everything[username] = everything.get(username, []) + paths
    for username, paths in everything.items():
        if username is None:
            client = app.test_client()
        else:
            client = login(expert.username if username == "expert" else username)
        for path in paths:
            joiner = "&" if "?" in path else "?"
            response = client.get(f"{path}{joiner}lang=zh")
            assert response.status_code in (200, 404), (path, response.status_code)
            words = english_words(response.get_data(as_text=True), data)
            if words:
                found[path] = words
    assert found == {}, f"English on Chinese pages: {found}"
