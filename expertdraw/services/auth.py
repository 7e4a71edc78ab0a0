"""Authentication use cases: login, API bearer tokens, passwords, user accounts.

Page sessions are ``services.page_sessions``.

Why here and not in the Flask glue (``expertdraw.auth``): these touch the database, and only
services do. Tokens are 32 random bytes (URL-safe base64), shown once; the database keeps only
their SHA-256 (hex), so a leaked table grants nothing. A token is refused once ``revoked_at`` is
set or its user is deactivated.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..extensions import db
from ..models import ApiToken, Expert, User, Venue
from . import page_sessions, sealed_pool, seed, users
from .errors import Forbidden
from .pagination import paginate

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128  # a presented token longer than this is not one of ours


class AuthError(Exception):
    """Authentication failed; ``code`` and ``http_status`` say how (mapped to problem+json)."""

    code = "auth:required"
    http_status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadCredentials(AuthError):
    """Unknown username, wrong password or inactive user (deliberately indistinguishable)."""

    code = "auth:bad-credentials"


class UserNotFound(Exception):
    """No user has this id."""

    code = "not-found:user"
    http_status = 404

    def __init__(self, user_id: int) -> None:
        super().__init__(f"no user with id {user_id}")
        self.message = f"no user with id {user_id}"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else clock.now()


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a bearer token: what ``api_tokens.token_hash`` stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def authenticate(username: str, password: str) -> User:
    """The active user with this username and password; raises ``BadCredentials`` otherwise.

    Delegates to ``services.users.verify_password`` (Argon2id; an unknown username costs a
    verification too, and outdated hashes are upgraded). Outside demo mode a demo login's
    published password is refused (a database seeded in demo mode keeps its demo users).
    """
    if not current_app.config.get("DEMO") and seed.is_published_login(username, password):
        raise BadCredentials(
            "a demo password is published and works only in demo mode: an admin must set this "
            "account a new password"
        )
    user = users.verify_password(username, password)
    if user is None:
        raise BadCredentials("wrong username or password")
    # The row held until the caller's session or token commits, and read afresh: a password
    # changed (or the account closed) while this one was being verified ends this login too,
    # else it would issue a credential the change never saw to revoke.
    now_held = db.session.execute(
        sa.select(User.password_hash, User.active).where(User.id == user.id).with_for_update()
    ).one()
    if now_held.password_hash != user.password_hash or not now_held.active:
        db.session.rollback()
        raise BadCredentials("wrong username or password")
    return user


class PasswordError(AuthError):
    """The current password given to change it is wrong (403 ``auth:wrong-password``)."""

    code = "auth:wrong-password"
    http_status = 403


def change_password(
    user: User,
    current: str,
    new: str,
    *,
    keep_session: str | None = None,
    keep_token: ApiToken | None = None,
    now: datetime | None = None,
) -> int:
    """A user sets their own password, proving the current one (commits).

    Every other credential of the user ends: page sessions but ``keep_session`` and API tokens
    but ``keep_token``, so that whoever else held one is out. Returns how many sessions and
    tokens ended. Raises ``PasswordError`` (wrong current password) or ``users.UserError``
    (``user:password``: too short or too long; ``user:password-same``: the same as the current one).
    """
    db.session.refresh(user, with_for_update=True)  # ordered with logins (authenticate)
    if not users.password_matches(user, current):
        raise PasswordError("the current password is wrong")
    try:
        users.check_new_password(new, user.username)
    except users.UserError as exc:
        exc.field = "new_password"  # as the API's body names it
        raise
    if new == current:
        raise users.UserError(
            "user:password-same", "the new password is the same as the current one"
        )
    user.password_hash = users.hash_password(new)
    ended = _end_credentials(user.id, now, keep_session, keep_token)
    db.session.commit()
    return ended


def close_account(user: User, now: datetime | None = None) -> None:
    """Deactivate ``user``, revoke their tokens and end their page sessions (no commit): for
    an expert removed from the pool."""
    user.active = False
    _end_credentials(user.id, now)


def _end_credentials(
    user_id: int,
    now: datetime | None,
    keep_session: str | None = None,
    keep_token: ApiToken | None = None,
) -> int:
    """End the user's page sessions and revoke their API tokens, but the ones to keep (no
    commit); returns how many ended."""
    ended = page_sessions.end_all(user_id, page_sessions.wall(now), keep_session)
    return ended + _revoke_tokens(user_id, _now(now), keep_token)


def _revoke_tokens(user_id: int, at: datetime, keep: ApiToken | None = None) -> int:
    """Revoke the user's live tokens but ``keep`` (no commit); returns how many."""
    stmt = sa.update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep.id)
    return int(db.session.execute(stmt.values(revoked_at=at)).rowcount or 0)


