"""The contract check every API test runs under (tests/api/contract.py) catches what the
document does not say; and what the document now says of the routes that answer beyond
their shape (401 at login, 404 of look-ups, file downloads)."""

from __future__ import annotations

from flask import Response

from .contract import problems_of

DOCUMENT = {
    "components": {
        "responses": {},
        "schemas": {
            "Out": {
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "required": ["n"],
            }
        },
    },
    "paths": {
        "/api/v1/things/{id}": {
            "get": {
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Out"}}
                        }
                    }
                }
            }
        }
    },
}


def test_the_check_names_an_undeclared_status_a_wrong_body_and_a_wrong_media_type():
    ok = Response('{"n": 1}', 200, mimetype="application/json")
    assert problems_of(DOCUMENT, "GET", "/api/v1/things/7", ok) == []
    teapot = Response("{}", 418, mimetype="application/json")
    assert "status not declared" in problems_of(DOCUMENT, "GET", "/api/v1/things/7", teapot)[0]
    wrong = Response('{"n": "one"}', 200, mimetype="application/json")
    assert "n:" in problems_of(DOCUMENT, "GET", "/api/v1/things/7", wrong)[0]
    csv = Response("n\n1\n", 200, mimetype="text/csv")
    assert "media type text/csv" in problems_of(DOCUMENT, "GET", "/api/v1/things/7", csv)[0]


def test_the_document_declares_what_routes_answer_beyond_their_shape(api):
    document = api(None).get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert "401" in paths["/api/v1/auth/token"]["post"]["responses"]
    assert "401" in paths["/api/v1/auth/session"]["post"]["responses"]
    assert "404" in paths["/api/v1/eligibility"]["get"]["responses"]
    assert "404" in paths["/api/v1/checkin"]["post"]["responses"]
    xlsx = paths["/api/v1/reports/{report_id}/xlsx"]["get"]["responses"]["200"]["content"]
    assert list(xlsx) == ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    assert next(iter(xlsx.values()))["schema"] == {"type": "string", "format": "binary"}
