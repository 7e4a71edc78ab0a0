"""HTML error pages for the pages (the JSON API answers problem+json from its own handler,
which Flask prefers for requests inside the API blueprint)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..api.framework import MAX_INT_PARAM
from ..input_text import has_control
from ..services.errors import Forbidden, NotFound, ServiceError
from ..services.keys import SigningKeyError
from .forms import message_for


def _page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


def _for_api(exc: Exception) -> Any:
    """Errors of API requests stay problem+json, whichever handler Flask picked."""
    from ..api.errors import handle_exception

    return handle_exception(exc)


def _http(exc: HTTPException) -> Any:
    if request.blueprint == "api":
        return _for_api(exc)
    status = exc.code or 500
    titles = {
        400: _("The request was not understood"),
        403: _("Access denied"),
        404: _("Page not found"),
        405: _("This action is not available here"),
        413: _("The file is too large"),
        429: _("Too many attempts"),
    }
    messages = {
        403: _("Your role may not open this page. If you need it, ask an administrator."),
        404: _("There is no page at this address."),
        413: _("Upload a smaller file."),
    }
    return _page(
        status,
        titles.get(status, _("Something went wrong")),
        messages.get(status, _("Go back and try again.")),
    )


def _csrf(exc: CSRFError) -> Any:
    if request.blueprint == "api":
        return _for_api(exc)
    return _page(
        400,
        _("The form has expired"),
        _("For your security the form could not be accepted. Reload the page and try again."),
    )


def _service(exc: ServiceError) -> Any:
    if request.blueprint == "api":
        return _for_api(exc)
    if isinstance(exc, NotFound):
        return _page(404, _("Not found"), message_for(exc.code, str(exc)))
    if isinstance(exc, Forbidden):
        return _page(403, _("Access denied"), message_for(exc.code, str(exc)))
    return _page(exc.http_status, _("The request could not be completed"), message_for(exc.code))


def _refuse_control_characters() -> Any:
    """A page request whose query or form holds a control character (``input_text``) gets a
    400 page naming the field, before any view can pass the text on."""
    if request.blueprint == "api":
        return None  # the API names the field in its own problem (api.requests)
    for values in (request.args, request.form):
        for name, value in values.items(multi=True):
            if has_control(name) or has_control(value):
                return _page(
                    400,
                    _("The request was not understood"),
                    _(
                        "The field %(field)s contains control characters. Remove them and "
                        "try again.",
                        field=name[:60],
                    ),
                )
    return None


def _refuse_impossible_ids() -> Any:
    """A page address with a number, or a code holding a control character (NUL is a
    database error on PostgreSQL), that no row can have is a 404 page."""
    if request.blueprint == "api":
        return None  # the API checks its own path parameters (api.framework)
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_INT_PARAM:
            return _page(404, _("Not found"), _("Not found."))
        if isinstance(value, str) and has_control(value):
            return _page(404, _("Not found"), _("Not found."))
    return None


def _signing_key(exc: SigningKeyError) -> Any:
    """The ledger cannot be signed (its key file is gone or unreadable): nothing was changed,
    and the administrator must act; the details go to the log, not to the page."""
    current_app.logger.error("ledger signing key unavailable: %s", exc)
    if request.blueprint == "api":
        return _for_api(exc)
    return _page(
        503,
        _("The service cannot record this now"),
        _("The ledger cannot be signed now; nothing was changed. Tell the administrator."),
    )


def init_app(app: Flask) -> None:
    """Register the error pages."""
    app.before_request(_refuse_control_characters)
    app.before_request(_refuse_impossible_ids)
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(ServiceError, _service)
    app.register_error_handler(SigningKeyError, _signing_key)
    for status in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(status, _http)
