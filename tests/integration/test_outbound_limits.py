"""Outbound calls end in bounded time and memory, whatever the peer does: a gateway's answer
body is never read (only its status matters), and a beacon's body must come within a total
deadline, not just with no long pause between bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from expertdraw.domain.beacon import BeaconError
from expertdraw.domain.beacon_source import HttpBeaconSource
from expertdraw.services.channels.gateway import GatewayChannel


class Trickle(BaseHTTPRequestHandler):
    """Answers 200 at once, then sends its body a byte every 0.2 s for 6 s."""

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "30")
        self.end_headers()
        try:
            for _ in range(30):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the client has gone, as it should

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def trickle() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_gateway_trickling_its_answer_holds_no_delivery(trickle):
    channel = GatewayChannel(url=f"{trickle}/send", secret="s", kind="sms", timeout=(1.0, 1.0))
    started = time.monotonic()
    channel.send("13800000000", "", "text", delivery_id=1)  # 200: delivered
    assert time.monotonic() - started < 1.5


def test_a_beacon_trickling_its_pulse_is_given_up_within_the_deadline(trickle):
    source = HttpBeaconSource(trickle, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(BeaconError, match="came too slowly"):
        source.fetch_certificate("528943a5")
    assert time.monotonic() - started < 3.0
