"""E-mail through an SMTP relay: one UTF-8 plain-text message per notice.

The relay is the trading centre's own (``EXPERTDRAW_SMTP_HOST``/``_PORT``). A notice carries a
check-in code, so the connection is upgraded by STARTTLS, its certificate verified (against
the system's authorities or ``EXPERTDRAW_SMTP_CA_FILE``): always with ``tls = "starttls"``
(a relay that does not offer it fails the delivery for good), whenever the relay offers it
with ``"auto"``, never with ``"none"`` (a relay on the same host). A user name and password,
when set, are sent only over TLS. Every connection has a timeout so a hung relay cannot stall
the delivery job. SMTP replies map to retry decisions by their class: 4xx is temporary, 5xx is
permanent; connection problems are temporary. Once the relay has accepted the message, what
it answers to QUIT no longer matters: the notice is delivered (a failure then would send it
again).
"""

from __future__ import annotations

import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from . import DeliveryFailed

DEFAULT_TIMEOUT = 15.0
TLS_MODES = ("starttls", "auto", "none")


def _code_failure(code: int) -> DeliveryFailed:
    """A failure from an SMTP reply code: 4xx may pass, anything else will not."""
    return DeliveryFailed(f"smtp:{code}", retryable=400 <= code < 500)


def ascii_domain(address: str) -> str:
    """``address`` with its domain in ASCII (IDNA): ``zhang@例子.中国`` is plain SMTP as
    ``zhang@xn--fsqu00a.xn--fiqs8s``; only a mailbox name that is not ASCII needs a relay
    that offers SMTPUTF8.

    Raises DeliveryFailed (not retryable) for a domain IDNA cannot write.
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise DeliveryFailed("email:bad-address", retryable=False) from None


class EmailChannel:
    """Sends notices by SMTP from ``sender``."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "expertdraw@localhost",
        timeout: float = DEFAULT_TIMEOUT,
        *,
        tls: str = "auto",
        ca_file: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"tls is one of {', '.join(TLS_MODES)}")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        self.tls = tls
        self.ca_file = ca_file
        self.username = username
        self.password = password

    def message(
        self, recipient: str, subject: str, body: str, delivery_id: int | None = None
    ) -> EmailMessage:
        """The MIME message: UTF-8 text, with a random Message-ID.

        Raises DeliveryFailed (not retryable) when a header value is malformed.
        """
        msg = EmailMessage()
        try:
            msg["From"] = self.sender
            msg["To"] = recipient
            msg["Subject"] = subject
        except (ValueError, TypeError):
            raise DeliveryFailed("email:bad-header", retryable=False) from None
        msg["Date"] = formatdate(usegmt=True)
        domain = self.sender.rpartition("@")[2] or "localhost"
        # Random: not the delivery's number, nor the sending process and time (make_msgid's),
        # by which the members of one committee could recognise each other's messages.
        msg["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body, charset="utf-8")
        return msg

    def send(
        self, recipient: str, subject: str, body: str, *, delivery_id: int | None = None
    ) -> None:
        """Hand the message to the relay.

        Raises DeliveryFailed: ``smtp:<code>`` for a refusal (retryable for 4xx),
        ``smtp:timeout``, ``smtp:connect`` or ``smtp:disconnected`` (retryable).
        """
        to = ascii_domain(recipient)
        msg = self.message(to, subject, body, delivery_id)
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                self._secure(smtp)
                if not to.isascii() and not smtp.has_extn("smtputf8"):
                    # A mailbox name that is not ASCII travels only over SMTPUTF8.
                    raise DeliveryFailed("smtp:no-smtputf8", retryable=False)
                # The one recipient named: never the list a To header might parse into.
                smtp.send_message(msg, to_addrs=[to])
            except BaseException:
                smtp.close()
                raise
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()  # accepted already: delivered, whatever QUIT answers
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _code_failure(codes[0] if codes else 550) from None
        except smtplib.SMTPResponseException as exc:
            raise _code_failure(exc.smtp_code) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed("smtp:no-starttls", retryable=False) from None
        except ssl.SSLCertVerificationError:
            raise DeliveryFailed("smtp:tls", retryable=False) from None
        except ssl.SSLError:  # the handshake cut short (a relay restarting): a connection problem
            raise DeliveryFailed("smtp:disconnected", retryable=True) from None
        except smtplib.SMTPServerDisconnected:
            raise DeliveryFailed("smtp:disconnected", retryable=True) from None
        except smtplib.SMTPException:
            raise DeliveryFailed("smtp:error", retryable=True) from None
        except TimeoutError:
            raise DeliveryFailed("smtp:timeout", retryable=True) from None
        except OSError:
            raise DeliveryFailed("smtp:connect", retryable=True) from None

    def _secure(self, smtp: smtplib.SMTP) -> None:
        """STARTTLS as ``tls`` says, then the login if one is set (only over TLS).

        Raises SMTPNotSupportedError when TLS is required (``starttls``, or a login) and the
        relay does not offer it; ssl.SSLError when its certificate does not verify.
        """
        smtp.ehlo()
        offered = smtp.has_extn("starttls")
        if self.tls == "starttls" or (self.tls == "auto" and offered) or self.username:
            if self.tls == "none" and self.username:
                raise smtplib.SMTPNotSupportedError("a login is sent only over TLS")
            context = ssl.create_default_context(cafile=self.ca_file)
            smtp.starttls(context=context)
            smtp.ehlo()
        if self.username:
            # One mechanism, so that a refused password is the relay's 535 (smtplib's login
            # would try the next mechanism, which some relays answer by hanging up).
            smtp.user, smtp.password = self.username, self.password or ""
            offered = (smtp.esmtp_features.get("auth") or "").upper().split()
            if "PLAIN" in offered:
                smtp.auth("PLAIN", smtp.auth_plain)
            else:
                smtp.auth("LOGIN", smtp.auth_login)
