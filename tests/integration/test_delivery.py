"""Notice delivery against real servers: an SMTP relay (aiosmtpd) and an HTTP SMS gateway.

Each test runs on SQLite and PostgreSQL. Time is moved with ``expertdraw.clock`` as the
scheduler job would see it; the servers run in threads on free local ports.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Delivery, Notice
from expertdraw.services import delivery
from expertdraw.services.delivery import Backoff, deliver_due, delivery_state, queue_deliveries

from .factories import T0, make_notice

SECRET = "gateway-test-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpHandler:
    """Collects messages; refuses recipients with ``rcpt_reply`` when set."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self.rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted"


@pytest.fixture
def smtp(app) -> Iterator[SmtpHandler]:
    """A real SMTP server; the app is configured to use it."""
    handler = SmtpHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="notices@zt.example")
    try:
        yield handler
    finally:
        controller.stop()


class Gateway:
    """What the fake operator received, and the statuses it will answer with, in order."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.lock = threading.Lock()
        self.url = ""

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def gateway(app) -> Iterator[Gateway]:
    """A real HTTP server acting as the SMS gateway, checking signatures itself."""
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            signature = self.headers.get("X-Expertdraw-Signature", "")
            call = {
                "raw": raw,
                "payload": json.loads(raw),
                "signature_ok": hmac.compare_digest(expected, signature),
                "timestamp": self.headers.get("X-Expertdraw-Timestamp"),
                "content_type": self.headers.get("Content-Type"),
            }
            time.sleep(state.delay)
            status = state.next_status() if call["signature_ok"] else 401
            with state.lock:
                state.calls.append(call)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    app.config.update(SMS_GATEWAY_URL=state.url, SMS_GATEWAY_SECRET=SECRET)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _deliver_at(at: datetime, **kwargs: Any) -> int:
    """Run the job as the scheduler would, with the clock at ``at``."""
    with clock.frozen(at):
        return deliver_due(clock.now(), **kwargs)


def _row(delivery_id: int) -> Delivery:
    db.session.expire_all()
    row = db.session.get(Delivery, delivery_id)
    assert row is not None
    return row


def _text(message: EmailMessage) -> str:
    return str(message["Subject"]) + "\n" + message.get_content()


def test_email_notice_arrives_with_the_anonymous_text_only(app, smtp):
    rows = make_notice(deliveries=("email",))

    assert _deliver_at(T0) == 1

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert smtp.envelopes[0].rcpt_tos == ["expert1@experts.example.cn"]
    assert message["From"] == "notices@zt.example"
    assert message.get_content_charset() == "utf-8"
    text = _text(message)
    for shown in (
        rows.notice.check_in_code,
        rows.member.workstation_id,
        rows.member.room_id,
        rows.venue.address,
        rows.venue.name,
        "A01 房屋建筑工程",
        "2026年12月3日",
        "10:00–18:00",
    ):
        assert shown in text
    for hidden in rows.secrets_for(0):
        assert hidden not in text, hidden
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.attempts, row.delivered_at, row.last_error) == (
        "delivered",
        1,
        T0,
        None,
    )
    assert _deliver_at(T0 + timedelta(hours=1)) == 0
    assert len(smtp.messages) == 1


def test_email_is_in_english_for_an_expert_who_chose_english(app, smtp):
    make_notice(deliveries=("email",), language="en")
    _deliver_at(T0)
    text = _text(smtp.messages[0])
    assert "Check-in code: K0001-Q9X4R" in text
    assert "Thursday 3 December 2026" in text


def test_a_refused_recipient_fails_without_retry_and_without_the_address(app, smtp, caplog):
    smtp.rcpt_reply = "550 5.1.1 <expert1@experts.example.cn>: mailbox unavailable"
    rows = make_notice(deliveries=("email",))
    with caplog.at_level(logging.INFO, logger="expertdraw.delivery"):
        _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
        "failed",
        1,
        "smtp:550",
        None,
    )
    assert "expert1@" not in caplog.text
    assert f"delivery={row.id}" in caplog.text
    assert _deliver_at(T0 + timedelta(hours=1)) == 0


def test_a_temporary_smtp_refusal_is_retried(app, smtp):
    smtp.rcpt_reply = "451 4.3.0 try again later"
    rows = make_notice(deliveries=("email",))
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error, row.next_attempt_at) == (
        "retrying",
        "smtp:451",
        T0 + timedelta(seconds=30),
    )
    smtp.rcpt_reply = None
    _deliver_at(T0 + timedelta(seconds=30))
    assert _row(row.id).status == "delivered"
    assert len(smtp.messages) == 1


def test_an_unreachable_relay_is_retried(app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port())
    rows = make_notice(deliveries=("email",))
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.attempts, row.last_error) == ("retrying", 1, "smtp:connect")


def test_sms_is_retried_with_backoff_until_the_gateway_accepts(app, gateway, caplog):
    gateway.statuses = [503, 503]
    rows = make_notice(deliveries=("sms",))
    delivery_id = rows.deliveries[0].id

    with caplog.at_level(logging.INFO, logger="expertdraw.delivery"):
        assert _deliver_at(T0) == 1
        row = _row(delivery_id)
        assert (row.status, row.attempts, row.last_error) == ("retrying", 1, "http:503")
        assert row.next_attempt_at == T0 + timedelta(seconds=30)

        assert _deliver_at(T0 + timedelta(seconds=29)) == 0
        assert _deliver_at(T0 + timedelta(seconds=30)) == 1
        row = _row(delivery_id)
        assert (row.status, row.attempts) == ("retrying", 2)
        assert row.next_attempt_at == T0 + timedelta(seconds=90)

        assert _deliver_at(T0 + timedelta(seconds=89)) == 0
        assert _deliver_at(T0 + timedelta(seconds=90)) == 1

    row = _row(delivery_id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
        "delivered",
        3,
        None,
        None,
    )
    assert row.delivered_at == T0 + timedelta(seconds=90)
    assert len(gateway.calls) == 3
    for call in gateway.calls:
        payload = call["payload"]
        assert call["signature_ok"]
        assert call["timestamp"] == str(payload["ts"])
        assert abs(payload["ts"] - time.time()) < 60  # real time, for the replay window
        assert call["content_type"].startswith("application/json")
        assert (payload["to"], payload["kind"], payload["id"]) == ("13987012345", "sms", row.id)
        assert rows.notice.check_in_code in payload["text"]
        assert rows.member.workstation_id in payload["text"]
        assert len(payload["text"]) <= 140
        for hidden in rows.secrets_for(0):
            assert hidden not in payload["text"], hidden
    assert "13987012345" not in caplog.text


def test_a_client_error_from_the_gateway_fails_without_retry(app, gateway):
    gateway.statuses = [400]
    rows = make_notice(deliveries=("sms",))
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
        "failed",
        1,
        "http:400",
        None,
    )
    assert _deliver_at(T0 + timedelta(hours=1)) == 0
    assert len(gateway.calls) == 1


def test_a_bad_signature_is_refused_by_the_gateway_and_not_retried(app, gateway):
    app.config["SMS_GATEWAY_SECRET"] = "not-the-operators-secret"
    rows = make_notice(deliveries=("sms",))
    _deliver_at(T0)
    assert not gateway.calls[0]["signature_ok"]
    assert _row(rows.deliveries[0].id).last_error == "http:401"


def test_retries_stop_after_the_last_attempt(app, gateway):
    gateway.statuses = [503] * 10
    rows = make_notice(deliveries=("voice",))
    backoff = Backoff(max_attempts=2)
    _deliver_at(T0, backoff=backoff)
    _deliver_at(T0 + timedelta(seconds=30), backoff=backoff)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "http:503")
    assert gateway.calls[0]["payload"]["kind"] == "voice"


def test_an_unreachable_gateway_is_retried(app):
    app.config.update(
        SMS_GATEWAY_URL=f"http://127.0.0.1:{_free_port()}/send", SMS_GATEWAY_SECRET=SECRET
    )
    rows = make_notice(deliveries=("sms",))
    _deliver_at(T0)
    assert (_row(rows.deliveries[0].id).status, _row(rows.deliveries[0].id).last_error) == (
        "retrying",
        "http:connect",
    )


def test_two_instances_never_send_the_same_delivery_twice(app, gateway):
    gateway.delay = 0.05
    rows = make_notice(members=6, deliveries=("sms",), deliveries_for_all=True)
    results: list[int] = []
    errors: list[BaseException] = []

    def instance() -> None:
        try:
            with app.app_context():
                results.append(deliver_due(T0))
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(results) == 6
    ids = sorted(call["payload"]["id"] for call in gateway.calls)
    assert ids == sorted(d.id for d in rows.deliveries)
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(Delivery.status))) == {"delivered"}


def test_a_claim_left_by_a_dead_instance_is_taken_over_after_the_claim_timeout(app, gateway):
    rows = make_notice(deliveries=("sms",))
    delivery_id = rows.deliveries[0].id
    db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status="sending", attempts=1, next_attempt_at=T0 + timedelta(minutes=10))
    )
    db.session.commit()
    assert _deliver_at(T0 + timedelta(minutes=5)) == 0
    assert _deliver_at(T0 + timedelta(minutes=10)) == 1
    row = _row(delivery_id)
    assert (row.status, row.attempts) == ("delivered", 2)


def test_a_withdrawn_notice_is_not_sent(app, gateway):
    rows = make_notice(deliveries=("sms",))
    db.session.get(Notice, rows.notice.id).status = "withdrawn"
    db.session.commit()
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("cancelled", "notice:withdrawn")
    assert gateway.calls == []


def test_a_queued_inbox_delivery_is_delivered_without_sending(app):
    rows = make_notice(deliveries=("inbox",))
    assert _deliver_at(T0) == 1
    assert delivery_state(rows.notice.id) == {"inbox": "delivered"}


def test_queue_deliveries_uses_the_configured_channels_the_expert_can_receive(app):
    rows = make_notice(deliveries=(), phone=None)
    app.config.update(SMTP_HOST="127.0.0.1", SMS_GATEWAY_URL="http://127.0.0.1:9/send")
    app.config["SMS_GATEWAY_SECRET"] = SECRET
    added = queue_deliveries(rows.notice, ("email", "sms", "voice"))
    db.session.commit()
    assert {d.channel for d in added} == {"inbox", "email"}  # no phone: no sms, no voice
    assert delivery_state(rows.notice.id) == {"inbox": "delivered", "email": "queued"}
    email_row = next(d for d in added if d.channel == "email")
    assert email_row.next_attempt_at == rows.notice.sent_at
    assert queue_deliveries(rows.notice, ("email",)) == []


def test_queue_deliveries_without_gateways_queues_the_inbox_only(app):
    rows = make_notice(deliveries=())
    app.config.update(SMTP_HOST=None, SMS_GATEWAY_URL=None)
    queue_deliveries(rows.notice)
    db.session.commit()
    assert delivery_state(rows.notice.id) == {"inbox": "delivered"}
    other = rows.notices[1]
    app.config.update(SMS_GATEWAY_URL="http://127.0.0.1:9/send", SMS_GATEWAY_SECRET=None)
    queue_deliveries(other)  # a gateway without a signing secret is never used
    assert delivery_state(other.id) == {"inbox": "delivered"}
    with pytest.raises(ValueError):
        queue_deliveries(rows.notice, ("fax",))


def test_notice_content_comes_from_the_member_seat_and_stratum(app):
    rows = make_notice(deliveries=())
    content = delivery.notice_content_for(rows.notice)
    assert (content.venue_address, content.room_id, content.workstation_id) == (
        rows.venue.address,
        "V530602-R01",
        "V530602-R01-W01",
    )
    assert (content.specialty_code, content.specialty_name) == ("A01", "房屋建筑工程")
    assert (content.window_start, content.response_due) == (
        rows.project.window_start,
        rows.notice.due_at,
    )
    assert content.check_in_code == "K0001-Q9X4R"


def test_an_inconsistent_seat_fails_the_delivery_permanently(app, gateway):
    rows = make_notice(deliveries=("sms",))
    member = rows.members[0]
    member.room_id = "V530602-R02"  # the workstation belongs to R01
    db.session.commit()
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("failed", "data:seat")
    assert gateway.calls == []


def test_a_channel_that_is_no_longer_configured_fails_the_delivery(app):
    app.config.update(SMTP_HOST=None)
    rows = make_notice(deliveries=("email",))
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("failed", "channel:not-configured")


class BrokenChannel:
    """A channel with a bug: the error text holds a phone number, which must not be kept."""

    def send(self, recipient: str, subject: str, body: str, *, delivery_id: int | None = None):
        raise RuntimeError(f"cannot reach {recipient}")


def test_an_unexpected_channel_error_is_retried_without_its_message(app, caplog):
    rows = make_notice(deliveries=("sms",))
    with caplog.at_level(logging.INFO, logger="expertdraw.delivery"):
        _deliver_at(T0, channels={"sms": BrokenChannel()})
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("retrying", "internal:RuntimeError")
    assert "13987012345" not in caplog.text


def test_a_withdrawn_seat_is_announced_where_the_notice_was(app, smtp, gateway):
    """An expert told of a seat by e-mail and SMS is told on both when it is withdrawn (a
    conflict found later, a suspension), with nothing about the project; a notice that was
    never delivered is only cancelled."""
    from expertdraw.services import replacements

    rows = make_notice(deliveries=("email", "sms"), deliveries_for_all=True)
    later = T0 + timedelta(hours=1)
    assert _deliver_at(T0) == 6  # three notices, e-mail and SMS each
    calls = len(gateway.calls)
    db.session.get(Notice, rows.notices[1].id).status = "accepted"
    replacements._release(db.session.get(type(rows.member), rows.member.id), "ineligible", later)
    db.session.commit()
    assert delivery_state(rows.notice.id, "withdrawal") == {"email": "queued", "sms": "queued"}
    assert _deliver_at(later) == 2
    message = smtp.messages[-1]
    text = _text(message)
    assert "评标安排撤销通知" in text and rows.notice.id in text
    assert rows.member.workstation_id in text and "签到码作废" in text
    for hidden in rows.secrets_for(0):
        assert hidden not in text, hidden
    assert "评标撤销" in json.dumps(gateway.calls[calls]["payload"], ensure_ascii=False)
    assert delivery_state(rows.notice.id, "withdrawal") == {
        "email": "delivered",
        "sms": "delivered",
    }
    assert delivery_state(rows.notices[1].id, "withdrawal") == {}  # its member is still seated


def test_a_notice_withdrawn_before_it_was_delivered_needs_no_withdrawal(app, gateway):
    from expertdraw.services import replacements

    rows = make_notice(deliveries=("sms",))
    replacements._release(db.session.get(type(rows.member), rows.member.id), "ineligible", T0)
    db.session.commit()
    assert _deliver_at(T0) == 1
    assert delivery_state(rows.notice.id) == {"sms": "cancelled"}
    assert delivery_state(rows.notice.id, "withdrawal") == {}
    assert gateway.calls == []


def _status_now(delivery_id: int) -> str:
    """A delivery's status as committed, read on a connection of its own."""
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(Delivery.status).where(Delivery.id == delivery_id)
        ).scalar_one()


