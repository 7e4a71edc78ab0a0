"""Draws, their witnesses, members, alternates, seats (bookings) and notices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    and_,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import EncryptedText, UTCDateTime

DRAW_STATES = ("announced", "completed", "failed")
#: A live draw is announced or completed; a project has at most one live root draw.
LIVE_STATES = ("announced", "completed")
LIVE_ROOT = f"root_id IS NULL AND state IN {LIVE_STATES!r}"
HELD = "released_at IS NULL"


class Draw(db.Model):
    """One random selection for a project; ``D-R<n>`` ids are supplementary draws of ``D``."""

    __tablename__ = "draws"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    root_id: Mapped[str | None] = mapped_column(ForeignKey("draws.id"), index=True)
    state: Mapped[str] = mapped_column(String(10))
    algorithm: Mapped[str] = mapped_column(String(24))
    snapshot_hash: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    # Secret until completion or failure reveals it in the ledger.
    secret: Mapped[str] = mapped_column(EncryptedText)
    entropy: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    list_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A failed supplementary draw whose retry (the next ``D-R<n>``, or the open place
    #: logged) is not committed yet: the deadline job retries it, should the process that
    #: failed it have stopped before (migration 0026).
    retry_pending: Mapped[bool] = mapped_column(default=False, server_default=false())

    @classmethod
    def live_root(cls) -> ColumnElement[bool]:
        """The condition of a live root draw (``LIVE_ROOT``, as ``uq_draws_live_root`` has it)."""
        return and_(cls.root_id.is_(None), cls.state.in_(LIVE_STATES))

    __table_args__ = (
        CheckConstraint("state IN ('announced', 'completed', 'failed')", name="state"),
        # One live root draw per project (migration 0008).
        Index(
            "uq_draws_live_root",
            "project_id",
            unique=True,
            postgresql_where=text(LIVE_ROOT),
            sqlite_where=text(LIVE_ROOT),
        ),
    )


class Witness(db.Model):
    """A supervisor's witness value for a draw, in the order entered."""

    __tablename__ = "witnesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[str] = mapped_column(ForeignKey("draws.id"), index=True)
    position: Mapped[int]
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    value: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("draw_id", "supervisor_id", name="uq_witness_supervisor"),
        UniqueConstraint("draw_id", "position", name="uq_witness_position"),
    )


class Member(db.Model):
    """An expert on a committee (of the root draw), with the seat drawn for them."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[str] = mapped_column(ForeignKey("draws.id"), index=True)
    source_draw_id: Mapped[str] = mapped_column(ForeignKey("draws.id"))
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    stratum: Mapped[str] = mapped_column(String(32))
    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id"))
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"))
    workstation_id: Mapped[str] = mapped_column(ForeignKey("workstations.id"))
    state: Mapped[str] = mapped_column(String(10), default="active")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        UniqueConstraint("draw_id", "expert_id", name="uq_member_expert"),
        CheckConstraint("state IN ('active', 'replaced')", name="state"),
        # The memberships of a period by when they were made (0010); the rules on other
        # committees find theirs by the projects' window start (0021).
        Index("ix_members_joined", "joined_at", "expert_id", "draw_id"),
    )


class Alternate(db.Model):
    """An alternate of a stratum, in walk order."""

    __tablename__ = "alternates"

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[str] = mapped_column(ForeignKey("draws.id"), index=True)
    stratum: Mapped[str] = mapped_column(String(32))
    position: Mapped[int]
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    used: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        UniqueConstraint("draw_id", "expert_id", name="uq_alternate_expert"),
        UniqueConstraint("draw_id", "stratum", "position", name="uq_alternate_position"),
    )


class Booking(db.Model):
    """A workstation held for an expert during a window. The database refuses overlaps."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    workstation_id: Mapped[str] = mapped_column(ForeignKey("workstations.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    draw_id: Mapped[str] = mapped_column(ForeignKey("draws.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint('"end" > start', name="period"),
        # The bookings held around a window, which every pool building reads (0010).
        Index(
            "ix_bookings_held_end",
            "end",
            "start",
            "expert_id",
            "workstation_id",
            postgresql_where=text(HELD),
            sqlite_where=text(HELD),
        ),
    )


class Notice(db.Model):
    """The anonymous message to a member, and the member's answer."""

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    draw_id: Mapped[str] = mapped_column(ForeignKey("draws.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    check_in_code: Mapped[str] = mapped_column(EncryptedText)
    check_in_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The id of the venue staff's user who checked the expert in (a second entry of the
    #: code by the same desk a moment later is the same check-in); no foreign key, see 0025.
    checked_in_by: Mapped[int | None]

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'timeout', 'withdrawn')",
            name="status",
        ),
    )


class Delivery(db.Model):
    """One channel's delivery of a notice (inbox, e-mail, SMS, voice) and its status.

    ``kind`` is ``notice`` (the assignment) or ``withdrawal`` (the seat was withdrawn after
    the expert had received the assignment, so that they do not travel for nothing)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10), default="notice", server_default="notice")
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Whether any attempt so far may have reached the expert (delivered, or ended so that
    #: the operator may have taken it): only then does a withdrawal follow (0023).
    maybe_taken: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        UniqueConstraint("notice_id", "channel", "kind", name="uq_delivery_channel_kind"),
        CheckConstraint("channel IN ('inbox', 'email', 'sms', 'voice')", name="channel"),
        CheckConstraint("kind IN ('notice', 'withdrawal')", name="kind"),
    )


class ListOpeningToken(db.Model):
    """The one-time token of a purpose form, and the ``list.opened`` entry it made.

    Why: the form that opens the sealed list may be sent twice at once (a double click on a
    slow link); both requests read the token before either has recorded it in the session.
    Kept here and read under the ledger lock, the token's first opening is found by the second
    request, which shows the list under that entry instead of recording a second opening.
    """

    __tablename__ = "list_opening_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    draw_id: Mapped[str] = mapped_column(String(48))
    page: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(300))
    seq: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
