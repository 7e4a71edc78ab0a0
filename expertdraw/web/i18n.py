"""Interface language: ``?lang=zh|en``, else the user's saved choice, else the browser's
``Accept-Language``; Chinese (zh_CN) by default.

A ``?lang=`` on any page is remembered: in ``User.language`` for a logged-in user, in the
session otherwise. Texts live in the Flask-Babel catalogs under ``expertdraw/translations``;
the Chinese one is ``zh_Hans_CN`` because Babel resolves ``zh_CN`` to that CLDR name (a folder
called ``zh_CN`` would never be found).
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g, request, session
from flask_babel import gettext as _
from flask_babel import refresh

from .. import auth, clock
from ..services import preferences
from ..services.reports_periods import DEFAULT_ZONE, zone

DEFAULT_LOCALE = "zh_CN"
# The ?lang= value and the locale it selects.
LOCALES = {"zh": "zh_CN", "en": "en"}
SESSION_KEY = "lang"


def _requested() -> str | None:
    value = request.args.get("lang")
    return value if value in LOCALES else None


def select_locale() -> str:
    """The locale of this request (Flask-Babel's locale selector)."""
    asked = _requested()
    if asked:
        return LOCALES[asked]
    user = auth.current_user()
    if user is not None and user.language:
        saved = user.language.split("_")[0]
        if saved in LOCALES:
            return LOCALES[saved]
    if session.get(SESSION_KEY) in LOCALES:
        return LOCALES[session[SESSION_KEY]]
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    if best and best.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def select_timezone() -> str:
    """The trading centre's zone (``[reports] timezone``), in which every page shows and reads
    times, so that a page, an export and a report cut their days at the same midnight."""
    return zone().key


def zone_label(at: datetime | None = None) -> str:
    """The centre's zone as pages name it: "China Standard Time (UTC+8)" by default, else the
    zone's name and its offset now (or ``at``)."""
    centre = zone()
    if centre.key == DEFAULT_ZONE:
        return _("China Standard Time (UTC+8)")
    offset = (at or clock.now()).astimezone(centre).strftime("%z")
    return _("%(zone)s (UTC%(offset)s)", zone=centre.key, offset=f"{offset[:3]}:{offset[3:]}")


def current_code() -> str:
    """``zh`` or ``en`` for the current request."""
    return "en" if select_locale() == "en" else "zh"


def _remember_choice() -> None:
    """Keep a ``?lang=`` choice: on the user when logged in, else in the session."""
    asked = _requested()
    if not asked or request.blueprint in (None, "api"):
        return
    user = auth.current_user()
    if user is not None and auth.auth_method() == "session":
        preferences.set_language(user, asked)
    session[SESSION_KEY] = asked
    g.lang_saved = asked


def _fresh_locale() -> None:
    """Forget a locale cached on ``g`` by an earlier request sharing the app context (tests)."""
    refresh()


def init_app(app: Flask) -> None:
    """Choose the locale afresh on every request, and remember language choices."""
    app.before_request(_fresh_locale)
    app.before_request(_remember_choice)