def test_a_seat_withdrawn_while_its_notice_is_being_sent_is_withdrawn_after_it(app, gateway):
    """The notice is at the gateway when its seat is withdrawn: it arrives all the same, so
    the expert must be told of the withdrawal too, and after the notice, never before."""
    from expertdraw.models import Member
    from expertdraw.services import replacements

    rows = make_notice(deliveries=("sms",))
    sms_id, member_id, notice_id = rows.deliveries[0].id, rows.member.id, rows.notice.id
    db.session.rollback()  # SQLite: hold no lock while the job runs
    gateway.delay = 1.5

    def job() -> None:
        with app.app_context():
            with clock.frozen(T0):
                deliver_due(clock.now())
            db.session.remove()

    sending = threading.Thread(target=job)
    sending.start()
    deadline = time.monotonic() + 10
    while _status_now(sms_id) != "sending":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # the request is at the gateway now
    replacements._release(db.session.get(Member, member_id), "ineligible", T0)
    db.session.commit()
    assert delivery_state(notice_id, "withdrawal") == {"sms": "queued"}
    db.session.rollback()  # SQLite: the sender must be able to record its outcome
    sending.join(timeout=30)
    gateway.delay = 0.0
    db.session.expire_all()
    assert delivery_state(notice_id) == {"sms": "delivered"}
    for minutes in (1, 5):
        with clock.frozen(T0 + timedelta(minutes=minutes)):
            deliver_due(clock.now())
    texts = [json.dumps(call["payload"], ensure_ascii=False) for call in gateway.calls]
    assert len(texts) == 2 and "评标撤销" not in texts[0] and "评标撤销" in texts[1]
    assert delivery_state(notice_id, "withdrawal") == {"sms": "delivered"}


