"""Delivery of notices through their channels, with retries, safe under several instances.

A notice gets one ``Delivery`` row per channel (``queue_deliveries``, in the transaction that
creates the notice). The scheduler job calls ``deliver_due(now)``, which works through the rows
that are due, one at a time and each in short transactions of its own:

1. claim: ``UPDATE deliveries SET status='sending', attempts=attempts+1 ... WHERE id=:id AND
   <still due>``; only the instance whose update hits the row sends it (SQLite serialises
   writers; PostgreSQL re-checks the condition on the row it locks). The claim also moves
   ``next_attempt_at`` ahead by ``claim_timeout``, so a claim whose process died is taken over
   once that passes (at-least-once delivery; ``attempts`` grows on every claim);
2. prepare: recipient (e-mail address or phone, decrypted by the ORM) and text, read and the
   transaction ended: no database transaction stays open while the network is used;
3. send, outside any transaction;
4. record: ``delivered``, ``retrying`` with exponential backoff, ``failed`` (permanent error or
   too many attempts) or ``cancelled`` (the notice was declined, timed out or withdrawn),
   written only if the claim is still ours (status ``sending`` and the same ``attempts``).

Logs and ``last_error`` carry the delivery id, channel and an error code, never an address or
a phone number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from .. import clock
from ..domain.notice_text import (
    NoticeContent,
    render,
    render_withdrawal,
    sms_text,
    sms_withdrawal,
)
from ..extensions import db
from ..logfmt import event
from ..models import Delivery, Expert, Notice, User
from .channels import Channel, DeliveryFailed, configured_channels, enabled_channels
from .notice_content import NoticeDataError, notice_content_for

log = logging.getLogger("expertdraw.delivery")
DELIVERIES = Delivery.__table__

DUE_STATUSES = ("queued", "retrying")
CLOSED_NOTICE_STATUSES = ("declined", "timeout", "withdrawn")
DEFAULT_CHANNELS = ("email", "sms")

__all__ = [
    "BACKOFF",
    "Backoff",
    "deliver_due",
    "delivery_state",
    "notice_content_for",
    "queue_deliveries",
    "queue_withdrawals",
]


@dataclass(frozen=True)
class Backoff:
    """Retry timing: ``first`` after the first failure, doubling up to ``cap``."""

    first: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=15)
    max_attempts: int = 8
    claim_timeout: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1-based)."""
        return min(self.first * 2 ** max(attempts - 1, 0), self.cap)


BACKOFF = Backoff()


class _Cancelled(Exception):
    """The notice no longer wants delivering; the message is the reason code."""


@dataclass(frozen=True)
class _Outgoing:
    """One claimed delivery, ready to send: plain values only, no ORM objects."""

    channel: str
    recipient: str
    subject: str
    body: str


def queue_deliveries(
    notice: Notice,
    channels: Iterable[str] = DEFAULT_CHANNELS,
    *,
    now: datetime | None = None,
    config: Mapping[str, Any] | None = None,
    new: bool = False,
    expert: Expert | None = None,
) -> list[Delivery]:
    """Add the delivery rows of a new notice to the session (the caller commits).

    The inbox always, delivered at once (the notice row is the inbox message); of the
    requested ``channels``: ``email`` when SMTP is configured and the expert has an address,
    ``sms`` / ``voice`` when the gateway is configured and the expert has a phone. Rows are
    due at ``now`` (default: the notice's ``sent_at``). Channels the notice already has are
    skipped, so calling again is harmless (``new``: the caller has just created the notice,
    so it has none and there is nothing to look up; ``expert``: the notice's expert, when
    the caller has it loaded). Returns the rows added.
    Raises ValueError for an unknown channel name.
    """
    wanted = set(channels)
    unknown = wanted - {"inbox", "email", "sms", "voice"}
    if unknown:
        raise ValueError(f"unknown delivery channel(s): {sorted(unknown)}")
    enabled = enabled_channels(current_app.config if config is None else config)
    when = now or notice.sent_at
    if not new:
        db.session.flush()  # the notice row exists before rows that refer to it
    if expert is None or expert.id != notice.expert_id:
        expert = db.session.get(Expert, notice.expert_id)
    if expert is None:
        raise ValueError(f"notice {notice.id} names no known expert")
    existing = set() if new else set(delivery_state(notice.id))
    added = [
        Delivery(**row) for row in delivery_rows(notice.id, expert, when, wanted, enabled, existing)
    ]
    db.session.add_all(added)
    if not new:
        db.session.flush()
    return added


class Addressed(Protocol):
    """Whatever carries an expert's delivery addresses: an ``Expert``, or a row of them."""

    @property
    def email(self) -> str | None: ...

    @property
    def phone(self) -> str | None: ...


