"""The e-mail relay's transport: STARTTLS as set (the notice carries a check-in code), a login
only over TLS, and a message the relay accepted counted as delivered whatever QUIT answers."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .factories import T0, make_notice
from .test_delivery import SmtpHandler, _deliver_at, _free_port, _row


def _certificate(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (its CA file) and the relay's TLS context."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "relay.pem", folder / "relay.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, private)
    return cert, context


class Recorder(SmtpHandler):
    """Also records whether each message came over TLS, and who logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.over_tls: list[bool] = []
        self.logins: list[str | None] = []

    async def handle_DATA(self, server, session, envelope):
        self.over_tls.append(session.ssl is not None)
        self.logins.append(session.auth_data if session.authenticated else None)
        return await super().handle_DATA(server, session, envelope)


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"notices",
        b"relay-secret",
    )
    if not ok:  # handled=False: the relay answers 535 itself
        return AuthResult(success=False, handled=False)
    return AuthResult(success=True, auth_data=auth_data.login.decode())


@pytest.fixture
def relay(app, tmp_path) -> Iterator[tuple[Recorder, dict]]:
    """A relay offering STARTTLS (and a login over it), with its CA file."""
    cert, context = _certificate(tmp_path)
    handler = Recorder()
    port = _free_port()
    options = {"tls_context": context, "authenticator": _authenticator, "auth_require_tls": True}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    settings = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_FROM": "notices@zt.example",
        "SMTP_CA_FILE": str(cert),
    }
    app.config.update(settings)
    try:
        yield handler, settings
    finally:
        controller.stop()


@pytest.mark.parametrize("tls", ["auto", "starttls"])
def test_a_notice_goes_over_tls_when_the_relay_offers_it(app, relay, tls):
    handler, _ = relay
    app.config["SMTP_TLS"] = tls
    rows = make_notice(deliveries=("email",))
    _deliver_at(T0)
    assert _row(rows.deliveries[0].id).status == "delivered"
    assert rows.notice.check_in_code in handler.messages[0].get_content()
    assert handler.over_tls == [True]


def test_a_login_is_sent_over_tls(app, relay):
    handler, _ = relay
    app.config.update(SMTP_TLS="starttls", SMTP_USERNAME="notices", SMTP_PASSWORD="relay-secret")
    rows = make_notice(deliveries=("email",))
    _deliver_at(T0)
    assert _row(rows.deliveries[0].id).status == "delivered"
    assert handler.logins == ["notices"] and handler.over_tls == [True]


def test_a_wrong_login_fails_the_delivery_for_good(app, relay):
    app.config.update(SMTP_TLS="auto", SMTP_USERNAME="notices", SMTP_PASSWORD="wrong")
    rows = make_notice(deliveries=("email",))
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("failed", "smtp:535")
    assert relay[0].messages == []


def test_a_certificate_that_does_not_verify_fails_the_delivery_for_good(app, relay):
    app.config.update(SMTP_TLS="starttls", SMTP_CA_FILE=None)  # the system's authorities
    rows = make_notice(deliveries=("email",))
    _deliver_at(T0)
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("failed", "smtp:tls")
    assert relay[0].messages == []


def test_starttls_required_of_a_relay_without_it_fails_for_good(app):
    handler = SmtpHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(
        SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="notices@zt.example", SMTP_TLS="starttls"
    )
    try:
        rows = make_notice(deliveries=("email",))
        _deliver_at(T0)
    finally:
        controller.stop()
    row = _row(rows.deliveries[0].id)
    assert (row.status, row.last_error) == ("failed", "smtp:no-starttls")
    assert handler.messages == []


class QuitNot221(SmtpHandler):
    """Accepts the message, then answers QUIT with something other than 221."""

    async def handle_QUIT(self, server, session, envelope):
        return "421 4.3.2 closing"


def test_an_accepted_message_is_delivered_whatever_quit_answers(app):
    handler = QuitNot221()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="notices@zt.example")
    try:
        rows = make_notice(deliveries=("email",))
        _deliver_at(T0)
        _deliver_at(T0 + dt.timedelta(seconds=30))
    finally:
        controller.stop()
    row = _row(rows.deliveries[0].id)
    assert len(handler.messages) == 1
    assert (row.status, row.last_error) == ("delivered", None)


def test_a_relay_hanging_up_during_the_handshake_is_tried_again():
    """A relay restarting mid-handshake is a connection problem (temporary), not a bad
    certificate (permanent)."""
    import socket
    import threading

    from expertdraw.services.channels import DeliveryFailed
    from expertdraw.services.channels.smtp import EmailChannel

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            lines = conn.makefile("rb")
            conn.sendall(b"220 relay.test ESMTP\r\n")
            lines.readline()  # EHLO
            conn.sendall(b"250-relay.test\r\n250 STARTTLS\r\n")
            lines.readline()  # STARTTLS
            conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
            conn.shutdown(socket.SHUT_RDWR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    channel = EmailChannel("127.0.0.1", port, "notices@zt.example", timeout=5, tls="auto")
    with pytest.raises(DeliveryFailed) as failed:
        channel.send("expert@example.cn", "subject", "body")
    thread.join(5)
    assert failed.value.retryable and failed.value.message == "smtp:disconnected"