def test_a_withdrawal_waits_while_its_notice_is_in_flight(app, gateway):
    """Sent at once, the withdrawal could reach the phone before the notice it withdraws."""
    rows = make_notice(deliveries=("sms",))
    notice, sms = rows.notice, rows.deliveries[0]
    sms.status, sms.attempts = "sending", 1
    sms.next_attempt_at = T0 + timedelta(minutes=10)  # claimed by a sender still at work
    notice.status = "withdrawn"
    delivery.queue_withdrawals([notice.id], T0)
    db.session.commit()
    with clock.frozen(T0):
        deliver_due(clock.now())
    assert gateway.calls == []
    db.session.expire_all()
    withdrawal = db.session.scalar(
        sa.select(Delivery).where(Delivery.notice_id == notice.id, Delivery.kind == "withdrawal")
    )
    assert (withdrawal.status, withdrawal.last_error) == (
        "retrying",
        "withdrawal:notice-in-flight",
    )


class _HungRelay:
    """An SMTP server that takes the envelope and never answers the end of DATA."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        await asyncio.sleep(30)
        return "250 OK"


def test_a_hung_relay_holds_up_no_other_channel(app, gateway):
    """Once the relay is found unreachable in a run, that run leaves the other e-mails for
    the next one instead of waiting out each one's timeout; every SMS goes at once, and each
    outcome is recorded at the time it happened, not the run's start."""
    from expertdraw.services.channels import InboxChannel
    from expertdraw.services.channels.gateway import GatewayChannel
    from expertdraw.services.channels.smtp import EmailChannel

    port = _free_port()
    controller = Controller(_HungRelay(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        rows = make_notice(members=3, deliveries=("email", "sms"), deliveries_for_all=True)
        db.session.rollback()
        channels = {
            "inbox": InboxChannel(),
            "email": EmailChannel("127.0.0.1", port, timeout=1.0),
            "sms": GatewayChannel(url=gateway.url, secret=SECRET, kind="sms"),
        }
        started = time.monotonic()
        tried = deliver_due(T0, channels=channels)
        took = time.monotonic() - started
    finally:
        controller.stop()
    assert took < 5 and tried == 4  # one e-mail tried, the three SMS
    db.session.expire_all()
    by_channel: dict[str, list[Delivery]] = {}
    for row in rows.deliveries:
        by_channel.setdefault(row.channel, []).append(db.session.get(Delivery, row.id))
    assert [d.status for d in by_channel["sms"]] == ["delivered"] * 3
    emails = sorted(by_channel["email"], key=lambda d: d.id)
    assert emails[0].status == "retrying" and emails[0].last_error in delivery.UNREACHABLE
    assert [(d.status, d.attempts) for d in emails[1:]] == [("queued", 0)] * 2
    assert len(gateway.calls) == 3


def test_a_notice_past_its_answer_deadline_is_not_sent(app, smtp):
    """rules.md: a delivery still failing past the response window counts as a timeout. A
    retry due just after the deadline (before the timeout job ran) sends nothing."""
    rows = make_notice(deliveries=("email",))
    row = _row(rows.deliveries[0].id)
    row.status, row.attempts, row.next_attempt_at = "retrying", 5, rows.notice.due_at
    db.session.commit()
    _deliver_at(rows.notice.due_at + timedelta(seconds=10))
    assert smtp.messages == []
    assert (_row(rows.deliveries[0].id).status, _row(rows.deliveries[0].id).last_error) == (
        "cancelled",
        "notice:past-due",
    )


def test_message_ids_are_random(app, smtp):
    """The members of one committee get deliveries numbered in a row: their e-mails' headers
    must not carry those numbers, nor anything else they share."""
    make_notice(members=3, deliveries=("email",), deliveries_for_all=True)
    _deliver_at(T0)
    ids = [str(message["Message-ID"]) for message in smtp.messages]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(re.fullmatch(r"<[0-9a-f]{32}@zt\.example>", value) for value in ids), ids


def test_notices_are_written_in_the_centres_time(app, smtp):
    app.config["REPORT_TIMEZONE"] = "Asia/Urumqi"
    app.config["ELIGIBILITY_RULES"] = {"utc_offset": "+06:00"}
    make_notice(deliveries=("email",))
    _deliver_at(T0)
    text = _text(smtp.messages[0])
    assert "08:00–16:00" in text and "UTC+06:00" in text and "北京时间" not in text


def test_a_withdrawal_goes_only_where_the_notice_may_have_arrived(app, smtp):
    """A relay that refused the notice outright brought nothing: no withdrawal there; one
    whose answer was lost (a timeout) may have, so it gets one."""
    refused = make_notice(deliveries=("email",))
    smtp.rcpt_reply = "550 5.1.1 mailbox unavailable"
    _deliver_at(T0)
    assert _row(refused.deliveries[0].id).last_error == "smtp:550"
    assert delivery.queue_withdrawals([refused.notice.id], T0 + timedelta(minutes=5)) == 0
    row = _row(refused.deliveries[0].id)
    row.status, row.last_error = "retrying", "smtp:timeout"
    assert delivery.queue_withdrawals([refused.notice.id], T0 + timedelta(minutes=5)) == 1
    db.session.rollback()


def test_a_channel_that_may_have_brought_the_notice_once_gets_the_withdrawal(app, gateway):
    """The row keeps only the last attempt's error: after a 503 (the operator may have taken
    the SMS) and then a 400, or a retry cancelled past the deadline, the withdrawal is sent."""
    from expertdraw.models import Member
    from expertdraw.services import replacements

    first = make_notice(deliveries=("sms",))
    gateway.statuses = [503, 400]
    _deliver_at(T0)
    _deliver_at(T0 + timedelta(minutes=1))
    assert (_row(first.deliveries[0].id).status, _row(first.deliveries[0].id).last_error) == (
        "failed",
        "http:400",
    )
    replacements._release(db.session.get(Member, first.member.id), "ineligible", T0)
    db.session.commit()
    assert delivery_state(first.notice.id, "withdrawal") == {"sms": "queued"}


def test_a_notice_refused_at_its_only_attempt_gets_no_withdrawal(app, gateway):
    from expertdraw.models import Member
    from expertdraw.services import replacements

    rows = make_notice(deliveries=("sms",))
    gateway.statuses = [400]
    _deliver_at(T0)
    replacements._release(db.session.get(Member, rows.member.id), "ineligible", T0)
    db.session.commit()
    assert delivery_state(rows.notice.id, "withdrawal") == {}


def test_a_delivery_failed_for_good_shows_in_the_metrics(app, client, gateway):
    """A refused number fails the SMS for good: the expert has only the inbox, and the notice
    may time out against them; operators see it counted, by channel, kind and status."""
    gateway.statuses = [400]
    rows = make_notice(deliveries=("sms",))
    _deliver_at(T0)
    assert _row(rows.deliveries[0].id).status == "failed"
    text = client.get("/metrics").get_data(as_text=True)
    assert 'expertdraw_deliveries{channel="sms",kind="notice",status="failed"} 1.0' in text
    assert "# TYPE expertdraw_deliveries gauge" in text


def test_a_notice_withdrawn_while_the_job_sends_it_is_not_sent_without_a_withdrawal(
    app, gateway, backend
):
    """A replacement withdraws the notice (not committed yet) while the delivery job claims
    its SMS: the job waits for the replacement's commit and cancels the send; had it sent,
    the expert would never be told the seat is withdrawn (the replacement saw no attempt)."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises the two writers")
    from expertdraw.models import Member
    from expertdraw.services import replacements

    rows = make_notice(deliveries=("sms",))
    notice_id, member_id = rows.notice.id, rows.member.id
    db.session.rollback()
    replacements._release(db.session.get(Member, member_id), "ineligible", T0)  # not committed

    def job() -> None:
        with app.app_context():
            deliver_due(clock.now())
            db.session.remove()

    sender = threading.Thread(target=job)
    with clock.frozen(T0):  # by this thread only: the clock is the process's
        sender.start()
        sender.join(1.5)  # claims the SMS, then waits for the notice the replacement holds
        db.session.commit()
        sender.join(30)
    assert not sender.is_alive()
    sent = [call for call in gateway.calls if "评标抽取" in call["payload"]["text"]]
    db.session.expire_all()
    withdrawals = delivery_state(notice_id, "withdrawal")
    assert sent == [] or withdrawals == {"sms": "queued"}
    assert sent == []  # the job read the notice as withdrawn
    assert _row(rows.deliveries[0].id).status == "cancelled"


def test_a_dead_relay_keeps_no_due_sms_waiting_however_many_emails_are_due(app, gateway):
    """More e-mails due than one run reads, on a relay that is down: the run leaves them for
    the next and reads on, so that a due SMS still goes out in it."""
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port())  # nothing listens
    rows = make_notice(members=101, deliveries=("email",), deliveries_for_all=True)
    sms = Delivery(
        notice_id=rows.notice.id,
        channel="sms",
        status="queued",
        next_attempt_at=T0 + timedelta(seconds=1),
    )
    db.session.add(sms)
    db.session.commit()
    sms_id = sms.id
    db.session.rollback()
    tried = _deliver_at(T0 + timedelta(seconds=5))
    assert (tried, _row(sms_id).status, len(gateway.calls)) == (2, "delivered", 1)


def _relay(smtputf8: bool) -> tuple[Any, Controller, int]:
    handler, port = SmtpHandler(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    return handler, controller, port


def test_an_address_at_a_unicode_domain_goes_through_a_relay_without_smtputf8(app):
    """An ASCII mailbox at an IDN domain is plain SMTP once the domain is written in IDNA."""
    handler, controller, port = _relay(smtputf8=False)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="notices@zt.example")
    try:
        rows = make_notice(deliveries=("email",), email="zhang@例子.中国")
        _deliver_at(T0)
    finally:
        controller.stop()
    assert _row(rows.deliveries[0].id).status == "delivered"
    assert [e.rcpt_tos for e in handler.envelopes] == [["zhang@xn--fsqu00a.xn--fiqs8s"]]


def test_a_unicode_mailbox_on_a_relay_without_smtputf8_fails_as_that(app):
    handler, controller, port = _relay(smtputf8=False)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="notices@zt.example")
    try:
        rows = make_notice(deliveries=("email",), email="张伟@例子.中国")
        _deliver_at(T0)
    finally:
        controller.stop()
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("failed", "smtp:no-smtputf8")
    assert handler.envelopes == []


def test_a_notice_goes_to_the_one_address_however_its_text_reads(app, smtp):
    """The address is refused at input when it would read as a list; and the channel sends
    to the one address it was given, never to what a To header might parse into."""
    from expertdraw.services.experts import _EMAIL

    assert not _EMAIL.fullmatch("expert1@experts.example.cn,postmaster")
    make_notice(deliveries=("email",), email="expert1@experts.example.cn")
    _deliver_at(T0)
    assert [e.rcpt_tos for e in smtp.envelopes] == [["expert1@experts.example.cn"]]


def _withdraw(rows) -> None:
    from expertdraw.models import Member
    from expertdraw.services import replacements

    replacements._release(db.session.get(Member, rows.member.id), "ineligible", T0)
    db.session.commit()


@pytest.mark.parametrize(
    ("statuses", "withdrawn"),
    [
        ([429, 429], False),  # refused twice: the notice never arrived
        ([503, 429], True),  # the gateway failed on the first: the operator may have taken it
        ([429, 200], True),  # delivered on the second
    ],
)
def test_a_withdrawal_follows_only_a_notice_that_may_have_arrived(
    app, gateway, statuses, withdrawn
):
    rows = make_notice(deliveries=("sms",))
    gateway.statuses = list(statuses)
    _deliver_at(T0)
    _deliver_at(T0 + timedelta(minutes=1))
    assert _row(rows.deliveries[0].id).attempts == 2
    _withdraw(rows)
    _deliver_at(T0 + timedelta(minutes=3))
    texts = [json.dumps(call["payload"], ensure_ascii=False) for call in gateway.calls]
    assert any("撤销" in text for text in texts) is withdrawn, texts
    assert bool(delivery_state(rows.notice.id, "withdrawal")) is withdrawn