def delivery_rows(
    notice_id: str,
    expert: Addressed,
    when: datetime,
    wanted: Iterable[str] = DEFAULT_CHANNELS,
    enabled: Iterable[str] | None = None,
    existing: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The delivery rows of a notice, as column values (every row with the same columns, so
    that many notices' rows go in one statement): the inbox, delivered at ``when``, and each
    channel ``wanted`` and ``enabled`` (default: by the app's configuration) that the expert
    has an address for, queued for ``when``; none for the channels ``existing``."""
    wanted, existing = set(wanted), set(existing)
    enabled = set(enabled_channels(current_app.config) if enabled is None else enabled)
    addresses = {"email": expert.email, "sms": expert.phone, "voice": expert.phone}
    rows = []
    if "inbox" not in existing:
        rows.append(_delivery_row(notice_id, "inbox", "delivered", 1, None, when))
    for channel in ("email", "sms", "voice"):
        wanted_here = channel in wanted and channel in enabled and channel not in existing
        if wanted_here and addresses[channel]:
            rows.append(_delivery_row(notice_id, channel, "queued", 0, when, None))
    return rows


def _delivery_row(
    notice_id: str,
    channel: str,
    status: str,
    attempts: int,
    next_attempt_at: datetime | None,
    delivered_at: datetime | None,
    kind: str = "notice",
) -> dict[str, Any]:
    return {
        "notice_id": notice_id,
        "channel": channel,
        "kind": kind,
        "status": status,
        "attempts": attempts,
        "last_error": None,
        "next_attempt_at": next_attempt_at,
        "delivered_at": delivered_at,
        "maybe_taken": delivered_at is not None,
    }


def delivery_state(notice_id: str, kind: str = "notice") -> dict[str, str]:
    """The status of each channel's delivery of a notice (or of its ``withdrawal``), e.g.
    ``{"inbox": "delivered"}``.

    Statuses: queued, sending, retrying, delivered, failed, cancelled.
    """
    rows = db.session.execute(
        sa.select(Delivery.channel, Delivery.status).where(
            Delivery.notice_id == notice_id, Delivery.kind == kind
        )
    )
    return {channel: status for channel, status in rows}


# Failures after which the operator may have taken the message all the same (the answer was
# lost, or came as a server error); a refused connection or a refusal of the message is not.
UNCERTAIN_FAILURES = frozenset(
    {"http:timeout", "http:error", "smtp:timeout", "smtp:disconnected", "smtp:error"}
)


def _may_have_been_taken(error: str | None) -> bool:
    return error in UNCERTAIN_FAILURES or (error or "").startswith("http:5")


def queue_withdrawals(notice_ids: Iterable[str], now: datetime) -> int:
    """Tell the experts of these notices, on each channel that may have brought them the
    notice, that its seat is withdrawn (the caller commits). A channel may have brought it
    once a send was tried: delivered, being sent right now, or failed in a way that leaves it
    open whether the operator took it (a timeout); only a notice never tried needs no such
    message, its delivery being cancelled instead. A withdrawal waits for a send still in
    flight (see :func:`_prepare`). The inbox shows the notice as withdrawn. Returns how many
    messages were queued."""
    ids = list(notice_ids)
    if not ids:
        return 0
    tried = db.session.execute(
        sa.select(
            Delivery.notice_id,
            Delivery.channel,
            Delivery.status,
            Delivery.last_error,
            Delivery.maybe_taken,
        ).where(
            Delivery.notice_id.in_(ids),
            Delivery.kind == "notice",
            Delivery.channel != "inbox",
            Delivery.attempts > 0,
        )
    ).all()
    # Every attempt's outcome counts (``maybe_taken``): refusals only, however many, brought
    # nothing; one delivered or left uncertain may have.
    delivered = [
        (notice_id, channel)
        for notice_id, channel, status, error, maybe_taken in tried
        if maybe_taken or status in ("delivered", "sending") or _may_have_been_taken(error)
    ]
    for notice_id, channel in delivered:
        row = _delivery_row(notice_id, channel, "queued", 0, now, None, kind="withdrawal")
        db.session.add(Delivery(**row))
    return len(delivered)


def deliver_due(
    now: datetime | None = None,
    *,
    channels: Mapping[str, Channel] | None = None,
    limit: int = 100,
    backoff: Backoff = BACKOFF,
) -> int:
    """Send the deliveries due at ``now`` (at most ``limit``); returns how many were tried.

    ``now`` defaults to ``clock.now()``; ``channels`` to those the app's configuration
    enables. Each delivery is claimed, sent and recorded on its own (see the module
    docstring); a delivery another instance claimed first is skipped.
    Raises SQLAlchemyError when the database fails.
    """
    now = now or clock.now()
    if channels is None:
        channels = configured_channels(current_app.config)
    started = clock.now()

    def moment() -> datetime:
        """The run's time now: ``now`` and what the clock has moved since (a frozen clock in
        tests stands still)."""
        return now + (clock.now() - started)

    down: set[str] = set()
    seen: set[int] = set()
    tried = 0
    while tried < limit:
        # The channels found down are left out of the next batch: their deliveries, left due
        # for the next run, must not fill it and keep another channel's notices waiting.
        batch = [(i, ch) for i, ch in _due_ids(now, limit, down) if i not in seen]
        down_before = len(down)
        for delivery_id, channel in batch:
            if tried >= limit:
                break
            if channel in down:
                continue  # left due for the next run: this run found the channel unreachable
            seen.add(delivery_id)
            # Each claim and outcome at its own moment: a run held up by a slow channel must
            # not record late sends as sent at its start, nor let its claims expire as made.
            attempts = _claim(delivery_id, moment(), backoff)
            if attempts is None:
                continue
            tried += 1
            error = _process(delivery_id, attempts, moment, channels, backoff)
            if error in UNREACHABLE:
                down.add(channel)
                log.warning(event("delivery.channel_down", channel=channel, error=error))
        if len(down) == down_before or not batch:
            break
    return tried


#: Failures that say the channel itself (the relay, the gateway) cannot be reached now: the
#: rest of a run leaves that channel's deliveries for the next run, so that a hung relay
#: holds up no other channel's notices behind its timeouts.
UNREACHABLE = frozenset(
    {"smtp:connect", "smtp:timeout", "smtp:disconnected", "http:connect", "http:timeout"}
)


def _due_ids(now: datetime, limit: int, down: Collection[str] = ()) -> list[tuple[int, str]]:
    """Ids and channels of due deliveries, oldest first, outside the channels ``down``;
    includes claims left by a process that died."""
    d = DELIVERIES.c
    due = _due(now) if not down else sa.and_(_due(now), d.channel.not_in(sorted(down)))
    rows = db.session.execute(
        sa.select(d.id, d.channel).where(due).order_by(d.next_attempt_at, d.id).limit(limit)
    ).all()
    db.session.commit()
    return [(delivery_id, channel) for delivery_id, channel in rows]


def _due(now: datetime) -> sa.ColumnElement[bool]:
    d = DELIVERIES.c
    return sa.or_(
        sa.and_(
            d.status.in_(DUE_STATUSES),
            sa.or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now),
        ),
        sa.and_(d.status == "sending", d.next_attempt_at <= now),
    )


def _claim(delivery_id: int, now: datetime, backoff: Backoff) -> int | None:
    """Claim a due delivery; returns its attempt number, or None if it is not ours."""
    d = DELIVERIES.c
    attempts = db.session.execute(
        sa.update(DELIVERIES)
        .where(d.id == delivery_id, _due(now))
        .values(
            status="sending",
            attempts=d.attempts + 1,
            next_attempt_at=now + backoff.claim_timeout,
            # A claim taken over from a process that died mid-send: that send may have gone.
            maybe_taken=sa.or_(d.maybe_taken, d.status == "sending"),
        )
        .returning(d.attempts)
    ).scalar_one_or_none()
    db.session.commit()
    return attempts


def _process(
    delivery_id: int,
    attempts: int,
    moment: Callable[[], datetime],
    channels: Mapping[str, Channel],
    backoff: Backoff,
) -> str | None:
    """Prepare, send and record one claimed delivery, its outcome timed by ``moment()`` when
    the send returns; returns the failure's code (None when sent or cancelled). Database
    errors propagate."""
    try:
        try:
            outgoing = _prepare(delivery_id, moment())
        finally:
            db.session.rollback()  # end the read (nothing was written) before using the network
        channel = channels.get(outgoing.channel)
        if channel is None:
            raise DeliveryFailed("channel:not-configured", retryable=False)
        channel.send(outgoing.recipient, outgoing.subject, outgoing.body, delivery_id=delivery_id)
    except _Cancelled as cancelled:
        status, error, next_at = "cancelled", str(cancelled), None
    except DeliveryFailed as failure:
        status, error, next_at = _failed(failure, attempts, moment(), backoff)
    except SQLAlchemyError:
        raise
    except Exception as exc:  # a bug or an unreadable row: retried, bounded by max_attempts
        failure = DeliveryFailed(f"internal:{type(exc).__name__}", retryable=True)
        status, error, next_at = _failed(failure, attempts, moment(), backoff)
    else:
        status, error, next_at = "delivered", None, None
    _record(delivery_id, attempts, moment(), status, error, next_at)
    return error if status in ("retrying", "failed") else None


def _failed(
    failure: DeliveryFailed, attempts: int, now: datetime, backoff: Backoff
) -> tuple[str, str, datetime | None]:
    """Status, error and next attempt after a failed attempt."""
    if failure.retryable and attempts < backoff.max_attempts:
        return "retrying", failure.message, now + backoff.delay(attempts)
    return "failed", failure.message, None


def _prepare(delivery_id: int, now: datetime) -> _Outgoing:
    """Recipient and text of a delivery sent at ``now``. Raises _Cancelled or DeliveryFailed
    (permanent)."""
    delivery = db.session.get(Delivery, delivery_id)
    # Read with a share lock (PostgreSQL): a replacement withdrawing this notice holds the
    # row until it commits, and it decides on withdrawals from the attempts it sees; read
    # before that commit, the notice would go out with no withdrawal ever queued after it.
    notice = (
        db.session.scalar(
            sa.select(Notice)
            .where(Notice.id == delivery.notice_id)
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
        if delivery
        else None
    )
    if delivery is None or notice is None:
        raise DeliveryFailed("data:missing", retryable=False)
    withdrawal = delivery.kind == "withdrawal"
    if notice.status in CLOSED_NOTICE_STATUSES and not withdrawal:
        raise _Cancelled(f"notice:{notice.status}")
    if not withdrawal and notice.due_at is not None and notice.due_at <= now:
        # Past its answer deadline the notice can no longer be answered: it is a timeout
        # (rules.md), which the timeout job records and replaces, not a seat to offer.
        raise _Cancelled("notice:past-due")
    if withdrawal and _notice_in_flight(delivery.notice_id, delivery.channel):
        # Sent now, the withdrawal could reach the expert before the notice it withdraws.
        raise DeliveryFailed("withdrawal:notice-in-flight", retryable=True)
    if delivery.channel == "inbox":
        return _Outgoing("inbox", "", "", "")
    expert = db.session.get(Expert, notice.expert_id)
    recipient = None
    if expert is not None:
        recipient = expert.email if delivery.channel == "email" else expert.phone
    if not recipient:
        raise DeliveryFailed("recipient:missing", retryable=False)
    try:
        content: NoticeContent = notice_content_for(notice)
    except NoticeDataError as exc:
        raise DeliveryFailed(exc.code, retryable=False) from None
    lang = _language(notice.expert_id)
    if delivery.channel == "email":
        subject, body = (render_withdrawal if withdrawal else render)(content, lang)
    else:
        subject, body = "", (sms_withdrawal if withdrawal else sms_text)(content, lang)
    return _Outgoing(delivery.channel, recipient, subject, body)


def _notice_in_flight(notice_id: str, channel: str) -> bool:
    """Whether the notice's own delivery on ``channel`` is being sent right now."""
    return (
        db.session.scalar(
            sa.select(Delivery.status).where(
                Delivery.notice_id == notice_id,
                Delivery.channel == channel,
                Delivery.kind == "notice",
            )
        )
        == "sending"
    )


def _language(expert_id: int) -> str:
    """The expert's notice language: English when their account says so, else Chinese."""
    language = db.session.scalar(
        sa.select(User.language).where(User.expert_id == expert_id).limit(1)
    )
    return "en" if language and language.lower().startswith("en") else "zh"


def _record(
    delivery_id: int,
    attempts: int,
    now: datetime,
    status: str,
    error: str | None,
    next_at: datetime | None,
) -> None:
    """Write the outcome if the claim (status ``sending``, same ``attempts``) is still ours."""
    d = DELIVERIES.c
    values: dict[str, Any] = {"status": status, "last_error": error, "next_attempt_at": next_at}
    if status == "delivered":
        values["delivered_at"] = now
    if status == "delivered" or _may_have_been_taken(error):
        values["maybe_taken"] = True
    channel = db.session.execute(
        sa.update(DELIVERIES)
        .where(d.id == delivery_id, d.status == "sending", d.attempts == attempts)
        .values(**values)
        .returning(d.channel)
    ).scalar_one_or_none()
    db.session.commit()
    if channel is None:
        log.warning(event("delivery.superseded", delivery=delivery_id, attempt=attempts))
        return
    fields = {"delivery": delivery_id, "channel": channel, "attempt": attempts}
    if status == "delivered":
        log.info(event("delivery.delivered", **fields))
    elif status == "retrying":
        log.warning(event("delivery.retrying", **fields, error=error, next_attempt_at=next_at))
    else:
        log.warning(event(f"delivery.{status}", **fields, error=error))
