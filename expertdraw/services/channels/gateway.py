"""SMS and voice through the operator's HTTP gateway, signed with HMAC-SHA256.

Each call is one JSON POST::

    {"to": "+86...", "text": "...", "kind": "sms" | "voice", "id": <delivery id>, "ts": <unix s>}

with ``X-Expertdraw-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` and
``X-Expertdraw-Timestamp: <ts>``. The timestamp is inside the signed body too, so the gateway
can refuse stale or replayed calls; ``id`` lets it recognise a retry of the same delivery.
The timestamp is real time (not the business clock): it is for the gateway's replay window.

Replies: 2xx delivered; 5xx, 408 and 429 temporary; any other status permanent (a 4xx means
the call itself is wrong and will not improve by repetition). Timeouts and connection errors
are temporary.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import requests

from . import DeliveryFailed

SIGNATURE_HEADER = "X-Expertdraw-Signature"
TIMESTAMP_HEADER = "X-Expertdraw-Timestamp"
KINDS = ("sms", "voice")
RETRYABLE_4XX = frozenset({408, 429})
DEFAULT_TIMEOUT = (5.0, 15.0)  # connect, read (seconds)


def signature(secret: str, raw: bytes) -> str:
    """The signature header value of a request body: ``sha256=<hex>``."""
    digest = hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, raw: bytes, header: str | None) -> bool:
    """Whether ``header`` is the right signature of ``raw`` (constant-time comparison)."""
    return header is not None and hmac.compare_digest(signature(secret, raw), header)


class GatewayChannel:
    """Sends ``kind`` messages (``sms`` or ``voice``) through the gateway at ``url``.

    Raises ValueError for an unknown kind, a URL that is not http(s), or an empty secret.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        kind: str = "sms",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        timestamp: Callable[[], int] = lambda: int(time.time()),
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"gateway kind must be one of {KINDS}, got {kind!r}")
        if not url.startswith(("http://", "https://")):
            raise ValueError("the gateway URL must be http:// or https://")
        if not secret:
            raise ValueError("the gateway needs a signing secret")
        self.url = url
        self.secret = secret
        self.kind = kind
        self.timeout = timeout
        self.timestamp = timestamp

    def request(
        self, recipient: str, text: str, delivery_id: int | None
    ) -> tuple[bytes, dict[str, str]]:
        """The raw JSON body and the headers of one call."""
        ts = self.timestamp()
        payload = {"to": recipient, "text": text, "kind": self.kind, "id": delivery_id, "ts": ts}
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: signature(self.secret, raw),
            TIMESTAMP_HEADER: str(ts),
        }
        return raw, headers

    def send(
        self, recipient: str, subject: str, body: str, *, delivery_id: int | None = None
    ) -> None:
        """POST ``body`` (the short text; ``subject`` is not used) to the gateway.

        Raises DeliveryFailed: ``http:<status>`` (retryable for 5xx, 408, 429),
        ``http:timeout``, ``http:connect`` or ``http:error`` (retryable).
        """
        raw, headers = self.request(recipient, body, delivery_id)
        try:
            # Only the status matters: the body is never read (a gateway answering with a
            # huge or trickling body holds neither memory nor the delivery job).
            response = requests.post(
                self.url,
                data=raw,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            raise DeliveryFailed("http:timeout", retryable=True) from None
        except requests.ConnectionError:
            raise DeliveryFailed("http:connect", retryable=True) from None
        except requests.RequestException:
            raise DeliveryFailed("http:error", retryable=True) from None
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return
        retryable = status >= 500 or status in RETRYABLE_4XX
        raise DeliveryFailed(f"http:{status}", retryable=retryable)
