"""Reading API input: JSON bodies, query strings and the ``Idempotency-Key`` header.

Why strict: a trading centre's audit depends on the API refusing anything it does not fully
understand. Bodies must be ``application/json`` objects without duplicate keys, ``NaN`` or
unknown fields; every failure is a 4xx problem naming the field, never a 500.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar, get_origin

from flask import request
from pydantic import BaseModel, ValidationError

from ..input_text import first_bad_field, has_control
from .errors import ApiError

M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,100}")
MAX_ERRORS = 50
MAX_FIELD = 100
JSON_TYPES = {"application/json"}


class _BadJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BadJson(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _BadJson(f"duplicate key {key[:MAX_FIELD]!r}")
        result[key] = value
    return result


def field_errors(exc: ValidationError, location: str) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field", "in", "message", "type"}``, never echoing the input."""
    errors = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"]) or "$"
        if len(path) > MAX_FIELD:
            path = path[: MAX_FIELD - 1] + "…"
        errors.append(
            {"field": path, "in": location, "message": error["msg"], "type": error["type"]}
        )
    return errors[:MAX_ERRORS]


def _invalid(code: str, location: str, exc: ValidationError) -> ApiError:
    errors = field_errors(exc, location)
    names = ", ".join(e["field"] for e in errors[:5])
    return ApiError(422, code, f"invalid {location}: {names}", errors=errors)


def parse_json() -> Any:
    """The request body as JSON data; raises ``ApiError`` 415/413/400 when it is not JSON."""
    if request.mimetype not in JSON_TYPES:
        raise ApiError(
            415,
            "invalid:content-type",
            "send the body as application/json",
            errors=[
                {
                    "field": "Content-Type",
                    "in": "header",
                    "message": "must be application/json",
                    "type": "content_type",
                }
            ],
        )
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    if not raw.strip():
        raise ApiError(400, "invalid:json", "the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")  # RFC 8259: JSON between systems is UTF-8, never UTF-16/32
    except UnicodeDecodeError as exc:
        detail = f"malformed JSON: not UTF-8 (byte {exc.start})"
        raise ApiError(400, "invalid:json", detail) from None
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        detail = f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ApiError(400, "invalid:json", detail) from None
    except _BadJson as exc:
        raise ApiError(400, "invalid:json", f"malformed JSON: {exc}") from None
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid:json", "malformed JSON: not UTF-8 or too deep") from None


def _first_infinite(data: Any, path: str = "") -> str | None:
    """The dotted path of the first number in JSON-like ``data`` too large to be read (an
    integer of thousands of digits, ``1e400``), or None."""
    if isinstance(data, float) and math.isinf(data):
        return path or "$"
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        found = _first_infinite(value, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _bounded_int(digits: str) -> int | float:
    """An integer of the body; one longer than Python reads (4,300 digits) stands as
    infinity, which the field's own check refuses naming the field (as it does ``1e400``)."""
    return int(digits) if len(digits.lstrip("-")) <= 4000 else float("inf")


def _field_problem(
    field: str, code: str, location: str, said: str, message: str, kind: str
) -> ApiError:
    """A 422 naming one bad ``field`` of the request's ``location``; the detail reads
    ``invalid <location>: <field><said>``."""
    field = field[:MAX_FIELD]
    return ApiError(
        422,
        code,
        f"invalid {location}: {field}{said}",
        errors=[{"field": field, "in": location, "message": message, "type": kind}],
    )


def _control_problem(field: str, code: str, location: str) -> ApiError:
    return _field_problem(
        field,
        code,
        location,
        " contains control characters",
        "contains control characters (NUL, escapes, lone surrogates)",
        "control_characters",
    )


def parse_body(model: type[M]) -> M:
    """Validate the JSON body against ``model``; 422 ``invalid:body`` names each bad field."""
    data = parse_json()
    bad = first_bad_field(data)
    if bad is not None:
        raise _control_problem(bad, "invalid:body", "body")
    huge = _first_infinite(data)
    if huge is not None:  # a number no field holds: named here (the JSON validator cannot)
        raise _field_problem(
            huge, "invalid:body", "body", "", "number out of range", "number_out_of_range"
        )
    try:
        return model.model_validate_json(request.get_data(cache=True))
    except ValidationError as exc:
        raise _invalid("invalid:body", "body", exc) from None


def _is_sequence(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields.get(name)
    return info is not None and get_origin(info.annotation) in (list, tuple, set, frozenset)


def parse_query(model: type[M]) -> M:
    """Validate the query string against ``model``; 422 ``invalid:query`` names each bad field.

    A parameter given twice is an error unless the field is a list.
    """
    data: dict[str, Any] = {}
    for name, values in request.args.lists():
        if has_control(name) or any(map(has_control, values)):
            raise _control_problem(name, "invalid:query", "query")
    for name, values in request.args.lists():
        if _is_sequence(model, name):
            data[name] = values
        elif len(values) > 1:
            raise ApiError(
                422,
                "invalid:query",
                f"query parameter {name[:MAX_FIELD]!r} given more than once",
                errors=[
                    {
                        "field": name[:MAX_FIELD],
                        "in": "query",
                        "message": "given more than once",
                        "type": "duplicate",
                    }
                ],
            )
        else:
            data[name] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid("invalid:query", "query", exc) from None


def idempotency_key(required: bool = True) -> str | None:
    """The ``Idempotency-Key`` header: ≤ 100 characters of ``[A-Za-z0-9._:-]``.

    Raises ``ApiError`` 400 ``invalid:idempotency-key`` when malformed, or missing and required.
    Endpoints that create draws store it (``draws.idempotency_key``) and answer a repeated key
    with the first result.
    """
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        if not required:
            return None
        message = "this request needs an Idempotency-Key header"
    elif IDEMPOTENCY_PATTERN.fullmatch(value):
        return value
    else:
        message = "must be 1 to 100 characters of A-Z a-z 0-9 . _ : -"
    raise ApiError(
        400,
        "invalid:idempotency-key",
        message,
        errors=[
            {"field": IDEMPOTENCY_HEADER, "in": "header", "message": message, "type": "header"}
        ],
    )
