"""Where beacon pulses come from: the :class:`BeaconSource` interface, an HTTP implementation
using only ``urllib``, and :func:`pulse_for_announcement`, which fetches, verifies and
time-checks the pulse for an announcement's ``not_before``.

Fetching is off by default: :func:`beacon_source_from_url` returns None when no URL is
configured. Tests use a local ``http.server`` or an in-memory source, never the network.
"""

from __future__ import annotations

import http.client
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from expertdraw.domain.beacon import (
    HEX_PATTERN,
    BeaconError,
    Pulse,
    check_pulse_time,
    parse_pulse,
    verify_pulse,
)

_MAX_RESPONSE = 1 << 20


@runtime_checkable
class BeaconSource(Protocol):
    """Where pulses come from (the NIST service, or a fixture in tests)."""

    def fetch_pulse_at_or_after(self, t: datetime) -> bytes:
        """The JSON bytes of the first pulse at or after ``t``, as served."""
        ...


class HttpBeaconSource:
    """A beacon 2.0 REST service over HTTP(S) with ``urllib``.

    ``base_url`` is e.g. ``https://beacon.nist.gov/beacon/2.0``; pulses are read from
    ``{base_url}/pulse/time/{ms}`` (``ms`` = ``t`` rounded up to the whole minute, in Unix
    milliseconds), certificates from ``{base_url}/certificate/{certificateId}``.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, period_ms: int = 60000) -> None:
        """Raises: BeaconError ``beacon:config`` for a URL that is not http(s)."""
        if not re.match(r"https?://[^/]", base_url):
            raise BeaconError("beacon:config", "beacon URL must be http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.period_ms = period_ms

    def _get(self, path: str) -> bytes:
        request = urllib.request.Request(
            self.base_url + path, headers={"User-Agent": "expertdraw", "Accept": "*/*"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = self._read_within(response, path)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise BeaconError("beacon:fetch", f"GET {path}: HTTP {exc.code}") from None
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise BeaconError("beacon:fetch", f"GET {path} failed: {exc}") from None
        if len(data) > _MAX_RESPONSE:
            raise BeaconError("beacon:fetch", f"GET {path}: response too large")
        return data

    def _read_within(self, response: Any, path: str) -> bytes:
        """The body, read in chunks within three times the timeout in all: the timeout bounds
        each read, and a server sending a byte at a time would otherwise never end."""
        deadline = time.monotonic() + 3 * self.timeout
        chunks: list[bytes] = []
        size = 0
        while size <= _MAX_RESPONSE:
            chunk = response.read1(min(65536, _MAX_RESPONSE + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if time.monotonic() > deadline:
                raise BeaconError("beacon:fetch", f"GET {path}: the response came too slowly")
        return b"".join(chunks)

    def fetch_pulse_at_or_after(self, t: datetime) -> bytes:
        """Raises: BeaconError ``beacon:fetch`` (network / HTTP error), ``beacon:format``
        for a naive ``t``."""
        if t.tzinfo is None:
            raise BeaconError("beacon:format", "t must be timezone-aware")
        micros = (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        step = self.period_ms * 1000
        ms = -(-micros // step) * self.period_ms  # rounded up to a whole period
        return self._get(f"/pulse/time/{ms}")

    def fetch_certificate(self, certificate_id: str) -> bytes:
        """The PEM certificate for ``certificate_id``.

        Raises: BeaconError ``beacon:format`` for an id that is not hex, ``beacon:fetch``.
        """
        if not HEX_PATTERN.fullmatch(certificate_id):
            raise BeaconError("beacon:format", "certificate id must be hex")
        return self._get(f"/certificate/{certificate_id.lower()}")


def beacon_source_from_url(url: str | None, *, timeout: float = 10.0) -> HttpBeaconSource | None:
    """An HTTP source when a beacon URL is configured, else None (fetching is off by default).

    Raises:
        BeaconError: ``beacon:config`` for a URL that is not http(s).
    """
    return HttpBeaconSource(url, timeout=timeout) if url else None


def pulse_for_announcement(
    source: BeaconSource, not_before: datetime, certificate_pem: bytes | None = None
) -> tuple[Pulse, bytes]:
    """Fetch, verify and time-check the pulse for an announcement's ``not_before``.

    Returns the pulse and its JSON bytes exactly as served (to keep for the bundle). Without
    ``certificate_pem`` the certificate is fetched from the source (it must then have a
    ``fetch_certificate`` method); it is checked against ``certificateId`` either way.

    Raises:
        BeaconError: any code of :func:`verify_pulse` and :func:`check_pulse_time`,
            ``beacon:fetch``, or ``beacon:config`` if no certificate can be obtained.
    """
    raw = source.fetch_pulse_at_or_after(not_before)
    if certificate_pem is None:
        fetch = getattr(source, "fetch_certificate", None)
        if fetch is None:
            raise BeaconError("beacon:config", "no certificate given and the source cannot fetch")
        certificate_pem = fetch(parse_pulse(raw).certificate_id)
    pulse = verify_pulse(raw, certificate_pem)
    check_pulse_time(pulse, not_before)
    return pulse, raw