def token_login(
    username: str, password: str, label: str = "", now: datetime | None = None
) -> tuple[User, ApiToken, str]:
    """Authenticate and issue a bearer token: the user, the token row and the token text.

    Raises ``BadCredentials``.
    """
    user = authenticate(username, password)
    row, token = issue_token(user, label, now)
    return user, row, token


def issue_token(user: User, label: str = "", now: datetime | None = None) -> tuple[ApiToken, str]:
    """Create and commit a bearer token for ``user``; returns the row and the token text.

    The text is returned only here; afterwards only its hash exists.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), label=label, created_at=_now(now))
    db.session.add(row)
    db.session.commit()
    return row, token


#: How long a bearer token works unless ``API_TOKEN_DAYS`` says otherwise: a token that leaks
#: unnoticed stops working on its own; clients ask for a new one.
TOKEN_DAYS = 90


def token_expiry(row: ApiToken) -> datetime:
    """When ``row`` stops working."""
    days = int(current_app.config.get("API_TOKEN_DAYS") or TOKEN_DAYS)
    return row.created_at + timedelta(days=days)


def user_for_token(token: str) -> tuple[User, ApiToken] | None:
    """The active user and the unrevoked, unexpired token row for a presented bearer token,
    or ``None``."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    found = db.session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or not user.active or clock.now() >= token_expiry(row):
        return None
    return user, row


def revoke_token(token_id: int, now: datetime | None = None) -> None:
    """Revoke one token (idempotent) and commit."""
    row = db.session.get(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = _now(now)
        db.session.commit()


def _hold(user_id: int) -> None:
    """Lock the user's row until the transaction ends, ordering this change with logins
    (:func:`authenticate` holds the row until its session or token is written): a login
    verified before the change has written its credential by now, which the change ends;
    one after it sees the new password or state."""
    db.session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())


def revoke_all_tokens(user_id: int, now: datetime | None = None) -> int:
    """Revoke every unrevoked token of a user and commit; returns how many were revoked.

    Raises ``UserNotFound`` when no user has this id.
    """
    if db.session.get(User, user_id) is None:
        raise UserNotFound(user_id)
    _hold(user_id)  # a token a login is writing now is written first, and revoked too
    revoked = _revoke_tokens(user_id, _now(now))
    db.session.commit()
    return revoked


def list_users(
    *, page: int, per_page: int, role: str | None = None, active: bool | None = None
) -> tuple[list[tuple[User, str | None]], int]:
    """One page of users ordered by id, each with its expert's code; and the total.

    Optionally filtered by role and active flag. The code of an expert who sits on (or
    stands by for) a committee whose evaluation is on is ``""``: a username can be a name or
    a phone number, and the ledger names the committee by that code (sealed_pool). Such a
    user's pseudonym must not be shown either: their own entries carry it beside the code.
    """
    stmt = sa.select(User).order_by(User.id)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    rows, total = paginate(stmt, page=page, per_page=per_page)
    ids = {u.expert_id for u in rows if u.expert_id is not None}
    codes: dict[int, str] = {}
    if ids:
        found = db.session.execute(sa.select(Expert.id, Expert.code).where(Expert.id.in_(ids)))
        codes = {row.id: row.code for row in found}
        sealed = sealed_pool.committees(codes.values())
        codes = {i: "" if code in sealed else code for i, code in codes.items()}
    return [(u, codes.get(u.expert_id) if u.expert_id else None) for u in rows], total


