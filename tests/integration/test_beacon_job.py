"""The beacon job: an announced beacon draw is completed with the pulse fetched from a real
local HTTP server serving the genuine NIST pulses, verified as a supervisor's entry is. A server
that is down, a missing pulse, a tampered or wrong pulse leave the draw announced, with the
error logged and nothing in the ledger, and the next run tries again. Unconfigured, the job
does nothing."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import current_app

from expertdraw import clock, jobs
from expertdraw.extensions import db
from expertdraw.models import BeaconPulse, LedgerEntry, User
from expertdraw.services import beacon_pulses, draws, export, leases, projects, scheduling
from expertdraw.services import replay as replay_service
from tests.verifier import run_verifier

from . import centre as c

ANNOUNCED = datetime(2026, 8, 31, 19, 2, 10, tzinfo=UTC)
PULSE_TIME = datetime(2026, 8, 31, 19, 4, tzinfo=UTC)  # the pulse the announcement awaits
SLOT = PULSE_TIME + timedelta(seconds=15)  # the job's run in that minute
POLICY = scheduling.RetryPolicy(max_attempts=3, retry_after=timedelta(0))
LOGGER = "expertdraw.services.beacon_pulses"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        beacon = self.server.beacon
        beacon.requests.append(self.path)
        status, body = beacon.routes.get(self.path, (404, b'{"error": "not found"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads ``requests`` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    beacon: BeaconServer


class BeaconServer:
    """A beacon 2.0 REST service on a local port: ``serve`` a pulse for a time; ``start`` and
    ``stop`` it (stopped, connections to its port are refused)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/beacon/2.0"

    def serve(self, at: datetime, body: bytes, status: int = 200) -> None:
        """Answer ``GET /pulse/time/<ms of at>`` with ``body``."""
        self.routes[f"/beacon/2.0/pulse/time/{int(at.timestamp() * 1000)}"] = (status, body)

    def start(self) -> None:
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.beacon = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
        self._httpd = self._thread = None


@pytest.fixture
def beacon_server() -> Iterator[BeaconServer]:
    server = BeaconServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def vectors(shared_dir: Path) -> Path:
    return shared_dir / "vectors/nist-beacon"


@pytest.fixture
def beacon_draw(app: Any, vectors: Path, beacon_server: BeaconServer) -> str:
    """A beacon draw announced as the manager's form does (the service sets the pulse time),
    with fetching configured against the local server."""
    app.config["BEACON_CERTIFICATE"] = str(vectors / "certificate-528943a5.pem")
    app.config["BEACON_URL"] = beacon_server.url
    with clock.frozen(c.NOW):  # the log starts before the announcement (draw.md §3.1)
        centre = c.build(log_created=ANNOUNCED - timedelta(days=1))
    spec = c.project_spec(centre, "P-BEACON-JOB", name="beacon job", agency=None, bidders=())
    with clock.frozen(ANNOUNCED):
        project = projects.create_project(spec, centre.users["pm"])
        draw = draws.announce(project, centre.users["pm"], {"kind": "beacon"})
    announced = next(
        e for e in _entries(draw.id) if e["type"] == "draw.announced"
    )  # the announcement names the pulse time it waits for
    assert announced["body"]["entropy"] == {
        "kind": "beacon",
        "source": "nist-beacon-2.0",
        "not_before": "2026-08-31T19:04:00.000Z",
    }
    return draw.id


def _entries(draw_id: str) -> list[dict[str, Any]]:
    records = db.session.scalars(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.draw_id == draw_id)
        .order_by(LedgerEntry.seq)
    )
    return [json.loads(record)["entry"] for record in records]


def _run(at: datetime) -> str:
    """Run the registered beacon job for the slot ``at``, as the leader, with the clock at it."""
    db.session.rollback()  # the test's own reads end before the scheduler's transactions
    term = leases.acquire("scheduler", "beacon-test", 30)
    assert term is not None
    [spec] = [s for s in jobs.job_specs(current_app.config) if s.name == "beacon-pulses"]
    with clock.frozen(at):
        return scheduling.execute(term, spec.name, at, spec.target, POLICY)


def _left_announced(draw_id: str) -> None:
    assert draws.get_draw(draw_id).state == "announced"
    assert [e["type"] for e in _entries(draw_id)] == ["draw.announced"]
    assert db.session.get(BeaconPulse, draw_id) is None


def test_the_job_runs_each_minute_after_the_pulse_is_published(app):
    [spec] = [s for s in jobs.job_specs(app.config) if s.name == "beacon-pulses"]
    assert spec.target == "expertdraw.services.beacon_pulses.complete_due"
    fire = spec.trigger.get_next_fire_time(None, PULSE_TIME)
    assert fire == SLOT
    assert spec.trigger.get_next_fire_time(None, fire + timedelta(seconds=1)) == SLOT + timedelta(
        minutes=1
    )


def test_a_served_pulse_completes_the_draw_and_replays(
    app, beacon_draw, beacon_server, vectors, tmp_path
):
    served = (vectors / "pulse-2-1921300.json").read_bytes()
    beacon_server.serve(PULSE_TIME, served)
    assert _run(PULSE_TIME - timedelta(seconds=45)) == "done"  # not yet due: nothing fetched
    assert beacon_server.requests == []
    _left_announced(beacon_draw)

    assert _run(SLOT) == "done"
    assert beacon_server.requests == [
        f"/beacon/2.0/pulse/time/{int(PULSE_TIME.timestamp()) * 1000}"
    ]
    draw = draws.get_draw(beacon_draw)
    assert draw.state == "completed"
    # kept byte for byte as served (CRLF line ends included), as the bundle exports it
    assert bytes(db.session.get(BeaconPulse, beacon_draw).raw) == served
    completed = next(e for e in _entries(beacon_draw) if e["type"] == "draw.completed")
    assert completed["actor"] == {"role": "system", "id": "scheduler"}
    output = json.loads(served)["pulse"]["outputValue"].lower()
    assert completed["body"]["entropy_value"] == output
    verdict = replay_service.replay_draw(draw)
    assert verdict["verdict"] == "match" and verdict["difference"] is None

    # done once: later runs fetch nothing and record nothing
    assert _run(SLOT + timedelta(minutes=1)) == "done"
    assert len(beacon_server.requests) == 1
    assert [e["type"] for e in _entries(beacon_draw)].count("draw.completed") == 1

    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    assert (bundle / "beacon" / f"{beacon_draw}.json").read_bytes() == served
    result = run_verifier(bundle, "--replay", "--beacon-cert", vectors / "certificate-528943a5.pem")
    assert result.returncode == 0, result.stdout + result.stderr


