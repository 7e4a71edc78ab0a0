"""Page sessions kept on the server beside the signed cookie (``models.PageSession``).

Why: a signed cookie alone cannot be withdrawn. The cookie carries a random key and the row
its SHA-256; logging out, a new password, a deactivation or the idle limit end the row, and the
cookie stops working even where it was copied. ``expertdraw.auth`` reads the request; this
module only touches the table.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import PageSession, User

KEY_BYTES = 32
MAX_KEY_LENGTH = 128  # a presented key longer than this is not one of ours


def _hash(key: str) -> str:
    """SHA-256 (hex) of a session key: what ``page_sessions.key_hash`` stores."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def session_version(user: User) -> str:
    """A fingerprint of the user's password hash, kept in the session cookie.

    Changing the password changes it, which ends every page session of that user.
    """
    return hashlib.sha256(b"expertdraw/session/v1\x00" + user.password_hash.encode()).hexdigest()[
        :16
    ]


#: A session's ``last_seen_at`` is written at most this often (or a tenth of the idle limit,
#: if less): a page view is a read, and a write per view would cost more than the idle
#: limit's precision is worth. The idle check allows the same margin, so a request within
#: the limit always keeps the session.
SEEN_PRECISION = timedelta(seconds=60)


def _precision(idle: timedelta) -> timedelta:
    return min(SEEN_PRECISION, idle / 10)


def wall(now: datetime | None) -> datetime:
    """The time a page session's limits count in: the real time, like the cookie's login
    time, not the business clock (which tests and rehearsals move)."""
    return now if now is not None else datetime.now(UTC)


def start(user: User, now: datetime | None = None) -> str:
    """Record a new page session for ``user`` (commits); returns the key its cookie carries."""
    key = secrets.token_urlsafe(KEY_BYTES)
    at = wall(now)
    db.session.add(
        PageSession(user_id=user.id, key_hash=_hash(key), created_at=at, last_seen_at=at)
    )
    db.session.commit()
    return key


def user_for(
    user_id: object, key: object, version: object, idle: timedelta, now: datetime | None = None
) -> User | None:
    """The active user of a live page session, or ``None``.

    The cookie's user id, session key and password fingerprint must all match a session that
    has not ended and has seen a request within ``idle`` (give or take the precision of
    ``last_seen_at``); an idle session is ended here.
    """
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    if not isinstance(key, str) or not isinstance(version, str) or len(key) > MAX_KEY_LENGTH:
        return None
    found = db.session.execute(
        sa.select(PageSession, User)
        .join(User, User.id == PageSession.user_id)
        .where(PageSession.key_hash == _hash(key), PageSession.user_id == user_id)
    ).first()
    if found is None:
        return None
    row, user = found
    at = wall(now)
    if row.ended_at is not None or not user.active:
        return None
    if not hmac.compare_digest(session_version(user), version):
        return None
    precision = _precision(idle)
    if at - row.last_seen_at > idle + precision:
        row.ended_at = at
        db.session.commit()
        return None
    if at - row.last_seen_at >= precision:
        row.last_seen_at = at
        db.session.commit()
    return user


def end(key: object, now: datetime | None = None) -> None:
    """End the page session whose cookie carries ``key`` (idempotent; commits)."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
        return
    db.session.execute(
        sa.update(PageSession)
        .where(PageSession.key_hash == _hash(key), PageSession.ended_at.is_(None))
        .values(ended_at=wall(now))
    )
    db.session.commit()


def end_all(user_id: int, now: datetime, keep: str | None = None) -> int:
    """End the user's live page sessions but ``keep``'s (no commit); returns how many ended."""
    stmt = (
        sa.update(PageSession)
        .where(PageSession.user_id == user_id, PageSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    if keep is not None:
        stmt = stmt.where(PageSession.key_hash != _hash(keep))
    return int(db.session.execute(stmt).rowcount or 0)


def end_others(user: User, keep: str | None, now: datetime | None = None) -> int:
    """End every page session of ``user`` but the one whose cookie carries ``keep`` (commits);
    returns how many ended."""
    ended = end_all(user.id, wall(now), keep)
    db.session.commit()
    return ended


def live(user: User, idle: timedelta, now: datetime | None = None) -> list[PageSession]:
    """The user's live page sessions, the most recently seen first."""
    at = wall(now)
    rows = db.session.scalars(
        sa.select(PageSession)
        .where(
            PageSession.user_id == user.id,
            PageSession.ended_at.is_(None),
            PageSession.last_seen_at >= at - idle - _precision(idle),
        )
        .order_by(PageSession.last_seen_at.desc(), PageSession.id.desc())
    )
    return list(rows)


def is_session(row: PageSession, key: object) -> bool:
    """Whether ``row`` is the session whose cookie carries ``key``."""
    return isinstance(key, str) and hmac.compare_digest(row.key_hash, _hash(key))


def purge(now: datetime) -> int:
    """Scheduler job: delete the rows of sessions ended or idle for more than a day.

    A day's grace keeps a just-ended session visible to anyone looking into a sign-out; after
    that the row says nothing worth keeping. Returns how many rows went.
    """
    idle = timedelta(seconds=int(current_app.config.get("SESSION_IDLE_SECONDS", 8 * 3600)))
    day = timedelta(days=1)
    result = db.session.execute(
        sa.delete(PageSession).where(
            sa.or_(PageSession.ended_at < now - day, PageSession.last_seen_at < now - idle - day)
        )
    )
    db.session.commit()
    return int(result.rowcount or 0)
