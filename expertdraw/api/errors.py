"""Every error under ``/api/v1`` as ``application/problem+json`` with a stable ``code``.

Why one place: clients switch on ``code``, so the mapping from exceptions to (status, code)
must be the same for every endpoint, and an unexpected exception must never leak internals.

Codes of the framework: ``invalid:json``, ``invalid:body``, ``invalid:query``,
``invalid:content-type``, ``invalid:too-large``, ``invalid:idempotency-key``, ``invalid:request``,
``auth:required``, ``auth:invalid-token``, ``auth:bad-credentials``, ``auth:forbidden``,
``auth:csrf``, ``not-found``, ``method-not-allowed``, ``conflict``, ``rate-limited``,
``internal``. Domain exceptions carry their own codes (``insufficient:technical``,
``forbidden:list-sealed``, ...); see ``problem_from_exception`` for how they map to a status.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:expertdraw:problem:"
MAX_DETAIL = 500

# Framework codes for plain HTTP errors (werkzeug's, Flask-Limiter's 429, ``abort(...)``).
CODE_BY_STATUS: dict[int, str] = {
    400: "invalid:request",
    401: "auth:required",
    403: "auth:forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "invalid:too-large",
    415: "invalid:content-type",
    422: "invalid:body",
    429: "rate-limited",
}

# Status of a domain error that has a ``code`` but no ``http_status``, by the code's first
# segment (``forbidden:list-sealed`` → 403). Anything else becomes DEFAULT_DOMAIN_STATUS.
STATUS_BY_PREFIX: dict[str, int] = {
    "invalid": 422,
    "auth": 401,
    "forbidden": 403,
    "not-found": 404,
    "conflict": 409,
    "infeasible": 409,
    "insufficient": 409,
    "rate-limited": 429,
}
DEFAULT_DOMAIN_STATUS = 409

# Exact codes whose status differs from their prefix's (checked before STATUS_BY_PREFIX).
STATUS_BY_CODE: dict[str, int] = {
    "user:link": 422,
    "user:expert-taken": 409,
    "user:expert-removed": 409,
    "user:language": 422,
    "user:password": 422,
    "user:password-same": 422,
    "user:role": 422,
    "user:username": 409,
}

# Codes of exceptions that mean the server is broken, not the request: reported as 500.
INTERNAL_CODES: set[str] = {"personal-data"}


class ApiError(Exception):
    """An error raised by API code, reported as problem+json with exactly these values."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.http_status = status
        self.code = code
        self.message = detail or HTTP_STATUS_CODES.get(status, "Error")
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})


@dataclass
class ProblemDetails:
    """What one error response says; ``response()`` renders it."""

    status: int
    code: str
    detail: str
    errors: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The problem+json object."""
        data: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": HTTP_STATUS_CODES.get(self.status, "Error"),
            "status": self.status,
            "code": self.code,
            "detail": self.detail[:MAX_DETAIL],
        }
        if self.errors is not None:
            data["errors"] = self.errors
        return data

    def response(self) -> Response:
        """The Flask response: problem+json, never cached."""
        response = Response(
            json.dumps(self.body(), ensure_ascii=False),
            status=self.status,
            mimetype=PROBLEM_MEDIA_TYPE,
        )
        for name, value in self.headers.items():
            response.headers[name] = value
        if self.status == 401:
            response.headers.setdefault("WWW-Authenticate", "Bearer")
        response.headers["Cache-Control"] = "no-store"
        return response


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return str(message if isinstance(message, str) and message else exc)


def _from_http(exc: HTTPException) -> ProblemDetails:
    status = exc.code or 500
    code = CODE_BY_STATUS.get(status, f"http:{status}")
    headers: dict[str, str] = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
    if status == 429:
        headers.update({k: v for k, v in exc.get_headers() if k.lower() == "retry-after"})
    detail = exc.description or HTTP_STATUS_CODES.get(status, "Error")
    return ProblemDetails(status, code, detail, None, headers)


def _is_domain(exc: BaseException) -> bool:
    """A code-carrying exception of our own code base (SQLAlchemy errors also have a ``code``)."""
    return type(exc).__module__.startswith("expertdraw.") or isinstance(exc, ApiError)


def problem_from_exception(exc: BaseException) -> ProblemDetails | None:
    """Map an exception to the problem it reports, or ``None`` for a 500 (a server bug).

    - ``HTTPException``: its status; ``code`` from ``CODE_BY_STATUS``.
    - any exception with a string ``code`` and an integer ``http_status``: exactly those
      (``ApiError`` is one; a domain exception may declare a class attribute ``http_status``);
    - an expertdraw exception with a string ``code`` only: status from the code's first segment
      (``STATUS_BY_CODE``, then ``STATUS_BY_PREFIX``), else 409; ``INTERNAL_CODES`` stay 500;
    - ``IntegrityError`` (a unique or foreign key violated): 409 ``conflict``, no SQL shown.

    Optional attributes used when present: ``message`` (the detail), ``errors`` (a list of
    ``{"field", "in", "message", "type"}``), ``headers``.
    """
    if isinstance(exc, HTTPException):
        return _from_http(exc)
    if isinstance(exc, IntegrityError):
        return ProblemDetails(409, "conflict", "the request conflicts with existing data")
    code = getattr(exc, "code", None)
    if not isinstance(code, str) or not code or code in INTERNAL_CODES:
        return None
    status = getattr(exc, "http_status", None)
    if not isinstance(status, int) or isinstance(status, bool):
        if not _is_domain(exc):
            return None
        status = STATUS_BY_CODE.get(code) or STATUS_BY_PREFIX.get(
            code.split(":", 1)[0], DEFAULT_DOMAIN_STATUS
        )
    if not 400 <= status <= 599:
        return None
    errors = getattr(exc, "errors", None)
    headers = getattr(exc, "headers", None)
    return ProblemDetails(
        status,
        code,
        _message(exc),
        list(errors) if isinstance(errors, list) else None,
        dict(headers) if isinstance(headers, Mapping) else {},
    )


def handle_exception(exc: BaseException) -> Response:
    """Blueprint error handler: every exception under /api/v1 becomes problem+json.

    The database session is rolled back first, so that nothing half-done by the failed
    request is committed later, and the session is usable again.
    """
    _rollback()
    problem = problem_from_exception(exc)
    if problem is None:
        incident = secrets.token_hex(6)
        current_app.logger.exception("unhandled error in API request (incident %s)", incident)
        problem = ProblemDetails(
            500, "internal", f"an internal error occurred; incident {incident} has been logged"
        )
    elif problem.status >= 500:
        current_app.logger.error("API error %s: %s", problem.code, problem.detail)
    return problem.response()


def _rollback() -> None:
    from ..extensions import db

    try:
        db.session.rollback()
    except Exception:  # a broken connection must not hide the original error
        current_app.logger.exception("rollback after an API error failed")
