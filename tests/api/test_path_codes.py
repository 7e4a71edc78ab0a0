"""A code holding a control character in an API path is a 404 problem: no such resource can
exist, and NUL is a database error on PostgreSQL."""

from __future__ import annotations

import pytest

from expertdraw import clock
from expertdraw.services import auth as auth_service

from ..integration import centre as c
from .conftest import ApiClient


@pytest.fixture
def pm(app):
    with clock.frozen(c.NOW):
        centre = c.build()
    _, token = auth_service.issue_token(centre.users["pm"], label="control characters")
    return ApiClient(app.test_client(), token)


@pytest.mark.parametrize(
    "path", ["/api/v1/projects/P%00X", "/api/v1/draws/D%00X", "/api/v1/projects/P%1bX"]
)
def test_a_code_holding_a_control_character_is_not_found(pm, path):
    response = pm.get(path)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not-found"
