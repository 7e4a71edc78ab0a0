"""Users: creation with an Argon2id password hash, and password verification.

Each user gets a ``pseudonym``: ``U`` and ten base32 characters, random, fixed at creation.
The ledger names actors by pseudonym, never by username.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

from .. import clock
from ..extensions import db
from ..models import ROLES, Expert, User, Venue
from .preferences import LANGUAGES

PSEUDONYM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
MIN_PASSWORD_LENGTH = 10
#: Longer passwords are refused everywhere (pages, API, CLI), so a password set on one
#: works on all of them.
MAX_PASSWORD_LENGTH = 256
_USERNAME = re.compile(r"[A-Za-z0-9._-]{2,64}")
_LANGUAGE = re.compile(r"[a-z]{2}(_[A-Z]{2})?")  # as the API's schemas.Language
_PROFILES = {
    # argon2-cffi's defaults (RFC 9106 low-memory profile): what a deployment uses.
    "default": PasswordHasher(),
    # Cheapest parameters, for the test suite only (``PASSWORD_HASHING = "test"``).
    "test": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
}


class _Hasher:
    """The app's configured Argon2id hasher (``PASSWORD_HASHING``, default ``default``)."""

    def _current(self) -> PasswordHasher:
        from flask import current_app, has_app_context

        name = (
            current_app.config.get("PASSWORD_HASHING", "default")
            if has_app_context()
            else "default"
        )
        return _PROFILES[name]

    def hash(self, password: str) -> str:
        return self._current().hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        return self._current().verify(hashed, password)

    def check_needs_rehash(self, hashed: str) -> bool:
        return self._current().check_needs_rehash(hashed)


_hasher = _Hasher()


def _dummy_hash() -> str:
    """Verified against when the user is unknown, so both answers take as long."""
    return _dummy_for(_hasher._current())


@cache
def _dummy_for(hasher: PasswordHasher) -> str:
    return hasher.hash("expertdraw: no such user")


#: The field a user error names when its raiser names none.
_FIELD_OF = {
    "user:username": "username",
    "user:password": "password",
    "user:password-same": "new_password",
    "user:role": "role",
    "user:self": "role",
    "user:language": "language",
    "user:expert-taken": "expert_code",
    "user:expert-removed": "expert_code",
}


class UserError(ValueError):
    """A user cannot be created or changed as asked; ``code`` is stable (``user:role``,
    ...), ``field`` names the bad input (as the API's bodies name it)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field or _FIELD_OF.get(code)

    @property
    def errors(self) -> list[dict[str, str]] | None:
        """The field error, as :class:`~expertdraw.services.errors.ServiceError` gives it."""
        if self.field is None:
            return None
        return [{"field": self.field, "in": "body", "message": str(self), "type": self.code}]


def check_new_password(password: str, username: str | None = None) -> None:
    """Raise ``UserError`` (``user:password``) unless ``password`` has an allowed length and,
    outside demo mode, is not the published demo password of ``username`` (which would be
    refused at every login)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(
            "user:password",
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
        )
    from . import seed  # seed creates its users through this module

    demo = current_app.config.get("DEMO")
    if username and not demo and seed.is_published_login(username, password):
        raise UserError("user:password", "this is a published demo password: choose another")


def new_pseudonym() -> str:
    """A fresh random pseudonym, ``U`` + 10 base32 characters (50 bits)."""
    return "U" + "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(10))


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (parameters of argon2-cffi's ``PasswordHasher``)."""
    return _hasher.hash(password)


def create_user(
    username: str,
    password: str,
    role: str,
    *,
    expert_id: int | None = None,
    venue_id: str | None = None,
    language: str | None = None,
    now: datetime | None = None,
    commit: bool = True,
    demo: bool = False,
) -> User:
    """Create a user. Without ``commit`` the user is only flushed into the running transaction.
    ``demo``: a demo user of the seed, whose password is published (refused otherwise).

    Raises:
        UserError: ``user:username`` (malformed or taken), ``user:password`` (too short or
            too long), ``user:role`` (unknown role), ``user:link`` (an expert needs an expert,
            venue staff a venue, and the linked record must exist), ``user:expert-taken`` (the
            expert has a user already), ``user:expert-removed`` (the expert was removed from
            the pool), ``user:language`` (not zh or en, or a regional form of them
            such as zh_CN).
    """
    if not _USERNAME.fullmatch(username):
        raise UserError("user:username", "a username is 2-64 characters of [A-Za-z0-9._-]")
    check_new_password(password, None if demo else username)
    if role not in ROLES:
        raise UserError("user:role", f"role must be one of {', '.join(ROLES)}")
    if language is not None and (
        not _LANGUAGE.fullmatch(language) or language.split("_")[0] not in LANGUAGES
    ):
        # Only the languages the pages and notices speak: another would fall back silently.
        raise UserError("user:language", "the language is zh or en (zh_CN)")
    if (role == "expert") != (expert_id is not None):
        raise UserError(
            "user:link", "an expert user, and only one, is linked to an expert", "expert_code"
        )
    if (role == "venue_staff") != (venue_id is not None):
        raise UserError(
            "user:link", "a venue staff user, and only one, is linked to a venue", "venue_id"
        )
    expert = db.session.get(Expert, expert_id) if expert_id is not None else None
    if expert_id is not None and expert is None:
        raise UserError("user:link", f"no expert with id {expert_id}", "expert_code")
    if expert is not None and expert.status == "removed":
        # A removed expert's accounts are closed (pool_changes): no new one signs them in.
        raise UserError("user:expert-removed", "this expert was removed from the pool")
    if venue_id is not None and db.session.get(Venue, venue_id) is None:
        raise UserError("user:link", f"no venue {venue_id}", "venue_id")
    if expert_id is not None and db.session.scalar(
        sa.select(User.username).where(User.expert_id == expert_id)
    ):
        raise UserError("user:expert-taken", "this expert already has a user account")
    if db.session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise UserError("user:username", f"username {username} is taken")
    pseudonym = new_pseudonym()
    while db.session.scalar(sa.select(User.id).where(User.pseudonym == pseudonym)) is not None:
        pseudonym = new_pseudonym()  # pragma: no cover - 50 random bits
    user = User(
        username=username,
        pseudonym=pseudonym,
        password_hash=hash_password(password),
        role=role,
        expert_id=expert_id,
        venue_id=venue_id,
        language=language,
        active=True,
        created_at=now or clock.now(),
    )
    db.session.add(user)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return user


def verify_password(username: str, password: str) -> User | None:
    """The active user if ``password`` is right, else None (unknown, inactive or wrong).

    A hash made with weaker parameters than the current ones is replaced (and committed).
    """
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def password_matches(user: User, password: str) -> bool:
    """Whether ``password`` is ``user``'s (for a user already known, e.g. changing it)."""
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
