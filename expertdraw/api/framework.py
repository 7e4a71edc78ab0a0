"""``api_route``: declaring an API endpoint with its roles, input and output models.

Why: authorization must be impossible to forget. Every endpoint is declared through
``api_route`` with ``roles=`` (a set of roles, or ``PUBLIC``); without it registration fails, so
access is denied by default. The same declaration drives request validation, response
serialisation, the OpenAPI document and the authorization-matrix test (``operations()``).

The view receives its path parameters, plus ``body=`` (a validated model) when ``body`` is
declared, ``query=`` when ``query`` is, and ``idempotency_key=`` when ``idempotency`` is. It
returns what the response model can be built from (a model, a dict or an ORM object), or
``(that, headers)``; for ``status=204`` it returns ``None``.

Order of checks: authentication (401) → role (403) → CSRF for cookie sessions → headers →
query → body. A role that may not call an endpoint learns nothing about its input rules.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final
from weakref import WeakKeyDictionary

from flask import Blueprint, Response, current_app, request
from flask_wtf.csrf import validate_csrf
from pydantic import BaseModel
from wtforms.validators import ValidationError as CsrfInvalid

from .. import auth
from ..input_text import has_control
from ..models.users import ROLES
from .errors import ApiError
from .input_rules import check_input_model
from .requests import idempotency_key, parse_body, parse_query

PUBLIC: Final = "public"
ALL_ROLES: Final = frozenset(ROLES)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_INT_PARAM = 2**31 - 1
MAX_STRING_PARAM = 200
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>")
_CONVERTERS = {"int": "integer", "string": "string", "default": "string"}


@dataclass(frozen=True)
class Operation:
    """One declared endpoint, as the OpenAPI document and the tests see it."""

    method: str
    path: str  # Flask rule with the blueprint prefix, e.g. /api/v1/users/<int:user_id>
    endpoint: str
    public: bool
    roles: frozenset[str]  # the roles allowed; every role when ``public``
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    summary: str
    description: str
    tags: tuple[str, ...]
    path_params: tuple[tuple[str, str], ...]  # (name, "integer" | "string")
    idempotency: str | None  # "required", "optional" or None
    rate_limited: bool
    #: Error statuses the view itself may answer, beyond those its shape implies.
    errors: tuple[int, ...] = ()
    #: The success response's media type: JSON, or a file download.
    media_type: str = "application/json"

    @property
    def openapi_path(self) -> str:
        """The path with ``{name}`` placeholders."""
        return _PARAM.sub(lambda m: "{" + m.group("name") + "}", self.path)


_REGISTRY: WeakKeyDictionary[Blueprint, list[Operation]] = WeakKeyDictionary()


def operations(bp: Blueprint) -> tuple[Operation, ...]:
    """Every endpoint declared on ``bp`` with ``api_route``, in declaration order."""
    return tuple(_REGISTRY.get(bp, ()))


def _check_roles(roles: Iterable[str] | str | None) -> tuple[bool, frozenset[str]]:
    if roles == PUBLIC:
        return True, ALL_ROLES
    if roles is None or isinstance(roles, str):
        raise ValueError("roles must be PUBLIC or a non-empty set of roles (deny by default)")
    chosen = frozenset(roles)
    unknown = chosen - ALL_ROLES
    if not chosen or unknown:
        raise ValueError(f"roles must be a non-empty subset of {sorted(ALL_ROLES)}: {unknown}")
    return False, chosen


def _path_params(path: str) -> tuple[tuple[str, str], ...]:
    params = []
    for match in _PARAM.finditer(path):
        conv = match.group("conv") or "default"
        if conv not in _CONVERTERS:
            raise ValueError(f"path converter {conv!r} is not supported; use int or string")
        params.append((match.group("name"), _CONVERTERS[conv]))
    return tuple(params)


def api_route(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    roles: Iterable[str] | str,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    description: str = "",
    tags: Iterable[str] | None = None,
    idempotency: str | None = None,
    rate_limited: bool = False,
    errors: Iterable[int] = (),
    media_type: str = "application/json",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an endpoint on ``bp``; see the module docstring. Raises on a bad declaration.

    ``roles``: ``PUBLIC`` or a non-empty set from ``models.users.ROLES`` (``ALL_ROLES`` for any
    logged-in user). ``idempotency``: ``"required"`` or ``"optional"`` to read the
    ``Idempotency-Key`` header. ``rate_limited`` only documents a 429 the view may raise;
    ``errors`` documents the other statuses the view answers that its shape does not imply
    (a lookup by query: 404). ``media_type``: a file download's type (the body is its bytes).
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    public, allowed = _check_roles(roles)
    if body is not None and method not in BODY_METHODS:
        raise ValueError(f"{method} {rule}: a body is only allowed with {BODY_METHODS}")
    for model in (body, query):
        if model is not None:
            check_input_model(model)
    if response is not None and not issubclass(response, BaseModel):
        raise TypeError("response must be a pydantic model")
    if status == 204 and response is not None:
        raise ValueError("a 204 response has no body; leave response=None")
    if idempotency not in (None, "required", "optional"):
        raise ValueError("idempotency must be None, 'required' or 'optional'")
    if not summary.strip():
        raise ValueError("summary is required (it names the operation in the OpenAPI document)")
    params = _path_params(rule)
    path = (bp.url_prefix or "") + rule
    first_segment = rule.strip("/").split("/", 1)[0] or "api"
    tag_list = tuple(tags) if tags is not None else (first_segment,)

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        operation = Operation(
            method=method,
            path=path,
            endpoint=f"{bp.name}.{func.__name__}",
            public=public,
            roles=allowed,
            body=body,
            query=query,
            response=response,
            status=status,
            summary=summary.strip(),
            description=description.strip() or (func.__doc__ or "").strip(),
            tags=tag_list,
            path_params=params,
            idempotency=idempotency,
            rate_limited=rate_limited,
            errors=tuple(sorted(set(errors))),
            media_type=media_type,
        )
        registry = _REGISTRY.setdefault(bp, [])
        for other in registry:
            if (other.method, other.openapi_path) == (method, operation.openapi_path):
                raise ValueError(f"{method} {path} is declared twice")
            if other.endpoint == operation.endpoint:
                raise ValueError(f"endpoint name {operation.endpoint} is used twice")

        @functools.wraps(func)
        def view(**path_args: Any) -> Response:
            authorize(operation)
            _check_path_args(path_args)
            kwargs = dict(path_args)
            if idempotency is not None:
                kwargs["idempotency_key"] = idempotency_key(idempotency == "required")
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_body(body)
            return render(operation, func(**kwargs))

        # OPTIONS is the catch-all's: Flask's own answer would list its methods too.
        bp.add_url_rule(
            rule,
            endpoint=func.__name__,
            view_func=view,
            methods=[method],
            provide_automatic_options=False,
        )
        registry.append(operation)
        return func

    return decorator


def authorize(operation: Operation) -> None:
    """401 when anonymous, 403 when the role may not call ``operation``; CSRF for sessions."""
    if operation.public:
        return
    user = auth.current_user()
    if user is None:
        code = auth.auth_error() or "auth:required"
        detail = (
            "the bearer token is unknown, revoked or expired" if code != "auth:required" else None
        )
        raise ApiError(
            401,
            code,
            detail or "log in or send a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if user.role not in operation.roles:
        raise ApiError(403, "auth:forbidden", "your role may not use this endpoint")
    if auth.auth_method() == "session" and request.method not in SAFE_METHODS:
        check_csrf()


def check_csrf() -> None:
    """Cookie-authenticated writes need the page's CSRF token in ``X-CSRFToken``."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
    try:
        validate_csrf(token)
    except CsrfInvalid:
        raise ApiError(403, "auth:csrf", "send the page's CSRF token in X-CSRFToken") from None


def _check_path_args(path_args: dict[str, Any]) -> None:
    """Ids beyond the database's range, absurdly long codes, or codes holding a control
    character (NUL is a database error on PostgreSQL) cannot exist: 404."""
    for value in path_args.values():
        too_big = isinstance(value, int) and value > MAX_INT_PARAM
        odd = isinstance(value, str) and (len(value) > MAX_STRING_PARAM or has_control(value))
        if too_big or odd:
            raise ApiError(404, "not-found", "no such resource")


def render(operation: Operation, result: Any) -> Response:
    """Serialise a view's result through the declared response model."""
    headers: dict[str, str] = {}
    if isinstance(result, tuple):
        result, headers = result
    if isinstance(result, Response):
        return result
    if operation.status == 204:
        response = Response(status=204)
    else:
        model = operation.response
        if model is None:
            payload = current_app.json.dumps(result)
        elif isinstance(result, model):
            payload = result.model_dump_json(by_alias=True)
        else:
            payload = model.model_validate(result, from_attributes=True).model_dump_json(
                by_alias=True
            )
        response = Response(payload, status=operation.status, mimetype="application/json")
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response
