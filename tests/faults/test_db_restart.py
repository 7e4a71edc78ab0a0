"""Database restart under load: clean errors during the outage, recovery without an app restart.

The scenario brings its own PostgreSQL server (``initdb`` in a temporary folder, a free port)
and restarts that one, never the machine's shared server. While clients draw through the API
(gunicorn, two workers), the server is stopped the way a crash stops it (``immediate``) at a
moment when a draw is announced but not completed, kept down for a moment, and started again:

- every request during the outage is answered in time (no hang), as problem+json 500 or 503;
  ``/health`` says 503 with ``database: false``;
- once the database is back, requests succeed without restarting the app (``pool_pre_ping``);
- after ``fail_stale`` no draw is partial and nothing a client was told is lost
  (``recover_and_check``).

Skipped only where ``initdb`` is not installed, and never in CI (``CI=true``).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from expertdraw.extensions import db

from .invariants import recover_and_check
from .load import PROBLEM, DrawLoad, project_body, unclean
from .pgcluster import TempCluster, find_binary
from .scenario import (
    SERVER_CONFIG,
    announced_abandoned,
    make_app,
    migrate,
    seed_centre,
    wait_for_announced,
)
from .server import AppServer

DRAWS = 16
CLIENTS = 4
COMPLETE_DELAY = 0.5
OUTAGE_SECONDS = 1.5
REQUEST_TIMEOUT = 20.0


@pytest.fixture
def cluster() -> Iterator[TempCluster]:
    """A running PostgreSQL server of this test's own, with an empty ``expertdraw`` database."""
    if find_binary("initdb") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("initdb is not installed; CI must run the database-restart scenario")
        pytest.skip("initdb (PostgreSQL server binaries) is not installed")
    own = TempCluster().init()
    try:
        own.start()
        admin = sa.create_engine(own.url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE expertdraw"))
        admin.dispose()
        yield own
    finally:
        own.cleanup()


def _probe(base_url: str, token: str, tenderer: str) -> dict[str, requests.Response]:
    """One request of each kind while the database is down (each must answer in time)."""
    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as http:
        return {
            "health": http.get(f"{base_url}/health", timeout=REQUEST_TIMEOUT),
            "read": http.get(
                f"{base_url}/api/v1/projects/P-FAULT-00000",
                headers=headers,
                timeout=REQUEST_TIMEOUT,
            ),
            "write": http.post(
                f"{base_url}/api/v1/projects",
                json=project_body(99_999, tenderer),
                headers=headers,
                timeout=REQUEST_TIMEOUT,
            ),
        }


def test_database_restart_under_load_gives_clean_errors_and_the_app_recovers(
    cluster: TempCluster, tmp_path: Path
) -> None:
    seed = int(os.environ.get("EXPERTDRAW_FAULTS_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    url = cluster.url("expertdraw")
    app = make_app(url, tmp_path / "instance")
    migrate(app)
    with app.app_context():
        seeded = seed_centre()
        server = AppServer(
            url,
            app.instance_path,
            tmp_path / "server.log",
            config=SERVER_CONFIG,
            complete_delay=COMPLETE_DELAY,
        )
        server.start()
        load = DrawLoad(
            server.url,
            seeded.token,
            seeded.tenderer,
            clients=CLIENTS,
            draws=DRAWS,
            timeout=REQUEST_TIMEOUT,
        )
        try:
            with load.running():
                load.wait_for(drawn=rng.randint(2, 4))
                wait_for_announced()
                down = time.monotonic()
                cluster.stop("immediate")
                probes = _probe(server.url, seeded.token, seeded.tenderer)
                time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
                cluster.start()
                back = time.monotonic()
        finally:
            server.stop()
        context = f"seed {seed}; server log:\n{server.log()}\ndatabase log:\n{cluster.server_log()}"
        answers = load.snapshot()

        health = probes["health"]
        assert health.status_code == 503 and health.json()["database"] is False, context
        for name in ("read", "write"):
            response = probes[name]
            assert response.status_code in (500, 503), (name, response.text, context)
            assert response.headers["Content-Type"].startswith(PROBLEM), (name, context)
        during = [a for a in answers if down <= a.at <= back]
        assert any(a.status is not None and a.status >= 500 for a in during), context
        assert not load.hangs(), context
        assert not [a for a in answers if a.status is None], f"connections lost ({context})"
        assert not unclean(answers), (unclean(answers), context)
        after = [a for a in answers if a.sent > back]
        assert any(a.step == "draw" and a.status == 201 for a in after), context
        failed_after = [a for a in after if a.status is not None and a.status >= 500]
        assert not failed_after, f"5xx after the database was back: {failed_after} ({context})"

        stranded = announced_abandoned()  # partial draws whose clients gave up
        assert stranded, f"the outage left no draw to recover: it struck nothing ({context})"
        recovery = recover_and_check(answers, tmp_path / "bundle")
        assert recovery.failed_by_recovery == len(stranded), (recovery, stranded, context)
        db.engine.dispose()
