"""Every ``/api/v1`` answer of the API tests, held to the OpenAPI document the app serves.

The test client is wrapped so that each response is checked as a client generated from the
document would read it: its status is declared for the operation (beside ``default``), its
media type is the declared one, and its JSON body validates against the declared schema.
What does not is a failure of the test that made the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jsonschema_rs
from flask.testing import FlaskClient


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    return None


def _response(document: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in declared:
        return document["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    return declared


def problems_of(document: dict[str, Any], method: str, path: str, response: Any) -> list[str]:
    """What in ``response`` the document does not say (empty when it conforms)."""
    if not path.startswith("/api/v1") or path.endswith("/openapi.json"):
        return []
    where = f"{method} {path} -> {response.status_code}"
    operation = _operation(document, method, path)
    if operation is None:
        return [] if response.status_code in (404, 405) else [f"{where}: no such operation"]
    declared = operation["responses"]
    status = str(response.status_code)
    if status not in declared:
        return [f"{where}: status not declared ({response.get_data(as_text=True)[:200]})"]
    content = _response(document, declared[status]).get("content")
    if not content:
        return [f"{where}: a body where none is declared"] if response.get_data() else []
    if response.mimetype not in content:
        return [f"{where}: media type {response.mimetype} not in {sorted(content)}"]
    schema = content[response.mimetype]["schema"]
    if schema.get("format") == "binary":
        return []
    validator = jsonschema_rs.validator_for({"components": document["components"], **schema})
    body = json.loads(response.get_data(as_text=True))
    return [
        f"{where}: {'/'.join(map(str, error.instance_path))}: {error.message[:200]}"
        for error in validator.iter_errors(body)
    ]


@contextmanager
def checked_responses() -> Iterator[list[str]]:
    """While open, every test-client request's response is checked; the problems found are
    collected in the list given."""
    found: list[str] = []
    documents: dict[int, dict[str, Any]] = {}
    original = FlaskClient.open

    def open_(self: FlaskClient, *args: Any, **kwargs: Any) -> Any:
        response = original(self, *args, **kwargs)
        request = response.request
        if request.path.startswith("/api/v1") and not request.path.endswith("/openapi.json"):
            app = self.application
            if id(app) not in documents:
                documents[id(app)] = original(self, "/api/v1/openapi.json").get_json()
            found.extend(problems_of(documents[id(app)], request.method, request.path, response))
        return response

    FlaskClient.open = open_  # type: ignore[method-assign]
    try:
        yield found
    finally:
        FlaskClient.open = original  # type: ignore[method-assign]
