"""Twenty draws requested at once for one window never double-book, and the ledger holds.

Under the centre's rules the projects, all of one tenderer, keep an expert off a second
committee by ``same-tenderer`` before any seat is booked; under relaxed rules (no look-backs)
two committees compete for the same experts, and only the booking check and the database's
guard keep an expert from sitting twice at once.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Booking, Draw, LedgerEntry, Member
from expertdraw.services import auth as auth_service

from ..integration import centre as c

CLIENTS = 20


@pytest.fixture
def relaxed_app(app_config):
    """An app whose rules have no look-backs (the soak's): committees compete for experts."""
    from expertdraw import create_app

    from ..faults.scenario import RELAXED_RULES

    application = create_app({**app_config, "ELIGIBILITY_RULES": RELAXED_RULES})
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def _serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def live_server(app):
    server, thread = _serve(app)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_concurrent_draws_never_double_book(app, live_server):
    _twenty_at_once(live_server)


def test_committees_competing_for_experts_never_seat_one_twice(relaxed_app):
    server, thread = _serve(relaxed_app)
    try:
        _twenty_at_once(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join()


def _twenty_at_once(live_server: str) -> None:
    with clock.frozen(c.NOW):
        centre = c.build(technical=60, economic=30, venues=12)
    # An admin's token: only an admin registers projects drawn without outside entropy.
    _, token = auth_service.issue_token(centre.users["admin"], label="load")
    headers = {"Authorization": f"Bearer {token}"}
    db.session.remove()

    def one(n: int) -> tuple[int, str]:
        project = {
            "code": f"P-LOAD-{n:02d}",
            "name": f"并发项目{n}",
            "tenderer": centre.tenderer,
            "region": "530602",
            "window_start": c.WINDOW.isoformat(),
            "window_end": (c.WINDOW + timedelta(hours=8)).isoformat(),
            "allow_no_entropy": True,
            "strata": [
                {"name": "technical", "specialty": "A0101", "kind": "technical", "count": 4},
                {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 1},
            ],
        }
        with requests.Session() as http:
            created = http.post(f"{live_server}/api/v1/projects", json=project, headers=headers)
            assert created.status_code == 201, created.text
            drawn = http.post(
                f"{live_server}/api/v1/projects/P-LOAD-{n:02d}/draws",
                json={"entropy": {"kind": "none"}},
                headers=headers,
            )
            return drawn.status_code, drawn.text

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(CLIENTS)))
    assert all(status < 500 for status, _ in results), results
    states = [json.loads(text).get("state") for status, text in results if status == 201]
    assert states.count("completed") >= 2
    # Every draw asked for ends, completed or failed (a clash fails it, secret revealed):
    # none is left announced by a refusal that came too late.
    assert set(states) <= {"completed", "failed"}, results
    left = db.session.scalars(sa.select(Draw.id).where(Draw.state == "announced")).all()
    assert left == []

    def overlaps(column: str) -> int:
        return db.session.scalar(
            sa.text(
                f"SELECT count(*) FROM bookings a JOIN bookings b ON a.{column} = b.{column} "
                "AND a.id < b.id AND a.released_at IS NULL AND b.released_at IS NULL "
                'AND a.start < b."end" AND b.start < a."end"'
            )
        )

    assert overlaps("workstation_id") == 0
    assert overlaps("expert_id") == 0
    completed = db.session.scalars(sa.select(Draw).where(Draw.state == "completed")).all()
    for draw in completed:
        members = db.session.scalar(
            sa.select(sa.func.count(Member.id)).where(Member.draw_id == draw.id)
        )
        bookings = db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(Booking.draw_id == draw.id)
        )
        assert members == bookings == 5
    seqs = list(db.session.scalars(sa.select(LedgerEntry.seq).order_by(LedgerEntry.seq)))
    assert seqs == list(range(len(seqs)))
