"""Server-rendered pages: one blueprint per role, Flask-Babel (zh_CN default, en), CSRF.

Layout: ``auth`` (login, logout, the home redirect), ``manager``, ``supervisor`` (draw room
with outside entropy, list opening, print record; inspection reports, alerts and supervision
samples from ``inspection_pages`` and ``sampling_pages``), ``ledger`` (ledger, cosigning from
``cosign_pages``, bundle, receipts, eligibility look-up), ``expert``, ``staff`` and ``admin``;
templates under ``web/templates/<role>/``, one CSS and one JS file under ``web/static``.
Every view declares its roles (``access.roles_required``) and ``init_app`` refuses to start
when one does not: access is denied by default.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from . import access, errors, i18n, templating

babel = Babel()
csrf = CSRFProtect()

#: The largest page request body, an import's file with it.
UPLOAD_LIMIT = 16 * 1024 * 1024


def init_app(app: Flask) -> None:
    """Register Flask-Babel, CSRF protection (the JSON API checks its own), the page blueprints,
    the HTML error pages and the security headers."""
    from ..api import bp as api_bp
    from . import (
        account,
        admin,
        admin_edit,
        admin_users,
        auth,
        cosign_pages,
        draw_export,
        expert,
        inspection_pages,
        ledger_pages,
        lookup,
        manager,
        record,
        sampling_pages,
        staff,
        supervisor,
    )

    del account  # its views (password, signed-in browsers) register on auth.bp
    del admin_users  # its views (users, import) register on admin.bp when imported
    del admin_edit  # so do its views (editing experts, places, organisations, users)
    del lookup  # its view (organisations by credit code, JSON) registers on manager.bp
    del draw_export  # its view (draws of a period, XLSX) registers on record.bp
    # Their views register on supervisor.bp (reports, alerts; samples) and ledger.bp (cosign).
    del cosign_pages, inspection_pages, sampling_pages

    app.config.setdefault("BABEL_DEFAULT_LOCALE", i18n.DEFAULT_LOCALE)
    app.config.setdefault("LOGIN_VIEW", "web.login")
    # Uploads (imports) up to 16 MB; the API sets its own, smaller limit per request. Flask's
    # defaults hold the key (None: no limit), so setdefault would keep that.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = UPLOAD_LIMIT
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    csrf.init_app(app)
    csrf.exempt(api_bp)
    blueprints = (
        auth.bp,
        manager.bp,
        supervisor.bp,
        record.bp,
        ledger_pages.bp,
        expert.bp,
        staff.bp,
        admin.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    access.check_declared(app, {b.name for b in blueprints})
    templating.init_app(app)
    errors.init_app(app)
    i18n.init_app(app)