def _tampered(vectors: Path) -> bytes:
    good = (vectors / "pulse-2-1921300.json").read_bytes()
    tampered = good.replace(b'"pulseIndex" : 1921300', b'"pulseIndex" : 1921301')
    assert tampered != good
    return tampered


FETCH_FAILED = "beacon.fetch_failed draw={draw} not_before=2026-08-31T19:04:00Z error=beacon:fetch"
HTTP_STATUS = FETCH_FAILED + ' detail="GET /pulse/time/{ms}: HTTP {status}"'
REFUSED = "beacon.refused draw={draw} error=entropy:beacon-{what}"


@pytest.mark.parametrize(
    ("case", "logged"),
    [
        ("server down", FETCH_FAILED + ' detail="GET /pulse/time/{ms} failed: '),
        ("not published", HTTP_STATUS.replace("{status}", "404")),
        ("server error", HTTP_STATUS.replace("{status}", "503")),
        ("tampered", REFUSED.replace("{what}", "signature")),
        ("an earlier pulse", REFUSED.replace("{what}", "too-early")),
        ("not a pulse", REFUSED.replace("{what}", "format")),
        ("not text", REFUSED.replace("{what}", "format")),
    ],
)
def test_a_failure_is_logged_leaves_the_draw_announced_and_is_retried(
    app, beacon_draw, beacon_server, vectors, caplog, case, logged
):
    if case == "server down":
        beacon_server.stop()
    elif case == "server error":
        beacon_server.serve(PULSE_TIME, b"busy", status=503)
    elif case == "tampered":
        beacon_server.serve(PULSE_TIME, _tampered(vectors))
    elif case == "an earlier pulse":
        beacon_server.serve(PULSE_TIME, (vectors / "pulse-2-1921299.json").read_bytes())
    elif case == "not a pulse":
        beacon_server.serve(PULSE_TIME, b"<html>maintenance</html>")
    elif case == "not text":
        beacon_server.serve(PULSE_TIME, b"\xff\xfe{}")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert _run(SLOT) == "done"  # one draw's failure is not the job's: it ends normally
    errors = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "ERROR"]
    expected = logged.format(draw=beacon_draw, ms=int(PULSE_TIME.timestamp()) * 1000)
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    _left_announced(beacon_draw)

    # the next run tries again, and takes the pulse once it is served right
    beacon_server.stop()
    beacon_server.serve(PULSE_TIME, (vectors / "pulse-2-1921300.json").read_bytes())
    beacon_server.start()
    assert _run(SLOT + timedelta(minutes=1)) == "done"
    assert draws.get_draw(beacon_draw).state == "completed"


def test_without_a_beacon_url_the_job_does_nothing(app, beacon_draw, beacon_server, vectors):
    beacon_server.serve(PULSE_TIME, (vectors / "pulse-2-1921300.json").read_bytes())
    app.config["BEACON_URL"] = None
    assert beacon_pulses.complete_due(SLOT) == 0
    assert _run(SLOT) == "done"
    assert beacon_server.requests == []
    _left_announced(beacon_draw)


def test_without_the_certificate_nothing_is_fetched(
    app, beacon_draw, beacon_server, vectors, caplog
):
    beacon_server.serve(PULSE_TIME, (vectors / "pulse-2-1921300.json").read_bytes())
    app.config["BEACON_CERTIFICATE"] = None
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        assert beacon_pulses.complete_due(SLOT) == 0
    assert "beacon.unconfigured missing=BEACON_CERTIFICATE" in caplog.text
    assert beacon_server.requests == []
    _left_announced(beacon_draw)


def test_a_draw_past_its_deadline_is_left_to_the_timeout(app, beacon_draw, beacon_server, vectors):
    beacon_server.serve(PULSE_TIME, (vectors / "pulse-2-1921300.json").read_bytes())
    deadline = draws.get_draw(beacon_draw).deadline_at
    assert beacon_pulses.complete_due(deadline) == 0
    assert beacon_server.requests == []
    assert draws.fail_stale(deadline) == 1
    assert draws.get_draw(beacon_draw).state == "failed"


def test_a_draw_entered_by_a_supervisor_is_not_fetched_again(
    app, beacon_draw, beacon_server, vectors
):
    pulse = (vectors / "pulse-2-1921300.json").read_bytes()
    beacon_server.serve(PULSE_TIME, pulse)
    supervisor = db.session.scalar(sa.select(User).where(User.username == "sup1"))
    with clock.frozen(SLOT):
        draws.supply_entropy(draws.get_draw(beacon_draw), supervisor, pulse=pulse.decode())
    assert beacon_pulses.complete_due(SLOT + timedelta(minutes=1)) == 0
    assert beacon_server.requests == []
    completed = [e for e in _entries(beacon_draw) if e["type"] == "draw.completed"]
    assert len(completed) == 1 and completed[0]["actor"]["role"] == "supervisor"
