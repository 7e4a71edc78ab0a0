"""E-mail through an SMTP relay: one UTF-8 plain-text message per notice.

The relay is the trading centre's own (``EXPERTDRAW_SMTP_HOST``/``_PORT``), reached without
authentication; every connection has a timeout so a hung relay cannot stall the delivery job.
SMTP replies map to retry decisions by their class: 4xx is temporary, 5xx is permanent;
connection problems are temporary.
"""

from __future__ import annotations

import secrets
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from . import DeliveryFailed

DEFAULT_TIMEOUT = 15.0


def _code_failure(code: int) -> DeliveryFailed:
    """A failure from an SMTP reply code: 4xx may pass, anything else will not."""
    return DeliveryFailed(f"smtp:{code}", retryable=400 <= code < 500)


class EmailChannel:
    """Sends notices by SMTP from ``sender``."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "expertdraw@localhost",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

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
        msg = self.message(recipient, subject, body, delivery_id)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _code_failure(codes[0] if codes else 550) from None
        except smtplib.SMTPResponseException as exc:
            raise _code_failure(exc.smtp_code) from None
        except smtplib.SMTPServerDisconnected:
            raise DeliveryFailed("smtp:disconnected", retryable=True) from None
        except smtplib.SMTPException:
            raise DeliveryFailed("smtp:error", retryable=True) from None
        except TimeoutError:
            raise DeliveryFailed("smtp:timeout", retryable=True) from None
        except OSError:
            raise DeliveryFailed("smtp:connect", retryable=True) from None
