"""Logging in, bearer tokens, page sessions, rate limiting and the session secret."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import create_app
from expertdraw.extensions import db
from expertdraw.models import ApiToken, User

from .conftest import PASSWORD, assert_problem

TOKEN = "/api/v1/auth/token"
SESSION = "/api/v1/auth/session"
ME = "/api/v1/me"


def _token_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) or 0


def test_login_with_the_right_password_returns_a_token_that_works(client, users):
    response = client.post(TOKEN, json={"username": "supervisor-user", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["role"] == "supervisor"
    assert "password_hash" not in body["user"]
    assert response.headers["Cache-Control"] == "no-store"
    me = client.get(ME, headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["username"] == "supervisor-user"


def test_a_token_is_stored_only_as_its_sha256(client, users):
    response = client.post(
        TOKEN, json={"username": "admin-user", "password": PASSWORD, "label": "cli"}
    )
    token = response.get_json()["token"]
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    row = db.session.get(ApiToken, response.get_json()["token_id"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.label == "cli"
    assert token not in {row.token_hash, row.label}


def test_login_with_a_wrong_password_is_refused_and_issues_no_token(client, users):
    response = client.post(TOKEN, json={"username": "admin-user", "password": "wrong" * 3})
    assert_problem(response, 401, "auth:bad-credentials")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert _token_count() == 0


def test_an_unknown_user_is_refused_exactly_like_a_wrong_password(client, users):
    unknown = client.post(TOKEN, json={"username": "nobody", "password": PASSWORD})
    wrong = client.post(TOKEN, json={"username": "admin-user", "password": "x" * 12})
    assert assert_problem(unknown, 401, "auth:bad-credentials") == assert_problem(
        wrong, 401, "auth:bad-credentials"
    )


def test_an_inactive_user_cannot_log_in_and_their_tokens_stop_working(api, client, users):
    admin = api("admin")
    assert admin.get(ME).status_code == 200
    db.session.get(User, users["admin"].id).active = False
    db.session.commit()
    assert_problem(admin.get(ME), 401, "auth:invalid-token")
    response = client.post(TOKEN, json={"username": "admin-user", "password": PASSWORD})
    assert_problem(response, 401, "auth:bad-credentials")


def test_a_revoked_token_is_refused(api):
    expert = api("expert")
    assert expert.get(ME).status_code == 200
    assert expert.delete(TOKEN).status_code == 204
    body = assert_problem(expert.get(ME), 401, "auth:invalid-token")
    assert "token" in body["detail"]
    assert expert.get(ME).headers["WWW-Authenticate"] == "Bearer"


def test_admin_revokes_every_token_of_a_user(api, token_for, users):
    first, second = token_for("venue_staff"), token_for("venue_staff")
    response = api("admin").post(f"/api/v1/users/{users['venue_staff'].id}/tokens/revoke-all")
    assert response.status_code == 200
    assert response.get_json() == {"user_id": users["venue_staff"].id, "revoked": 2}
    for token in (first, second):
        refused = api(None).get(ME, headers={"Authorization": f"Bearer {token}"})
        assert_problem(refused, 401, "auth:invalid-token")
    assert api("venue_staff").get(ME).status_code == 200  # a new token still works


def test_revoke_all_for_an_unknown_user_is_not_found(api, users):
    assert_problem(
        api("admin").post("/api/v1/users/424242/tokens/revoke-all"), 404, "not-found:user"
    )


def test_a_malformed_authorization_header_is_refused(client, users):
    for header in ("Basic YWRtaW46eA==", "Bearer", "Bearer " + "x" * 5000):
        response = client.get(ME, headers={"Authorization": header})
        assert_problem(response, 401, "auth:invalid-token")


def test_revoking_needs_a_bearer_token(client, users):
    client.post(SESSION, json={"username": "admin-user", "password": PASSWORD})
    assert_problem(client.delete(TOKEN), 400, "invalid:no-token")


def test_session_login_sets_a_signed_cookie_and_logout_ends_it(client, users):
    response = client.post(SESSION, json={"username": "project_manager-user", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get(ME).get_json()["role"] == "project_manager"
    assert client.delete(SESSION).status_code == 204
    assert_problem(client.get(ME), 401, "auth:required")


def test_session_login_with_a_wrong_password_sets_no_session(client, users):
    response = client.post(SESSION, json={"username": "admin-user", "password": "nope"})
    assert_problem(response, 401, "auth:bad-credentials")
    assert_problem(client.get(ME), 401, "auth:required")


def test_a_password_change_ends_existing_sessions(client, users, password_hash):
    client.post(SESSION, json={"username": "supervisor-user", "password": PASSWORD})
    assert client.get(ME).status_code == 200
    user = db.session.get(User, users["supervisor"].id)
    user.password_hash = password_hash + "changed"
    db.session.commit()
    assert_problem(client.get(ME), 401, "auth:required")


def test_a_forged_session_cookie_is_ignored(client, users):
    client.set_cookie("session", "eyJ1aWQiOjF9.forged.signature")
    assert_problem(client.get(ME), 401, "auth:required")


def test_cookie_sessions_need_the_csrf_token_for_writes(app, client, users):
    app.config["WTF_CSRF_ENABLED"] = True
    client.post(SESSION, json={"username": "admin-user", "password": PASSWORD})
    assert client.get("/api/v1/users").status_code == 200  # reads need no token
    response = client.post(
        "/api/v1/users",
        json={"username": "new-user", "password": "p" * 12, "role": "supervisor"},
    )
    assert_problem(response, 403, "auth:csrf")
    assert db.session.scalar(sa.select(User).where(User.username == "new-user")) is None


def test_too_many_logins_are_refused_with_429_problem(app, client, users):
    app.config["LOGIN_RATE_LIMIT"] = "3/minute"
    for _ in range(3):
        response = client.post(TOKEN, json={"username": "admin-user", "password": "bad" * 4})
        assert response.status_code == 401
    response = client.post(TOKEN, json={"username": "admin-user", "password": PASSWORD})
    assert_problem(response, 429, "rate-limited")
    assert int(response.headers["Retry-After"]) >= 1
    other = client.post(TOKEN, json={"username": "expert-user", "password": PASSWORD})
    assert other.status_code == 201  # the limit is per address and username
    session = client.post(SESSION, json={"username": "admin-user", "password": PASSWORD})
    assert_problem(session, 429, "rate-limited")  # page logins share the limit


def test_the_per_address_limit_covers_many_usernames(app, client, users):
    app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"] = "2/minute"
    client.post(TOKEN, json={"username": "a1", "password": "x"})
    client.post(TOKEN, json={"username": "a2", "password": "x"})
    assert_problem(
        client.post(TOKEN, json={"username": "a3", "password": "x"}), 429, "rate-limited"
    )


def test_the_per_account_limit_covers_guesses_from_many_addresses(app, client, users):
    """Guesses at one account spread over many addresses (each under its own limits) meet
    the per-account limit, whatever address comes next; another account is not held up."""
    app.config["LOGIN_RATE_LIMIT"] = "3/minute"
    app.config["LOGIN_RATE_LIMIT_PER_ACCOUNT"] = "5/minute"

    def from_address(n: int, username: str, password: str) -> int:
        address = {"REMOTE_ADDR": f"198.51.100.{n}"}
        body = {"username": username, "password": password}
        return client.post(TOKEN, json=body, environ_base=address).status_code

    statuses = [from_address(n, "admin-user", f"guess number {n}") for n in range(1, 9)]
    assert statuses == [401] * 5 + [429] * 3
    assert from_address(99, "admin-user", PASSWORD) == 429
    assert from_address(98, "expert-user", PASSWORD) == 201


def test_the_limits_count_an_ipv6_hosts_whole_64(app, client, users):
    """One IPv6 host holds a /64: a new address for each guess is the same client."""
    from expertdraw.auth import client_network

    app.config["LOGIN_RATE_LIMIT"] = "3/minute"
    statuses = [
        client.post(
            TOKEN,
            json={"username": "admin-user", "password": "bad" * 4},
            environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n:x}"},
        ).status_code
        for n in range(1, 6)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    other = client.post(
        TOKEN,
        json={"username": "admin-user", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"},
    )
    assert other.status_code == 201  # another /64 is another client
    assert client_network("203.0.113.7") == "203.0.113.7"
    assert client_network("::ffff:203.0.113.7") == "203.0.113.7"


def test_without_a_configured_secret_one_is_generated_once_with_mode_0600(
    app_config: dict[str, Any], tmp_path: Path
):
    instance = tmp_path / "fresh-instance"
    instance.mkdir()
    config = {**app_config, "SECRET_KEY": None, "INSTANCE_PATH": str(instance)}
    first = create_app(config)
    key_file = instance / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 64
    second = create_app(config)
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]


def _read_secret(instance: str, start: Any, out: Any) -> None:
    from expertdraw.auth import load_secret_key

    start.wait()
    out.put(load_secret_key(instance))


def test_processes_starting_together_all_get_the_same_complete_secret(tmp_path: Path):
    context = multiprocessing.get_context("fork")
    for attempt in range(5):
        instance = tmp_path / f"instance-{attempt}"
        instance.mkdir()
        start, out = context.Event(), context.Queue()
        workers = [
            context.Process(target=_read_secret, args=(str(instance), start, out)) for _ in range(6)
        ]
        for worker in workers:
            worker.start()
        start.set()
        keys = {out.get(timeout=30) for _ in workers}
        for worker in workers:
            worker.join(timeout=30)
        assert len(keys) == 1
        assert (instance / "secret_key").read_text().strip() in keys
        assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temporary left


def test_pages_declare_their_roles_and_refuse_the_others(app, client, users):
    from expertdraw.auth import require_roles

    @require_roles("supervisor")
    def witness_page() -> str:
        return "witness"

    app.add_url_rule("/test-witness", "test_witness", witness_page)
    anonymous = client.get("/test-witness")
    assert anonymous.status_code == 302  # to the login page
    assert anonymous.headers["Location"].startswith("/login")
    client.post(SESSION, json={"username": "expert-user", "password": PASSWORD})
    assert client.get("/test-witness").status_code == 403
    client.post(SESSION, json={"username": "supervisor-user", "password": PASSWORD})
    assert client.get("/test-witness").get_data(as_text=True) == "witness"


def test_pages_cannot_be_declared_without_roles():
    from expertdraw.auth import require_roles

    for roles in ((), ("root",)):
        with pytest.raises(ValueError):
            require_roles(*roles)


def test_a_token_expires_after_its_lifetime(app, client, users):
    """A token leaked unnoticed stops working on its own (API_TOKEN_DAYS, 90 by default)."""
    from datetime import datetime, timedelta

    from expertdraw import clock

    app.config["API_TOKEN_DAYS"] = 90  # the default (the test app sets a longer one)
    issued = client.post(TOKEN, json={"username": "admin-user", "password": PASSWORD}).get_json()
    created = datetime.fromisoformat(issued["created_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    assert expires - created == timedelta(days=90)
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    with clock.frozen(expires - timedelta(seconds=1)):
        assert client.get(ME, headers=bearer).status_code == 200
    with clock.frozen(expires):
        assert_problem(client.get(ME, headers=bearer), 401, "auth:invalid-token")
    app.config["API_TOKEN_DAYS"] = 200
    with clock.frozen(expires):
        assert client.get(ME, headers=bearer).status_code == 200


PASSWORD_CHANGE = "/api/v1/me/password"
NEW_PASSWORD = "another long passphrase"


def test_changing_ones_own_password_keeps_this_token_and_ends_every_other_credential(
    app, client, users, token_for
):
    kept, other = token_for("supervisor"), token_for("supervisor")
    browser = app.test_client()
    browser.post(SESSION, json={"username": "supervisor-user", "password": PASSWORD})
    response = client.post(
        PASSWORD_CHANGE,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {kept}"},
    )
    assert response.status_code == 200 and response.get_json() == {"ended": 2}
    assert client.get(ME, headers={"Authorization": f"Bearer {kept}"}).status_code == 200
    refused = client.get(ME, headers={"Authorization": f"Bearer {other}"})
    assert_problem(refused, 401, "auth:invalid-token")
    assert_problem(browser.get(ME), 401, "auth:required")
    login = client.post(TOKEN, json={"username": "supervisor-user", "password": NEW_PASSWORD})
    assert login.status_code == 201


def test_a_session_changing_its_password_stays_signed_in(app, client, users):
    client.post(SESSION, json={"username": "expert-user", "password": PASSWORD})
    response = client.post(
        PASSWORD_CHANGE, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200 and response.get_json() == {"ended": 0}
    assert client.get(ME).get_json()["username"] == "expert-user"


def test_a_refused_password_change_changes_nothing(app, client, users, token_for):
    token = token_for("project_manager")
    other = token_for("project_manager")
    headers = {"Authorization": f"Bearer {token}"}
    before = db.session.get(User, users["project_manager"].id).password_hash
    cases = [
        ({"current_password": "not the password", "new_password": NEW_PASSWORD}, 403),
        ({"current_password": PASSWORD, "new_password": "short"}, 422),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, 422),
        ({"current_password": PASSWORD}, 422),
    ]
    codes = []
    for body, status in cases:
        response = client.post(PASSWORD_CHANGE, json=body, headers=headers)
        assert response.status_code == status, (body, response.get_json())
        codes.append(response.get_json()["code"])
    assert codes == [
        "auth:wrong-password",
        "invalid:body",
        "user:password-same",
        "invalid:body",
    ]
    db.session.expire_all()
    assert db.session.get(User, users["project_manager"].id).password_hash == before
    assert client.get(ME, headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_password_guesses_through_the_change_are_rate_limited(app, client, users, token_for):
    app.config["LOGIN_RATE_LIMIT"] = "2/minute"
    headers = {"Authorization": f"Bearer {token_for('admin')}"}
    body = {"current_password": "guess number one", "new_password": NEW_PASSWORD}
    for _ in range(2):
        assert client.post(PASSWORD_CHANGE, json=body, headers=headers).status_code == 403
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_problem(client.post(PASSWORD_CHANGE, json=right, headers=headers), 429, "rate-limited")


REDIS_FOR_TESTS = os.environ.get("EXPERTDRAW_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


def _redis() -> Any:
    """The test Redis database, emptied; skipped without a server (failed under CI)."""
    import redis

    client = redis.Redis.from_url(REDIS_FOR_TESTS)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no Redis at {REDIS_FOR_TESTS}: CI must run the Redis tests")
        pytest.skip(f"no Redis at {REDIS_FOR_TESTS} (set EXPERTDRAW_TEST_REDIS_URL)")
    return client


def test_with_redis_every_process_counts_login_attempts_together(
    app_config: dict[str, Any], tmp_path: Path
):
    client = _redis()
    config = {
        **app_config,
        "INSTANCE_PATH": str(tmp_path),
        "REDIS_URL": REDIS_FOR_TESTS,
        "LOGIN_RATE_LIMIT": "3/minute",
        "LOGIN_RATE_LIMIT_PER_ADDRESS": "100/minute",
    }
    first, second = create_app(config), create_app(config)  # two server processes' apps
    try:
        body = {"username": "nobody-at-all", "password": "wrong password"}
        answers = [first.test_client().post(TOKEN, json=body).status_code for _ in range(2)]
        answers += [second.test_client().post(TOKEN, json=body).status_code for _ in range(2)]
        assert answers == [401, 401, 401, 429]
        assert any(b"nobody-at-all" in key for key in client.keys("*"))
    finally:
        client.flushdb()


def test_production_without_redis_warns_that_login_limits_are_counted_per_process(
    app_config: dict[str, Any], tmp_path: Path, caplog: Any
):
    instance = tmp_path / "production-instance"
    instance.mkdir()
    base = {**app_config, "INSTANCE_PATH": str(instance), "PRODUCTION": True, "DEMO": False}
    with caplog.at_level("WARNING"):
        create_app({**base, "REDIS_URL": None})
    assert "auth.rate-limit-per-process" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        create_app({**base, "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert "auth.rate-limit-per-process" not in caplog.text
