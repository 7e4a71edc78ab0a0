"""A login racing a password change: the token it issues is one the change ends, or none.

The login verifies the old password (slow, outside any lock), then holds the user's row until
its token is written; the change holds the same row. Whichever comes second sees the first.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from expertdraw.services import auth as auth_service

from ..integration.test_races import _threads
from .conftest import PASSWORD

NEW_PASSWORD = "a completely new passphrase 2027"


@pytest.mark.parametrize("change_by", ["owner", "admin"])
def test_a_token_issued_by_a_login_racing_a_password_change_survives_it(
    pg_app, api, users, monkeypatch, change_by
):
    """The change (the owner's new password, or an admin revoking every token) is sent
    between the login's verification and its token."""
    owner = api("project_manager")
    admin = api("admin")
    verified, changed = threading.Event(), threading.Event()
    real_issue = auth_service.issue_token

    def issue_token(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "login":
            verified.set()  # the old password was verified
            changed.wait(3)  # the change waits for this login's row
        return real_issue(*args, **kwargs)

    monkeypatch.setattr(auth_service, "issue_token", issue_token)
    answers: dict[str, Any] = {}

    def login() -> None:
        with pg_app.test_client() as client:
            sent = client.post(
                "/api/v1/auth/token",
                json={"username": users["project_manager"].username, "password": PASSWORD},
            )
            answers["login"] = (sent.status_code, sent.get_json())

    def change() -> None:
        assert verified.wait(30)
        try:
            if change_by == "owner":
                sent = owner.post(
                    "/api/v1/me/password",
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                )
            else:
                user_id = users["project_manager"].id
                sent = admin.post(f"/api/v1/users/{user_id}/tokens/revoke-all")
            answers["change"] = (sent.status_code, sent.get_json())
        finally:
            changed.set()

    _threads(("login", login), ("change", change))
    assert answers["change"][0] == 200, answers
    if answers["login"][0] == 401:  # the login saw the change: no token at all
        return
    assert answers["login"][0] == 201, answers
    stolen = answers["login"][1]["token"]
    with pg_app.test_client() as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {stolen}"})
    assert me.status_code == 401, (
        f"a token issued with the old password still works after the change "
        f"({answers['change'][1]} other credentials ended): GET /me -> {me.status_code}"
    )
