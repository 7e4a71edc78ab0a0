"""The OpenAPI 3.1 document, generated from the ``api_route`` declarations.

Why generated: the document, the validation and the role checks come from the same
declarations, so they cannot drift apart. Schemas are pydantic's JSON Schema (2020-12, the
dialect of OpenAPI 3.1); each operation carries its roles in ``x-roles`` and its description.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .errors import PROBLEM_MEDIA_TYPE
from .framework import MAX_INT_PARAM, MAX_STRING_PARAM, PUBLIC, Operation
from .requests import IDEMPOTENCY_HEADER
from .schemas import Problem

REF = "#/components/schemas/{model}"
VERSION = "1.0.0"

ERROR_TEXT = {
    400: "Malformed request (not JSON, bad header)",
    401: "Not authenticated, or the token is unknown or revoked",
    403: "Authenticated, but the role may not use this endpoint",
    404: "No such resource",
    409: "Conflicts with the current state",
    413: "Body larger than the limit",
    415: "Body is not application/json",
    422: "Input fails validation; `errors` names each field",
    429: "Too many attempts; see Retry-After",
}


def _models(ops: Sequence[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for op in ops:
        for model, mode in (
            (op.body, "validation"),
            (op.query, "validation"),
            (op.response, "serialization"),
        ):
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))  # type: ignore[arg-type]
    return wanted


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return components.get(ref.rsplit("/", 1)[-1], schema) if ref else schema


def _parameters(
    op: Operation, refs: dict[Any, Any], components: dict[str, Any]
) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name, kind in op.path_params:
        schema: dict[str, Any] = {"type": kind}
        if kind == "integer":
            schema.update(minimum=0, maximum=MAX_INT_PARAM)
        else:
            schema["maxLength"] = MAX_STRING_PARAM
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        query = _resolve(refs[(op.query, "validation")], components)
        required = set(query.get("required", ()))
        for name, prop in query.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    if op.idempotency is not None:
        params.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": op.idempotency == "required",
                "description": "repeat a request safely: the same key returns the first result",
                "schema": {"type": "string", "maxLength": 100, "pattern": "^[A-Za-z0-9._:-]+$"},
            }
        )
    return params


def _error_statuses(op: Operation) -> list[int]:
    statuses = []
    if op.body is not None or op.idempotency is not None:
        statuses.append(400)
    if not op.public:
        statuses += [401, 403]
    if op.path_params:
        statuses.append(404)
    if op.method in ("POST", "PUT", "PATCH", "DELETE") and not op.public:
        statuses.append(409)
    if op.body is not None:
        statuses += [413, 415]
    if op.body is not None or op.query is not None:
        statuses.append(422)
    if op.rate_limited:
        statuses.append(429)
    return sorted(set(statuses) | set(op.errors))


def _responses(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.status == 204:
        responses["204"] = {"description": "Done; no content"}
    elif op.response is not None:
        responses[str(op.status)] = {
            "description": "Success",
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        }
    elif op.media_type != "application/json":
        responses[str(op.status)] = {
            "description": "The file",
            "content": {op.media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    else:
        responses[str(op.status)] = {
            "description": "Success",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    for status in _error_statuses(op):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    responses["default"] = {"$ref": "#/components/responses/Problem"}
    return responses


def _operation(op: Operation, refs: dict[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    who = "public (no authentication)" if op.public else ", ".join(sorted(op.roles))
    description = f"{op.description}\n\n**Roles:** {who}".strip()
    item: dict[str, Any] = {
        "operationId": op.endpoint.rsplit(".", 1)[-1],
        "summary": op.summary,
        "description": description,
        "tags": list(op.tags),
        "x-roles": [PUBLIC] if op.public else sorted(op.roles),
        "x-public": op.public,
        "security": [] if op.public else [{"bearer": []}, {"session": []}],
        "responses": _responses(op, refs),
    }
    params = _parameters(op, refs, components)
    if params:
        item["parameters"] = params
    if op.body is not None:
        item["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    return item


def _drop_query_models(
    ops: Sequence[Operation],
    refs: dict[Any, Any],
    components: dict[str, Any],
    paths: dict[str, Any],
) -> None:
    """Query models are listed as parameters; drop their schemas unless referenced."""
    for op in ops:
        if op.query is None:
            continue
        ref = refs[(op.query, "validation")].get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name not in components:
            continue
        schema = components.pop(name)
        if f'"{ref}"' in json.dumps([paths, components]):
            components[name] = schema


def build_document(
    ops: Sequence[Operation], title: str = "expertdraw API", cookie: str = "session"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``ops``; ``cookie`` names the session cookie."""
    refs, defs = models_json_schema(_models(ops), ref_template=REF)
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    problem_ref = refs[(Problem, "serialization")]
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op, refs, components)
    responses = {
        f"E{status}": {
            "description": text,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}},
        }
        for status, text in ERROR_TEXT.items()
    }
    responses["Problem"] = {
        "description": "Any other error (5xx included), as problem+json",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}},
    }
    _drop_query_models(ops, refs, components, paths)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": title,
            "version": VERSION,
            "description": (
                "Random drawing of evaluation experts, auditable by supervisors. Every error "
                "is application/problem+json with a stable `code`. Each operation lists the "
                "roles that may call it in `x-roles` (`public`, with `x-public: true`, when "
                "anyone may)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": responses,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": cookie},
            },
        },
        "security": [{"bearer": []}],
    }
