"""Every user's account page: a new password, the browsers signed in, and page sessions that
end on the server (a copied cookie stops working after logout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw.extensions import db
from expertdraw.models import ApiToken, PageSession, User
from expertdraw.services import auth as auth_service
from expertdraw.services import page_sessions

from .conftest import PASSWORD, csrf_of

NEW = "a much longer passphrase"


def _post(client: Any, path: str, data: dict[str, str]) -> Any:
    page = client.get("/account").get_data(as_text=True)
    return client.post(path, data={**data, "csrf_token": csrf_of(page)})


def _signed_in(client: Any) -> bool:
    return client.get("/account").status_code == 200


def _copy(client: Any, app: Any) -> Any:
    """Another client carrying the same session cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _live(username: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(PageSession)
        .join(User, User.id == PageSession.user_id)
        .where(User.username == username, PageSession.ended_at.is_(None))
    )


def test_logging_out_ends_the_session_on_the_server(app, centre, login):
    client = login("sup1")
    thief = _copy(client, app)
    assert _signed_in(thief)
    page = client.get("/account").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert not _signed_in(client)
    refused = thief.get("/account")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert _live("sup1") == 0


def test_the_cookie_holds_a_key_the_database_keeps_only_hashed(app, centre, login):
    client = login("pm")
    with client.session_transaction() as stored:
        key = stored["sid"]
    row = db.session.scalars(sa.select(PageSession)).one()
    assert row.key_hash == auth_service.hash_token(key) and key not in row.key_hash


def test_a_user_ends_the_sessions_of_other_browsers_and_keeps_this_one(app, centre, login):
    laptop, phone = login("pm"), login("pm")
    other_user = login("sup1")
    page = laptop.get("/account").get_data(as_text=True)
    assert page.count("<tr data-this-session>") == 1
    assert page.count("<td>") >= 6  # two sessions listed, three cells each
    done = _post(laptop, "/account/sessions/end-others", {})
    assert done.status_code == 302
    assert _signed_in(laptop) and not _signed_in(phone)
    assert _signed_in(other_user)  # only the account's own sessions end
    assert _live("pm") == 1


def test_a_session_idle_too_long_ends(app, centre, login):
    client = login("pm")
    idle = app.config["SESSION_IDLE_SECONDS"]
    db.session.execute(
        sa.update(PageSession).values(last_seen_at=datetime.now(UTC) - timedelta(seconds=idle + 60))
    )
    db.session.commit()
    assert not _signed_in(client)
    row = db.session.scalars(sa.select(PageSession)).one()
    assert row.ended_at is not None


def test_a_new_password_needs_the_current_one_and_changes_nothing_when_refused(app, centre, login):
    client = login("pm")
    before = db.session.scalar(sa.select(User.password_hash).where(User.username == "pm"))
    cases = [
        ({"current_password": "wrong password!", "new_password": NEW}, 403, "当前密码不正确"),
        ({"current_password": PASSWORD, "new_password": "short"}, 422, "10 至 256"),
        ({"current_password": PASSWORD, "new_password": "p" * 257}, 422, "10 至 256"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, 422, "新密码与当前密码相同"),
        ({"current_password": "", "new_password": NEW}, 422, "请输入当前密码"),
    ]
    for data, status, message in cases:
        repeat = data["new_password"]
        response = _post(client, "/account/password", {**data, "repeat_password": repeat})
        assert response.status_code == status, data
        assert message in response.get_data(as_text=True), data
    differ = _post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW + "x"},
    )
    assert differ.status_code == 422 and 'id="f-repeat_password-error"' in differ.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.password_hash).where(User.username == "pm")) == before
    assert _signed_in(client)


def test_a_new_password_signs_out_every_other_browser_and_token(app, centre, login):
    client, other = login("pm"), login("pm")
    user = db.session.scalar(sa.select(User).where(User.username == "pm"))
    _, token = auth_service.issue_token(user, "script")
    changed = _post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW},
    )
    assert changed.status_code == 302
    page = client.get("/account")  # this browser carries on
    # one other browser and one token
    assert "已退出的其他浏览器和 API 令牌：2 个" in page.get_data(as_text=True)
    assert not _signed_in(other)
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert db.session.scalar(sa.select(ApiToken.revoked_at)) is not None
    login("pm", NEW)
    refused = app.test_client().post("/login", data={"username": "pm", "password": PASSWORD})
    assert refused.status_code == 401


def test_deactivating_a_user_ends_their_sessions(app, centre, login):
    client = login("pm")
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    pm = db.session.scalar(sa.select(User).where(User.username == "pm"))
    auth_service.update_account(pm.id, admin, role=pm.role, active=False)
    assert _live("pm") == 0
    assert not _signed_in(client)


def test_the_purge_forgets_ended_and_long_idle_sessions_only(app, centre, login):
    login("pm")
    login("sup1")
    client = login("sup2")
    now = datetime.now(UTC)
    rows = db.session.scalars(sa.select(PageSession).order_by(PageSession.id)).all()
    rows[0].ended_at = now - timedelta(days=2)
    rows[1].last_seen_at = now - timedelta(seconds=app.config["SESSION_IDLE_SECONDS"], days=2)
    db.session.commit()
    assert page_sessions.purge(now) == 2
    assert [r.id for r in db.session.scalars(sa.select(PageSession))] == [rows[2].id]
    assert _signed_in(client)


def test_a_request_within_a_short_idle_limit_always_keeps_the_session(app, centre):
    """With a 90 s limit, requests 50 s apart keep a session (``last_seen_at`` is written only
    every few seconds), and a 100 s silence ends it."""
    user = db.session.scalar(sa.select(User).where(User.username == "pm"))
    idle = timedelta(seconds=90)
    start = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    key = page_sessions.start(user, start)
    version = page_sessions.session_version(user)
    for seconds in (50, 100, 150, 200, 289):
        at = start + timedelta(seconds=seconds)
        assert page_sessions.user_for(user.id, key, version, idle, at) is not None, seconds
    assert page_sessions.user_for(user.id, key, version, idle, at + timedelta(seconds=100)) is None
    assert page_sessions.user_for(user.id, key, version, idle, at + timedelta(seconds=101)) is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    idle_seconds=st.integers(60, 7 * 86400),
    gaps=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=12),
    silence=st.floats(1.2, 3, allow_nan=False),
)
def test_requests_within_the_idle_limit_keep_a_session_and_a_longer_silence_ends_it(
    app, centre, idle_seconds, gaps, silence
):
    """Whatever the limit and the spacing of requests: each request at most ``idle`` after
    the one before keeps the session; a silence well past the limit ends it."""
    user = db.session.scalar(sa.select(User).where(User.username == "pm"))
    idle = timedelta(seconds=idle_seconds)
    at = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    key = page_sessions.start(user, at)
    version = page_sessions.session_version(user)
    for share in gaps:
        at += idle * share
        assert page_sessions.user_for(user.id, key, version, idle, at) is not None
    assert page_sessions.user_for(user.id, key, version, idle, at + idle * silence) is None
