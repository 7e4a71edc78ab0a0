"""The endpoint framework: input validation, problem+json errors, pagination, OpenAPI.

The first part needs no database: it declares endpoints on a throwaway blueprint. The second
runs against the real API on both databases and checks that bad input writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask
from pydantic import StringConstraints

from expertdraw.api import bp as api_bp
from expertdraw.api import operations
from expertdraw.api.errors import ApiError, handle_exception, problem_from_exception
from expertdraw.api.framework import ALL_ROLES, PUBLIC, api_route
from expertdraw.api.schemas import ApiModel
from expertdraw.domain.draw_errors import DrawError
from expertdraw.extensions import db
from expertdraw.models import User

from .conftest import assert_problem

USERS = "/api/v1/users"


class ThingIn(ApiModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=10)]
    count: int


@pytest.fixture
def toy() -> Iterator[Any]:
    """A bare Flask app with a throwaway blueprint declared through ``api_route``."""
    bp = Blueprint("toy", __name__, url_prefix="/toy")
    bp.register_error_handler(Exception, handle_exception)

    @api_route(bp, "POST", "/things", roles=PUBLIC, body=ThingIn, summary="Echo a thing")
    def echo(body: ThingIn) -> dict[str, Any]:
        return body.model_dump()

    @api_route(bp, "GET", "/boom", roles=PUBLIC, summary="Fail")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @api_route(bp, "GET", "/sealed", roles=PUBLIC, summary="Domain error")
    def sealed() -> None:
        raise DrawError("insufficient:technical", "only 3 technical experts are eligible")

    @api_route(bp, "POST", "/draws", roles=PUBLIC, idempotency="required", summary="Idempotent")
    def draw(idempotency_key: str) -> dict[str, str]:
        return {"key": idempotency_key}

    app = Flask(__name__)
    app.register_blueprint(bp)
    yield app.test_client()


def test_an_endpoint_without_roles_cannot_be_declared():
    bp = Blueprint("norole", __name__)
    with pytest.raises(TypeError):
        api_route(bp, "GET", "/x", summary="x")  # type: ignore[call-arg]
    for roles in (None, set(), {"root"}, "admin"):
        with pytest.raises(ValueError):
            api_route(bp, "GET", "/x", roles=roles, summary="x")  # type: ignore[arg-type]


def test_input_models_must_bound_every_string_and_forbid_unknown_fields():
    class Unbounded(ApiModel):
        note: str

    bp = Blueprint("strict", __name__)
    with pytest.raises(ValueError, match="note"):
        api_route(bp, "POST", "/x", roles=ALL_ROLES, body=Unbounded, summary="x")
    with pytest.raises(ValueError, match="body"):
        api_route(bp, "GET", "/x", roles=ALL_ROLES, body=ThingIn, summary="x")


def test_the_same_route_cannot_be_declared_twice():
    bp = Blueprint("twice", __name__)

    @api_route(bp, "GET", "/x", roles=ALL_ROLES, summary="x")
    def first() -> None: ...

    with pytest.raises(ValueError, match="twice"):

        @api_route(bp, "GET", "/x", roles=ALL_ROLES, summary="x")
        def second() -> None: ...


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{", "application/json", 400, "invalid:json"),
        ("", "application/json", 400, "invalid:json"),
        ('{"name": "a", "count": NaN}', "application/json", 400, "invalid:json"),
        ('{"name": "a", "name": "b", "count": 1}', "application/json", 400, "invalid:json"),
        ("[" * 100_000, "application/json", 400, "invalid:json"),
        (b"\xff\xfe\xfd", "application/json", 400, "invalid:json"),
        ('{"name": "a", "count": 1}', "text/plain", 415, "invalid:content-type"),
        ("name=a&count=1", "application/x-www-form-urlencoded", 415, "invalid:content-type"),
    ],
)
def test_bodies_that_are_not_json_objects_are_4xx_problems(toy, data, content_type, status, code):
    response = toy.post("/toy/things", data=data, content_type=content_type)
    assert_problem(response, status, code)


@pytest.mark.parametrize(
    ("payload", "field", "kind"),
    [
        ({"name": "a"}, "count", "missing"),
        ({"name": "a", "count": "5"}, "count", "int_type"),
        ({"name": "a", "count": 1.5}, "count", "int_type"),
        ({"name": "a", "count": 1, "admin": True}, "admin", "extra_forbidden"),
        ({"name": "x" * 100_000, "count": 1}, "name", "string_too_long"),
        ({"name": "   ", "count": 1}, "name", "string_too_short"),
        ([1, 2], "$", "model_type"),
    ],
)
def test_invalid_bodies_name_the_field(toy, payload, field, kind):
    response = toy.post("/toy/things", json=payload)
    body = assert_problem(response, 422, "invalid:body")
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["type"] == kind
    assert body["errors"][0]["in"] == "body"
    assert "x" * 100 not in response.get_data(as_text=True)  # input is never echoed


def test_valid_bodies_are_stripped_and_passed_on(toy):
    response = toy.post("/toy/things", json={"name": "  bolt ", "count": 3})
    assert response.status_code == 200
    assert response.get_json() == {"name": "bolt", "count": 3}


def test_an_unhandled_exception_is_a_500_problem_without_internals(toy):
    response = toy.get("/toy/boom")
    body = assert_problem(response, 500, "internal")
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert "incident" in body["detail"]


def test_domain_errors_keep_their_code(toy):
    body = assert_problem(toy.get("/toy/sealed"), 409, "insufficient:technical")
    assert body["detail"] == "only 3 technical experts are eligible"


def test_idempotency_keys_are_checked(toy):
    assert_problem(toy.post("/toy/draws"), 400, "invalid:idempotency-key")
    for bad in ("x" * 101, "has space", "ü"):
        response = toy.post("/toy/draws", headers={"Idempotency-Key": bad})
        body = assert_problem(response, 400, "invalid:idempotency-key")
        assert body["errors"][0]["field"] == "Idempotency-Key"
    ok = toy.post("/toy/draws", headers={"Idempotency-Key": "draw:P-2026.001_a-1"})
    assert ok.get_json() == {"key": "draw:P-2026.001_a-1"}


def test_exceptions_map_to_statuses_by_code():
    class Sealed(Exception):
        code = "forbidden:list-sealed"

    Sealed.__module__ = "expertdraw.services.fake"

    class Teapot(Exception):
        code = "brewing"
        http_status = 418

    class Foreign(Exception):
        code = "e3q8"  # SQLAlchemy-style error codes are not ours

    assert problem_from_exception(Sealed()).status == 403
    assert problem_from_exception(DrawError("invalid:entropy")).status == 422
    assert problem_from_exception(DrawError("infeasible:members")).status == 409
    assert problem_from_exception(Teapot()).status == 418
    assert problem_from_exception(ApiError(409, "conflict")).code == "conflict"
    assert problem_from_exception(Foreign()) is None
    assert problem_from_exception(ValueError("x")) is None


# The real API, on both databases.


def _user_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0


def _new_user(**changes: Any) -> dict[str, Any]:
    return {"json": {"username": "u1", "password": "p" * 12, "role": "admin", **changes}}


TOO_BIG = json.dumps({**_new_user()["json"], "pad": "x" * 1_100_000})


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "field"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "invalid:json", None),
        ({"data": "x", "content_type": "text/plain"}, 415, "invalid:content-type", None),
        ({"data": TOO_BIG, "content_type": "application/json"}, 413, "invalid:too-large", None),
        (_new_user(password=123), 422, "invalid:body", "password"),
        (_new_user(is_admin=1), 422, "invalid:body", "is_admin"),
        (_new_user(username="u" * 5000), 422, "invalid:body", "username"),
        (_new_user(username="bad name"), 422, "invalid:body", "username"),
        (_new_user(password="short"), 422, "invalid:body", "password"),
        (_new_user(role="root"), 422, "invalid:body", "role"),
        (_new_user(role="expert"), 422, "invalid:body", "expert_code"),
        (_new_user(venue_id="V-ZT-01"), 422, "invalid:body", "venue_id"),
        (_new_user(role="expert", expert_code="E404"), 422, "user:link", None),
        (_new_user(role="venue_staff", venue_id="V-NONE"), 422, "user:link", None),
        (_new_user(username="admin-user"), 409, "user:username", None),
    ],
)
def test_bad_user_input_is_a_problem_naming_the_field_and_writes_nothing(
    api, kwargs, status, code, field
):
    admin = api("admin")
    before = _user_count()
    response = admin.post(USERS, **kwargs)
    body = assert_problem(response, status, code)
    if field is not None:
        assert field in [e["field"] for e in body["errors"]]
    assert _user_count() == before


def test_admin_creates_users_linked_to_an_expert_or_a_venue(api, users):
    admin = api("admin")
    expert = admin.post(
        USERS,
        json={"username": "e2", "password": "p" * 12, "role": "expert", "expert_code": "E0000001"},
    )
    assert expert.status_code == 409  # the expert already has a user (unique link)
    staff = admin.post(
        USERS,
        json={"username": "s2", "password": "p" * 12, "role": "venue_staff", "venue_id": "V-ZT-01"},
    )
    assert staff.status_code == 201
    created = staff.get_json()
    assert created["venue_id"] == "V-ZT-01" and created["role"] == "venue_staff"
    assert "password" not in json.dumps(created)
    assert created["pseudonym"].startswith("U")


def test_user_lists_are_paginated_and_never_show_password_hashes(api, users):
    admin = api("admin")
    first = admin.get(USERS, query_string={"per_page": 2})
    assert first.status_code == 200
    page = first.get_json()
    assert (page["page"], page["per_page"], page["total"]) == (1, 2, 5)
    assert [u["username"] for u in page["items"]] == ["admin-user", "project_manager-user"]
    last = admin.get(USERS, query_string={"page": 3, "per_page": 2}).get_json()
    assert [u["username"] for u in last["items"]] == ["venue_staff-user"]
    assert "password" not in json.dumps(page) + json.dumps(last)
    experts = admin.get(USERS, query_string={"role": "expert"}).get_json()
    assert [(u["username"], u["expert_code"]) for u in experts["items"]] == [
        ("expert-user", "E0000001")
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=201", "per_page"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=1&page=2", "page"),
        ("role=root", "role"),
        ("colour=red", "colour"),
    ],
)
def test_bad_query_strings_name_the_parameter(api, query, field):
    response = api("admin").get(f"{USERS}?{query}")
    body = assert_problem(response, 422, "invalid:query")
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["in"] == "query"


def test_unknown_paths_and_methods_under_the_api_are_problems(client, app):
    assert_problem(client.get("/api/v1/no/such/thing"), 404, "not-found")
    assert_problem(client.get("/api/v1/users/abc/tokens/revoke-all"), 404, "not-found")
    response = client.put("/api/v1/me")
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["Allow"] == "GET"


def test_ids_beyond_the_database_range_are_not_found(api, users):
    response = api("admin").post("/api/v1/users/99999999999999999999/tokens/revoke-all")
    assert_problem(response, 404, "not-found")


def test_every_api_rule_is_declared_through_api_route(app):
    declared = {(op.method, op.path) for op in operations(api_bp)}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint == "api.not_found":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, rule.rule) in declared, f"{method} {rule.rule} bypasses api_route"


def test_the_openapi_document_is_3_1_and_lists_every_endpoint_with_its_roles(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    ops = operations(api_bp)
    assert ops
    for op in ops:
        item = doc["paths"][op.openapi_path][op.method.lower()]
        assert item["x-roles"] == (["public"] if op.public else sorted(op.roles))
        assert "Roles:" in item["description"]
        assert item["summary"] and item["operationId"]
        assert str(op.status) in item["responses"]
        if not op.public:
            assert {"401", "403"} <= item["responses"].keys()
            assert item["security"]
        if op.body is not None:
            assert item["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert "422" in item["responses"]
    problem = doc["components"]["responses"]["E422"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        section, name = ref.removeprefix("#/components/").split("/", 1)
        assert name in doc["components"][section], f"dangling {ref}"
    params = doc["paths"]["/api/v1/users"]["get"]["parameters"]
    assert {p["name"] for p in params} >= {"page", "per_page", "role"}
    assert "UserIn" in doc["components"]["schemas"]
    assert "password_hash" not in text