def sealed_account(user: User) -> bool:
    """Whether ``user`` is an expert on a committee whose evaluation is on: the pages show
    neither the expert's code nor the account's pseudonym (see :func:`list_users`)."""
    if user.expert_id is None:
        return False
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == user.expert_id))
    return code is not None and bool(sealed_pool.committees([code]))


def create_account(
    username: str,
    password: str,
    role: str,
    *,
    expert_code: str | None = None,
    venue_id: str | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> User:
    """Create and commit a user; an expert user is linked by the expert's code.

    Raises ``users.UserError`` (``user:username`` taken, ``user:link`` no such expert or venue,
    or the link does not fit the role, ``user:password``, ``user:role``).
    """
    expert_id: int | None = None
    if expert_code is not None:
        expert_id = db.session.scalar(sa.select(Expert.id).where(Expert.code == expert_code))
        if expert_id is None:
            raise users.UserError("user:link", f"no expert with code {expert_code}", "expert_code")
    return users.create_user(
        username,
        password,
        role,
        expert_id=expert_id,
        venue_id=venue_id,
        language=language,
        now=_now(now),
    )


def _check_still_admin(actor: User) -> None:
    """Lock the administrators' rows and check that ``actor`` is still an active one: two
    administrators removing each other at the same moment would otherwise both succeed and
    leave the centre with none (the second to lock finds itself removed, and is refused)."""
    rows = db.session.execute(
        sa.select(User.id, User.active).where(User.role == "admin").with_for_update()
    ).all()
    if not any(row.id == actor.id and row.active for row in rows):
        raise Forbidden("auth:forbidden", "your account is no longer an active administrator")


def update_account(
    user_id: int,
    actor: User,
    *,
    role: str,
    active: bool,
    venue_id: str | None = None,
    password: str | None = None,
    keep_session: str | None = None,
    now: datetime | None = None,
) -> User:
    """Change a user's role (and venue), deactivate or reactivate it, or set a new password
    (commits). A deactivated user's page sessions end and its API tokens are revoked; a new
    password ends its page sessions and revokes its tokens too (the usual answer to a leaked
    credential must not leave a token working). ``keep_session`` names the page session that
    made the change, which an administrator setting their own password keeps.

    An expert user stays an expert (it is linked to one expert) and no other user becomes
    one; venue staff need a venue. Administrators cannot deactivate or demote themselves, so
    the centre always keeps one.

    A deactivated expert user whose expert was removed from the pool stays deactivated
    (``user:expert-removed``): removal closed the account (pool_changes).

    Raises ``users.UserError`` (``user:role``, ``user:link``, ``user:password``,
    ``user:self``, ``user:expert-removed``) or ``UserNotFound``.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    if role not in users.ROLES:
        raise users.UserError("user:role", f"role must be one of {', '.join(users.ROLES)}")
    if (role == "expert") != (user.role == "expert"):
        raise users.UserError("user:role", "expert users stay experts; no other user becomes one")
    if user.id == actor.id and (role != user.role or not active):
        raise users.UserError("user:self", "administrators cannot demote or deactivate themselves")
    venue = (venue_id or "").strip() or None
    if role == "venue_staff":
        if venue is None or db.session.get(Venue, venue) is None:
            raise users.UserError("user:link", "venue staff need an existing venue", "venue_id")
    else:
        venue = None
    if active and not user.active and _expert_removed(user):
        raise users.UserError("user:expert-removed", "this expert was removed from the pool")
    if password:
        users.check_new_password(password, user.username)
    if user.role == "admin" and user.active and (role != "admin" or not active):
        _check_still_admin(actor)  # (locks the admins' rows: before this one, never after)
    _hold(user.id)
    user.role, user.venue_id, user.active = role, venue, active
    if password:
        user.password_hash = users.hash_password(password)
    if not active or password:
        _end_credentials(user.id, now, keep_session)
    db.session.commit()
    return user


def _expert_removed(user: User) -> bool:
    if user.expert_id is None:
        return False
    return db.session.scalar(sa.select(Expert.status).where(Expert.id == user.expert_id)) == (
        "removed"
    )
