"""The translation catalogs are complete: every message of the page templates and web code has
a non-empty Chinese translation (in Chinese) and an English one, and the compiled ``.mo``
files match the ``.po`` sources."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[2]
TRANSLATIONS = REPO / "expertdraw" / "translations"
CATALOGS = {"zh_Hans_CN": "Chinese", "en": "English"}
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
}
METHOD_MAP = [
    ("expertdraw/web/**.py", "python"),
    ("expertdraw/web/templates/**.html", "jinja2"),
]
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def extracted() -> set[str]:
    """Every msgid the pages use, extracted as ``pybabel extract -F babel.cfg`` does."""
    ids: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(REPO), METHOD_MAP, keywords=KEYWORDS
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def catalog(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def test_babel_cfg_extracts_the_same_files_as_this_test():
    config = (REPO / "babel.cfg").read_text(encoding="utf-8")
    for pattern, method in METHOD_MAP:
        assert f"[{method}: {pattern}]" in config


def test_messages_are_extracted_from_templates_and_code():
    ids = extracted()
    assert "Log in" in ids  # a template
    assert "Wrong username or password." in ids  # a view
    assert "Conflict of interest" in ids  # a lazy label


@pytest.mark.parametrize("locale", sorted(CATALOGS))
def test_every_message_has_a_translation(locale: str):
    translations = {m.id: m for m in catalog(locale) if m.id}
    missing, empty, fuzzy = [], [], []
    for msgid in sorted(extracted()):
        message = translations.get(msgid)
        if message is None:
            missing.append(msgid)
        elif not (message.string if isinstance(message.string, str) else all(message.string)):
            empty.append(msgid)
        elif message.fuzzy:
            fuzzy.append(msgid)
    assert (missing, empty, fuzzy) == ([], [], []), f"{CATALOGS[locale]} catalog incomplete"


def test_chinese_translations_are_chinese_text():
    not_chinese = []
    for message in catalog("zh_Hans_CN"):
        if not message.id or isinstance(message.id, tuple):
            continue
        words = re.findall(r"[A-Za-z]{2,}", PLACEHOLDER.sub("", message.id))
        if words and not CJK.search(message.string):
            not_chinese.append(message.id)
    assert not_chinese == []


def test_placeholders_survive_translation():
    for locale in CATALOGS:
        for message in catalog(locale):
            if message.id and isinstance(message.id, str):
                assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
                    PLACEHOLDER.findall(message.string)
                ), (locale, message.id)


@pytest.mark.parametrize("locale", sorted(CATALOGS))
def test_the_compiled_catalog_matches_its_source(locale: str):
    mo = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [
        m.id
        for m in catalog(locale)
        if m.id and isinstance(m.id, str) and compiled.gettext(m.id) != m.string
    ]
    assert stale == [], f"run: pybabel compile -d expertdraw/translations ({len(stale)} stale)"
