"""JSON API under ``/api/v1``: problem+json errors, role-checked endpoints, OpenAPI 3.1.

Route modules declare endpoints with ``framework.api_route`` on ``blueprint.bp``; importing a
module registers its endpoints, so each one is listed in ``ROUTE_MODULES`` below. Anything under
``/api/v1`` that no endpoint matches is a problem+json 404 (or 405 with ``Allow``), answered
by a catch-all route inside the blueprint so that the blueprint's error handler applies even
when the web pages register their own HTML 404 page; it answers ``OPTIONS`` too, listing only
the methods the path's endpoints take.
"""

from __future__ import annotations

import importlib

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from .blueprint import PREFIX, bp
from .errors import handle_exception
from .framework import METHODS, operations

# Add new route modules here (e.g. "projects", "draws", "ledger").
ROUTE_MODULES = ("account", "users", "meta", "projects", "draws", "notices", "ledger", "inspection")
CATCH_ALL = "not_found"
MAX_CONTENT_LENGTH = 1024 * 1024


def init_app(app: Flask) -> None:
    """Register the API blueprint (once per app) with its error handling."""
    for name in ROUTE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    app.config.setdefault("API_MAX_CONTENT_LENGTH", MAX_CONTENT_LENGTH)
    app.register_blueprint(bp)


def _allowed_methods() -> list[str]:
    """Methods some other API endpoint accepts for this path (for 405 vs 404)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != f"{bp.name}.{CATCH_ALL}":
            allowed.append(method)
    return allowed


def _not_found(rest: str = "") -> Response:
    """Unmatched paths and methods under /api/v1: 404 or 405 as problem+json; ``OPTIONS``
    on a path some endpoint answers lists the methods it answers (and HEAD with GET)."""
    allowed = _allowed_methods()
    if allowed and request.method == "OPTIONS":
        methods = [*allowed, *(["HEAD"] if "GET" in allowed else []), "OPTIONS"]
        return Response(status=204, headers={"Allow": ", ".join(methods)})
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound("no such API endpoint")


bp.add_url_rule("", CATCH_ALL, _not_found, methods=[*METHODS, "HEAD", "OPTIONS"])
bp.add_url_rule("/<path:rest>", CATCH_ALL, _not_found, methods=[*METHODS, "HEAD", "OPTIONS"])
bp.register_error_handler(Exception, handle_exception)


@bp.before_request
def _limit_body() -> None:
    """Bodies over ``API_MAX_CONTENT_LENGTH`` (1 MB) are refused with 413 when read."""
    request.max_content_length = current_app.config["API_MAX_CONTENT_LENGTH"]


@bp.after_request
def _no_store(response: Response) -> Response:
    """API answers may hold tokens or personal data: never cache them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


__all__ = ["PREFIX", "bp", "init_app", "operations"]
