"""Authorization matrix: every declared /api/v1 endpoint × every role, and anonymous.

The endpoints come from the ``api_route`` registry, so endpoints added later are covered
without touching this file. For each endpoint and caller:

- anonymous on a non-public endpoint → 401 ``auth:required``;
- a role outside the endpoint's ``roles`` → 403 ``auth:forbidden``;
- a role inside (or anyone, on a public endpoint) → not refused for authorization reasons,
  and never a 5xx, given a minimal valid-looking request (dummy path ids, a body built from
  the request model's JSON schema).
"""

from __future__ import annotations

import re
from typing import Any

from expertdraw.api import bp as api_bp
from expertdraw.api import operations
from expertdraw.api.framework import Operation
from expertdraw.models import ROLES

AUTH_CODES = {"auth:required", "auth:forbidden", "auth:invalid-token", "auth:csrf"}
DUMMY_INT = 987654
DUMMY_STRING = "DUMMY-1"
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def concrete_path(op: Operation) -> str:
    """The endpoint's path with dummy values for its parameters."""

    def fill(match: re.Match[str]) -> str:
        return str(DUMMY_INT) if match.group("conv") == "int" else DUMMY_STRING

    return _PARAM.sub(fill, op.path)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def sample(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A minimal value that looks valid for a JSON schema (examples and enums first)."""
    schema = _resolve(schema, defs)
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if s.get("type") != "null"]
        if options:
            return sample(options[0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: sample(props[name], defs) for name in schema.get("required", [])}
    if kind == "array":
        return [sample(schema.get("items", {}), defs) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "string":
        return _sample_string(schema)
    return None


def _sample_string(schema: dict[str, Any]) -> str:
    formats = {
        "date": "2030-01-15",
        "date-time": "2030-01-15T09:00:00Z",
        "time": "09:00:00",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    if schema.get("format") in formats:
        return formats[schema["format"]]
    return "x" * max(schema.get("minLength", 1), 3)


def request_for(op: Operation) -> dict[str, Any]:
    """Test-client arguments: required body fields and query parameters, and headers."""
    kwargs: dict[str, Any] = {"headers": {}}
    if op.body is not None:
        schema = op.body.model_json_schema(ref_template="#/$defs/{model}")
        kwargs["json"] = sample(schema, schema.get("$defs", {}))
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template="#/$defs/{model}")
        kwargs["query_string"] = sample(schema, schema.get("$defs", {}))
    if op.idempotency is not None:
        kwargs["headers"]["Idempotency-Key"] = f"matrix-{op.endpoint}"
    return kwargs


def _code(response: Any) -> str | None:
    if response.mimetype == "application/problem+json":
        return response.get_json().get("code")
    return None


def test_every_endpoint_refuses_every_caller_it_does_not_declare(app, api, users):
    ops = operations(api_bp)
    assert len(ops) >= 6, "the registry should list the API's endpoints"
    failures: list[str] = []
    for op in ops:
        path = concrete_path(op)
        for role in (None, *ROLES):
            response = api(role).open(op.method, path, **request_for(op))
            status, code = response.status_code, _code(response)
            who = role or "anonymous"
            where = f"{op.method} {op.path} as {who}: {status} {code}"
            if op.public or (role is not None and role in op.roles):
                if code in AUTH_CODES or status >= 500:
                    failures.append(f"{where} (should be allowed)")
            elif role is None:
                if (status, code) != (401, "auth:required"):
                    failures.append(f"{where} (should be 401 auth:required)")
            elif (status, code) != (403, "auth:forbidden"):
                failures.append(f"{where} (should be 403 auth:forbidden)")
    assert not failures, "\n".join(failures)


def test_every_endpoint_declares_roles_that_exist(app):
    for op in operations(api_bp):
        assert op.roles, op.path
        assert op.roles <= set(ROLES), op.path
