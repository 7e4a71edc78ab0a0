"""What every page template gets: the user, the role's navigation, the language switch,
date filters in the centre's time zone, code labels; and the security headers of pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask, Response, current_app, g, request, url_for
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l

from ..domain.canonical import canonical
from ..domain.notice_text import DEFAULT_WHAT_TO_BRING
from . import i18n, labels

NAV: dict[str, list[tuple[str, Any]]] = {
    "project_manager": [
        ("manager.projects", _l("Projects")),
        ("manager.new_project", _l("New project")),
    ],
    "supervisor": [
        ("supervisor.draws_list", _l("Draws")),
        ("ledger.overview", _l("Ledger")),
        ("ledger.eligibility", _l("Eligibility look-up")),
        ("supervisor.reports_list", _l("Inspection reports")),
        ("supervisor.samples", _l("Supervision samples")),
        ("supervisor.alerts_list", _l("Expert-use alerts")),
    ],
    "admin": [
        ("admin.home", _l("Overview")),
        ("admin.experts_list", _l("Expert pool")),
        ("admin.venues", _l("Venues")),
        ("admin.organisations", _l("Organisations")),
        ("admin.users", _l("Users")),
        ("admin.keys_list", _l("Keys")),
        ("admin.import_data", _l("Import")),
        ("manager.projects", _l("Projects")),
        ("supervisor.draws_list", _l("Draws")),
        ("ledger.overview", _l("Ledger")),
        ("supervisor.reports_list", _l("Inspection reports")),
        ("supervisor.samples", _l("Supervision samples")),
        ("supervisor.alerts_list", _l("Expert-use alerts")),
    ],
    "expert": [
        ("expert.inbox", _l("Notices")),
        ("expert.schedule", _l("My schedule")),
        ("expert.conflicts", _l("Declared conflicts")),
        ("expert.leave", _l("My leave")),
        ("expert.profile", _l("My data")),
    ],
    "venue_staff": [("staff.today", _l("Bookings and check-in"))],
}

# Content Security Policy of the pages: no inline script or style, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _dt(value: datetime | None, pattern: str = "yyyy-MM-dd HH:mm") -> str:
    return "" if value is None else format_datetime(value, pattern)


def _date(value: date | None) -> str:
    return "" if value is None else format_date(value, "yyyy-MM-dd")


def _switch_url(code: str) -> str:
    """This page in the other language (pages shown after a POST: the home page)."""
    rule = request.url_rule
    if rule is None or "GET" not in (rule.methods or ()) or request.endpoint is None:
        return url_for("web.index", lang=code)
    # The same path and query with ``lang`` set: built by hand, since a query key that is
    # one of ``url_for``'s own parameters or a path argument would break the page.
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    path = request.script_root + quote(request.path)
    return f"{path}?{urlencode([*query, ('lang', code)])}"


def _context() -> dict[str, Any]:
    user = g.get("user")
    locale = get_locale()
    english = locale is not None and locale.language == "en"
    nav = NAV.get(user.role, []) if user is not None else []
    return {
        "user": user,
        "nav": nav,
        "html_lang": "en" if english else "zh-CN",
        "lang": "en" if english else "zh",
        "switch_url": _switch_url,
    }


def _headers(response: Response) -> Response:
    """Security headers: every response is ``nosniff``; whatever a logged-in user receives
    (pages, downloads, API answers) is ``no-store``, so that a shared computer's cache keeps
    no list, report or bundle; in production, browsers keep to HTTPS (HSTS)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.blueprint != "api" and response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    endpoint = (request.endpoint or "").rpartition(".")[2]
    if g.get("user") is not None and endpoint != "static":
        # Over what a view set too (``send_file`` answers ``no-cache``, which still stores);
        # the style sheet and script hold nobody's data.
        response.headers["Cache-Control"] = "no-store"
    if current_app.config.get("PRODUCTION"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def entropy_text(value: Any) -> str:
    """A draw's ``entropy_value`` as the exact text that enters its seed (draw.md §3.2): the
    key string or pulse as it is; witness values as their canonical JSON list, so that
    ``a, b`` and ``a`` + ``b`` can be told apart and copied into an independent replay."""
    if isinstance(value, str):
        return value
    return canonical(value).decode("utf-8")


def init_app(app: Flask) -> None:
    """Register the filters, the context processor and the page headers."""
    app.jinja_env.filters["dt"] = _dt
    app.jinja_env.filters["day"] = _date
    app.jinja_env.filters["entropy"] = entropy_text
    # Globals, not context: macros imported without context use them too.
    app.jinja_env.globals.update(
        label=labels.label,
        reason_text=labels.reason,
        choices=labels.choices,
        failure=labels.failure,
        zone_label=i18n.zone_label,
        what_to_bring=lambda: DEFAULT_WHAT_TO_BRING[i18n.current_code()],  # as e-mailed
    )
    app.context_processor(_context)
    app.after_request(_headers)
