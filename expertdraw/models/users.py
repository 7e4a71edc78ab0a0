"""Users, their roles and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

ROLES = ("admin", "project_manager", "supervisor", "expert", "venue_staff")


class User(db.Model):
    """A person who logs in. ``pseudonym`` is the stable id the ledger names as actor."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"), unique=True)
    venue_id: Mapped[str | None] = mapped_column(ForeignKey("venues.id"))
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'project_manager', 'supervisor', 'expert', 'venue_staff')",
            name="role",
        ),
        CheckConstraint("role <> 'expert' OR expert_id IS NOT NULL", name="expert_link"),
        CheckConstraint("role <> 'venue_staff' OR venue_id IS NOT NULL", name="venue_link"),
    )


class ApiToken(db.Model):
    """A bearer token for API clients, stored as a SHA-256 hash; revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PageSession(db.Model):
    """A browser's page session, kept on the server as well as in the signed cookie.

    Why: a signed cookie alone cannot be withdrawn. With a row per session, logging out ends
    the session for good (a copied cookie stops working), a user can end the sessions of their
    other browsers, and a new password or a deactivation ends them all. The cookie carries a
    random key; the row keeps only its SHA-256, so a leaked table opens no session. No address
    or browser string is kept: the row holds no personal data.
    """

    __tablename__ = "page_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
