"""Logging in and out, bearer tokens, and "who am I".

``POST /auth/token`` exchanges a username and password for a bearer token, shown once;
``DELETE /auth/token`` revokes the token the request carries. ``POST``/``DELETE /auth/session``
do the same for the signed session cookie the pages use. Logins are rate limited.
``POST /me/password`` changes the caller's own password.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from .. import auth
from ..services import auth as auth_service
from .blueprint import bp
from .errors import ApiError
from .framework import ALL_ROLES, PUBLIC, api_route
from .schemas import ApiModel, Label, NewPassword, OutModel, Password


class LoginIn(ApiModel):
    """Credentials."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Password


class TokenIn(LoginIn):
    """Credentials, and a label to recognise the token by (e.g. the client's name)."""

    label: Label = ""


class PasswordIn(ApiModel):
    """The current password, and the new one."""

    current_password: Password
    new_password: NewPassword


class PasswordOut(OutModel):
    """How many other credentials of the account the change ended."""

    #: Page sessions of other browsers and API tokens other than the one this request used.
    ended: int


class MeOut(OutModel):
    """The logged-in user, as the user may see it."""

    id: int
    username: str
    pseudonym: str
    role: str
    language: str | None
    venue_id: str | None


class TokenOut(OutModel):
    """A new bearer token. ``token`` is shown only in this response."""

    token: str
    token_id: int
    label: str
    created_at: datetime
    #: The token stops working then (``API_TOKEN_DAYS``, 90 by default); ask for a new one.
    expires_at: datetime
    user: MeOut


@api_route(
    bp,
    "POST",
    "/auth/token",
    roles=PUBLIC,
    body=TokenIn,
    response=TokenOut,
    status=201,
    rate_limited=True,
    errors=(401,),
    summary="Exchange username and password for a bearer token",
)
def create_token(body: TokenIn) -> dict[str, object]:
    """Send the token as `Authorization: Bearer <token>`; it is not shown again."""
    auth.check_login_rate(body.username)
    user, row, token = auth_service.token_login(body.username, body.password, body.label)
    return {
        "token": token,
        "token_id": row.id,
        "label": row.label,
        "created_at": row.created_at,
        "expires_at": auth_service.token_expiry(row),
        "user": user,
    }


@api_route(
    bp,
    "DELETE",
    "/auth/token",
    roles=ALL_ROLES,
    status=204,
    errors=(400,),
    summary="Revoke the bearer token this request carries",
)
def revoke_token() -> None:
    """Later requests with the same token get 401."""
    token = auth.current_token()
    if token is None:
        raise ApiError(400, "invalid:no-token", "this request was not made with a bearer token")
    auth_service.revoke_token(token.id)


@api_route(
    bp,
    "POST",
    "/auth/session",
    roles=PUBLIC,
    body=LoginIn,
    response=MeOut,
    rate_limited=True,
    errors=(401,),
    summary="Log in with username and password (session cookie)",
)
def create_session(body: LoginIn) -> object:
    """For the pages: sets the signed session cookie."""
    auth.check_login_rate(body.username)
    user = auth_service.authenticate(body.username, body.password)
    auth.login_user(user)
    return user


@api_route(
    bp, "DELETE", "/auth/session", roles=PUBLIC, status=204, summary="Log out (session cookie)"
)
def delete_session() -> None:
    """Clears the session cookie; harmless when not logged in."""
    auth.logout_user()


@api_route(bp, "GET", "/me", roles=ALL_ROLES, response=MeOut, summary="The logged-in user")
def me() -> object:
    """Who the bearer token or session belongs to."""
    return auth.current_user()


@api_route(
    bp,
    "POST",
    "/me/password",
    roles=ALL_ROLES,
    body=PasswordIn,
    response=PasswordOut,
    rate_limited=True,
    summary="Change your own password",
)
def change_password(body: PasswordIn) -> dict[str, int]:
    """Needs the current password (403 `auth:wrong-password`); counts as a login attempt.

    Every other credential of the account ends: the page sessions of other browsers and every
    API token but the one this request carries. The session or token used here keeps working.
    """
    user = auth.current_user()
    auth.check_login_rate(user.username)
    keep_session = auth.session_key() if auth.auth_method() == "session" else None
    ended = auth_service.change_password(
        user,
        body.current_password,
        body.new_password,
        keep_session=keep_session,
        keep_token=auth.current_token(),
    )
    if keep_session is not None:
        auth.keep_signed_in(user)
    return {"ended": ended}
