"""Delivery channels of notices: the in-app inbox, e-mail, and the SMS / voice gateway.

A channel sends one text to one recipient and either returns or raises ``DeliveryFailed``
saying whether trying again later may help. Channels know nothing of the database; the
delivery service (``services.delivery``) resolves recipients, renders text and keeps status.

Failure messages are short codes built by the channels themselves (``smtp:550``,
``http:503``, ``http:timeout``), never the text of a server's reply or of an exception, which
may quote an address or a phone number: they go into ``deliveries.last_error`` and the logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

CHANNELS = ("inbox", "email", "sms", "voice")


class DeliveryFailed(Exception):
    """A channel could not deliver; ``retryable`` says whether a later attempt may succeed.

    ``message`` is a short code without personal data (it is stored and logged).
    """

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@runtime_checkable
class Channel(Protocol):
    """Sends one notice text to one recipient (an address or a phone number)."""

    def send(
        self, recipient: str, subject: str, body: str, *, delivery_id: int | None = None
    ) -> None:
        """Deliver ``body`` (and ``subject`` where the channel has one) to ``recipient``.

        ``delivery_id`` lets the far end recognise a retry of the same delivery.
        Raises DeliveryFailed.
        """
        ...


class InboxChannel:
    """The in-app inbox: the notice row is the message, so it is delivered when it exists."""

    def send(
        self, recipient: str, subject: str, body: str, *, delivery_id: int | None = None
    ) -> None:
        """Nothing to transmit: the expert reads the notice in the app."""


def enabled_channels(config: Mapping[str, Any]) -> frozenset[str]:
    """The names of the channels the configuration enables.

    The inbox always; ``email`` when ``SMTP_HOST`` is set; ``sms`` and ``voice`` when both
    ``SMS_GATEWAY_URL`` and ``SMS_GATEWAY_SECRET`` are set (an unsigned gateway is never used).
    """
    names = {"inbox"}
    if config.get("SMTP_HOST"):
        names.add("email")
    if config.get("SMS_GATEWAY_URL") and config.get("SMS_GATEWAY_SECRET"):
        names.update(("sms", "voice"))
    return frozenset(names)


def configured_channels(config: Mapping[str, Any]) -> dict[str, Channel]:
    """The channels ``enabled_channels`` names, built from the configuration.

    Raises ValueError when the gateway URL is not http(s).
    """
    from .gateway import GatewayChannel
    from .smtp import EmailChannel

    enabled = enabled_channels(config)
    channels: dict[str, Channel] = {"inbox": InboxChannel()}
    if "email" in enabled:
        channels["email"] = EmailChannel(
            host=config["SMTP_HOST"],
            port=int(config.get("SMTP_PORT") or 25),
            sender=config.get("SMTP_FROM") or "expertdraw@localhost",
            tls=config.get("SMTP_TLS") or "auto",
            ca_file=config.get("SMTP_CA_FILE"),
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
        )
    if "sms" in enabled:
        for kind in ("sms", "voice"):
            channels[kind] = GatewayChannel(
                url=config["SMS_GATEWAY_URL"], secret=config["SMS_GATEWAY_SECRET"], kind=kind
            )
    return channels


__all__ = [
    "CHANNELS",
    "Channel",
    "DeliveryFailed",
    "InboxChannel",
    "configured_channels",
    "enabled_channels",
]
