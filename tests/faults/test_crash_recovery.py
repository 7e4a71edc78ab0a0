"""Crash recovery: the app processes are SIGKILLed under draw load and restarted.

The server is gunicorn (two workers) on the test database; clients keep drawing through the
API while every process of the server is killed at once, in the middle of a draw, and started
again. Afterwards ``fail_stale`` runs and ``recover_and_check`` holds the invariants: every
draw completed or failed (secret revealed), every booking belongs to a completed draw, every
draw a client was told about is in the ledger as told, and the exported bundle audits.

The short version here kills once; ``bench/soak.py`` kills twenty times under 32 clients.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from .invariants import recover_and_check
from .load import DrawLoad
from .scenario import SERVER_CONFIG, announced_abandoned, seed_centre, wait_for_announced
from .server import AppServer

DRAWS = 16
CLIENTS = 4
COMPLETE_DELAY = 0.5  # seconds between a draw's announcement and its completion


def test_killed_app_processes_leave_no_partial_draw_and_lose_nothing_acknowledged(
    app: Any, database_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("EXPERTDRAW_FAULTS_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    seeded = seed_centre()
    server = AppServer(
        database_url,
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
        retry_server_errors=False,
    )
    stranded: list[str] = []
    try:
        with load.running():
            load.wait_for(drawn=rng.randint(1, 4))
            time.sleep(rng.uniform(0.0, 0.5))
            for _ in range(3):  # a kill that lands just after a completion strands nothing
                wait_for_announced()
                server.kill()
                stranded = announced_abandoned()  # nobody writes while the server is dead
                server.start()
                if stranded:
                    break
    finally:
        server.stop()
    context = f"seed {seed}; server log:\n{server.log()}"
    assert stranded, f"no kill struck an announced draw ({context})"
    answers = load.snapshot()
    assert any(a.status is None for a in answers), f"no request was interrupted ({context})"
    assert not load.hangs(), context
    server_errors = [a for a in answers if a.status is not None and a.status >= 500]
    assert not server_errors, f"5xx with the database up: {server_errors} ({context})"

    recovery = recover_and_check(answers, tmp_path / "bundle")

    assert recovery.failed_by_recovery >= len(stranded), (recovery, stranded, context)
    assert recovery.completed >= DRAWS // 2, (recovery, context)
