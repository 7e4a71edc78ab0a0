"""OPTIONS under /api/v1 lists only the methods the resource answers."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def responses_as_documented() -> Any:
    """The document lists no OPTIONS operations (HTTP's own method); check the rest."""
    from .contract import checked_responses

    with checked_responses() as found:
        yield
    found = [f for f in found if not f.startswith("OPTIONS ")]
    assert found == [], "\n".join(found[:10])


def test_options_lists_only_the_methods_the_resource_answers(app, api, users):
    """``OPTIONS /api/v1/me`` lists GET, HEAD and OPTIONS, as the 405 of a PUT does (GET),
    not the catch-all 404/405 route's methods; a path no endpoint answers is a 404."""
    client = api("admin")
    options = client.open("OPTIONS", "/api/v1/me")
    allowed = {m.strip() for m in options.headers.get("Allow", "").split(",") if m.strip()}
    refused = client.open("PUT", "/api/v1/me")
    assert refused.status_code == 405
    assert not {"PUT", "PATCH", "DELETE", "POST"} & allowed, options.headers.get("Allow")
    assert options.status_code == 204 and allowed == {"GET", "HEAD", "OPTIONS"}
    assert refused.headers["Allow"] == "GET"
    projects = client.open("OPTIONS", "/api/v1/projects")
    assert {m.strip() for m in projects.headers["Allow"].split(",")} == {
        "GET",
        "HEAD",
        "POST",
        "OPTIONS",
    }
    assert client.open("OPTIONS", "/api/v1/no-such-thing").status_code == 404
