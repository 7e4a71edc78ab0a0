"""Who may open which page: every page declares its roles, other roles get the 403 page,
anonymous visitors go to the login page; forms are CSRF-protected, the API is not affected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint, Flask

from expertdraw import clock, create_app
from expertdraw.extensions import db
from expertdraw.web import access

from ..integration import centre as c
from .conftest import PASSWORD, csrf_of

ROLE_USERS = {
    "project_manager": "pm",
    "supervisor": "sup1",
    "admin": "admin",
    "venue_staff": "staff",
}
PAGES = {
    "/manager/projects": {"project_manager", "admin"},
    "/manager/projects/new": {"project_manager", "admin"},
    "/manager/projects/{project}": {"project_manager", "admin"},
    "/manager/projects/{project}/dry-run": {"project_manager", "admin"},
    "/manager/draws/{draw}": {"project_manager", "admin"},
    "/supervisor/draws": {"supervisor", "admin"},
    "/supervisor/draws/{draw}": {"supervisor", "admin"},
    "/supervisor/draws/{draw}/replay": {"supervisor", "admin"},
    "/supervisor/draws/{draw}/list": {"supervisor", "admin"},
    "/supervisor/draws/{draw}/record": {"supervisor", "admin"},
    "/supervisor/ledger": {"supervisor", "admin"},
    "/supervisor/ledger/keys.txt": {"supervisor", "admin"},
    "/supervisor/eligibility": {"supervisor", "admin"},
    "/expert/notices": {"expert"},
    "/expert/schedule": {"expert"},
    "/expert/conflicts": {"expert"},
    "/expert/profile": {"expert"},
    "/venue/": {"venue_staff"},
    "/admin/": {"admin"},
    "/admin/experts": {"admin"},
    "/admin/experts/E0000001": {"admin"},
    "/admin/venues/V530100-0": {"admin"},
    "/admin/venues": {"admin"},
    "/admin/organisations": {"admin"},
    "/admin/users": {"admin"},
    "/admin/keys": {"admin"},
    "/admin/import": {"admin"},
}


def test_every_page_view_declares_its_roles(app):
    web_blueprints = {
        "web",
        "manager",
        "supervisor",
        "record",
        "ledger",
        "expert",
        "staff",
        "admin",
    }
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint in web_blueprints and not rule.endpoint.endswith(".static"):
            view = app.view_functions[rule.endpoint]
            assert access.declared_roles(view) is not None, rule.endpoint


def test_a_view_without_declared_roles_stops_the_app_from_starting():
    app = Flask(__name__)
    bp = Blueprint("careless", __name__)
    bp.add_url_rule("/open", "open", lambda: "secret")
    app.register_blueprint(bp)
    with pytest.raises(RuntimeError, match=r"careless\.open"):
        access.check_declared(app, {"careless"})


def test_pages_answer_their_roles_and_refuse_the_others(app, completed, login):
    expert = c.expert_user("E0000001").username
    clients = {role: login(name) for role, name in ROLE_USERS.items()}
    clients["expert"] = login(expert)
    anonymous = app.test_client()
    for template, allowed in PAGES.items():
        path = template.format(project=completed["project"], draw=completed["draw"])
        for role, client in clients.items():
            response = client.get(path)
            if role in allowed:
                assert response.status_code == 200, (path, role, response.status_code)
            else:
                assert response.status_code == 403, (path, role, response.status_code)
                assert "403" in response.get_data(as_text=True)
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login?next=" in response.location, path


def test_the_home_address_sends_each_role_to_its_main_page(app, centre, login):
    expected = {
        "pm": "/manager/projects",
        "sup1": "/supervisor/draws",
        "admin": "/admin/",
        "staff": "/venue/",
    }
    for username, target in expected.items():
        assert login(username).get("/").location.endswith(target)
    assert app.test_client().get("/").location.endswith("/login")


def test_login_refuses_wrong_passwords_and_foreign_redirects(app, centre):
    client = app.test_client()
    wrong = client.post("/login", data={"username": "pm", "password": "not the password"})
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.get_data(as_text=True)
    response = client.post(
        "/login", data={"username": "pm", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert response.location.endswith("/manager/projects")
    assert client.post("/logout").location.endswith("/login")
    assert client.get("/manager/projects").status_code == 302


@pytest.fixture
def csrf_app(app_config: dict[str, Any]) -> Iterator[Any]:
    """The app with CSRF protection on (the other page tests switch it off)."""
    application = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def test_forms_without_the_csrf_token_are_refused(csrf_app):
    with clock.frozen(c.NOW):
        c.build()
    client = csrf_app.test_client()
    refused = client.post("/login", data={"username": "pm", "password": PASSWORD})
    assert refused.status_code == 400
    token = csrf_of(client.get("/login").get_data(as_text=True))
    accepted = client.post(
        "/login", data={"username": "pm", "password": PASSWORD, "csrf_token": token}
    )
    assert accepted.status_code == 302
    assert client.post("/manager/projects/new", data={"code": "X"}).status_code == 400
    assert client.post("/logout").status_code == 400
    page = client.get("/manager/projects")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_editing_forms_need_the_csrf_token(csrf_app):
    with clock.frozen(c.NOW):
        c.build()
    client = csrf_app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    for path, data in (
        ("/admin/venues", {"venue_id": "V9", "name": "x", "region_code": "530100", "address": "y"}),
        ("/admin/venues/V530100-0/service", {"kind": "venue", "id": "V530100-0", "active": "0"}),
        ("/admin/organisations", {"uscc": c.uscc(900), "name": "x", "kind": "bidder"}),
        ("/admin/experts/E0000001", {"name": "x"}),
        ("/admin/users/1", {"role": "admin", "active": "1"}),
        ("/supervisor/reports", {"report_kind": "daily", "day": "2027-02-19"}),
    ):
        assert client.post(path, data=data).status_code == 400, path
    page = client.get("/admin/venues/V530100-0").get_data(as_text=True)
    assert page.count('name="csrf_token"') == page.count('<form method="post"')


def test_the_json_api_is_not_blocked_by_page_csrf(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"})
    assert response.status_code in (401, 422), response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


def test_errors_under_the_api_stay_problem_json_and_pages_get_html(app):
    client = app.test_client()
    api = client.get("/api/v1/no/such/thing")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    page = client.get("/no/such/page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "页面不存在" in page.get_data(as_text=True)


def test_too_many_login_attempts_are_refused_with_a_clear_message(app, centre):
    app.config["LOGIN_RATE_LIMIT"] = "2/minute"
    client = app.test_client()
    for _ in range(2):
        client.post("/login", data={"username": "pm", "password": "wrong password"})
    refused = client.post("/login?lang=en", data={"username": "pm", "password": PASSWORD})
    assert refused.status_code == 429
    assert "Too many attempts. Wait" in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%09/evil.example".replace("%09", "\t"),
        "/\u3000/evil.example",
    ],
)
def test_login_never_sends_the_user_to_another_site(app, centre, target):
    """After login, ``next`` is followed only to a local path; anything else goes home."""
    client = app.test_client()
    page = client.get("/login")
    token = csrf_of(page.get_data(as_text=True)) if app.config["WTF_CSRF_ENABLED"] else ""
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"username": "pm", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.location.endswith("/manager/projects"), response.location


def test_login_follows_a_local_next(app, centre):
    client = app.test_client()
    page = client.get("/login")
    token = csrf_of(page.get_data(as_text=True)) if app.config["WTF_CSRF_ENABLED"] else ""
    response = client.post(
        "/login",
        query_string={"next": "/manager/projects/P1?tab=2"},
        data={"username": "pm", "password": PASSWORD, "csrf_token": token},
    )
    assert response.location.endswith("/manager/projects/P1?tab=2")


def test_a_control_character_in_a_form_is_refused_naming_the_field(app, centre):
    """A NUL in the login form (or any page's form or query) gets a 400 page naming the field
    on both databases, and logs nobody in."""
    client = app.test_client()
    page = client.get("/login")
    token = csrf_of(page.get_data(as_text=True)) if app.config["WTF_CSRF_ENABLED"] else ""
    response = client.post(
        "/login", data={"username": "pm\x00", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400
    assert "username" in response.get_data(as_text=True)
    assert client.get("/manager/projects").status_code == 302  # still logged out
    assert client.get("/login?next=/x\x1b").status_code == 400


def test_a_page_address_with_an_id_no_row_can_have_is_not_found(app, centre, login):
    """Ids past the database's integer range are a 404 page on both databases, as in the
    API, where they reached the database and gave a 500."""
    expert = login(c.expert_user("E0000001").username)
    admin = login("admin")
    supervisor = login("sup1")
    for huge in ("2147483648", "9223372036854775808", "99999999999999999999"):
        assert expert.post(f"/expert/leave/{huge}/cancel").status_code == 404
        assert admin.get(f"/admin/users/{huge}").status_code == 404
        assert supervisor.get(f"/supervisor/reports/{huge}").status_code == 404
        assert supervisor.post(f"/supervisor/alerts/{huge}/ack").status_code == 404
    assert admin.get("/admin/users/2147483647").status_code == 404  # the largest id, no row


def test_a_huge_page_number_is_an_empty_page_not_an_error(app, completed, login):
    """``page=`` past the database's integers gave a 500 on the admin lists."""
    admin = login("admin")
    for path in (
        "/admin/organisations",
        "/admin/users",
        "/supervisor/draws",
        "/supervisor/alerts",
        "/supervisor/reports",
        "/supervisor/samples",
        "/manager/projects",
    ):
        for page in ("99999999999999999999", "-5", "x"):
            response = admin.get(f"{path}?page={page}")
            assert response.status_code == 200, (path, page)
