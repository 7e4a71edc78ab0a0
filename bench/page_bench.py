"""Page render time of each role's main page, through HTTP against the live app, at seed scale.

Creates a scratch PostgreSQL database with the seed (``flask seed``: 3,000 experts, the demo
users; ``--experts`` adds generated ones), then fills it the way a working centre would be:
``--draws`` projects registered and drawn through the API (``none`` entropy, two strata), and
more draws until the demo expert ``expert1`` holds a notice (so that the inbox is not empty).
Then it starts the app under gunicorn (``tests/faults/server.py``), logs each demo user in with
``POST /api/v1/auth/session`` (the page cookie), and times ``GET`` of each role's main page
(where ``/`` sends that user): project manager, supervisor, expert, venue staff, admin, plus the
venue staff's page for the busiest day of their venue. Rounds are interleaved (one request per
page per round), so that a busy spell of the shared machine weighs on every page alike.

Limit in the same run, from the same client: ``GET /health`` (a few indexed queries, no
template), p95, one after each page request; and, for reference, ``GET /api/v1/me`` with the
page cookie (session, user, JSON). Target: p95 ≤ 150 ms per page.

    python bench/page_bench.py [--requests 100] [--draws 60] [--experts 0] [--database NAME]
        [--keep] [--out PATH]

Short run: ``--requests 20 --draws 10``. Exit status 1 only when a page did not answer 200.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import scale
from bench.http_bench import register_projects
from tests.faults.scenario import SERVER_CONFIG as FAULTS_CONFIG
from tests.faults.server import AppServer, ServerError

TARGET_P95_MS = 150.0
# The server runs in demo mode: the demo users log in with their published passwords, which
# the service refuses outside it.
SERVER_CONFIG = {**FAULTS_CONFIG, "DEMO": True}
# The demo users of seed_data/users.csv (password: <username>-demo-2026), one per role.
USERS = {
    "project_manager": "manager",
    "supervisor": "supervisor1",
    "expert": "expert1",
    "venue_staff": "venue1",
    "admin": "admin",
}
EXPERT_CODE = "E0000001"  # expert1's expert
MAX_EXTRA_DRAWS = 300


def _notices_of_expert() -> int:
    from expertdraw.extensions import db

    return int(
        db.session.scalar(
            sa.text(
                "SELECT count(*) FROM notices JOIN experts ON experts.id = notices.expert_id "
                "WHERE experts.code = :code"
            ),
            {"code": EXPERT_CODE},
        )
        or 0
    )


def populate(app: Any, draws: int) -> dict[str, Any]:
    """At least ``draws`` completed draws, and one more at a time until expert1 has a notice.

    Draws go through the in-process app's API (the project manager's bearer token)."""
    from expertdraw.extensions import db
    from expertdraw.models import Organisation, User
    from expertdraw.services import auth as auth_service

    with app.app_context():
        done = int(db.session.scalar(sa.text("SELECT count(*) FROM draws")) or 0)
        if done >= draws and _notices_of_expert():
            return {"draws": done, "added": 0, "expert_notices": _notices_of_expert()}
        manager = db.session.scalar(
            sa.select(User).where(User.username == USERS["project_manager"])
        )
        _, token = auth_service.issue_token(manager, label="page_bench")
        tenderer = db.session.scalar(
            sa.select(Organisation.uscc)
            .where(Organisation.kind == "tenderer")
            .order_by(Organisation.id)
        )
        db.session.remove()
    run = uuid.uuid4().hex[:6]
    client = app.test_client()
    added = 0
    outcomes: Counter[str] = Counter()
    while added < max(0, draws - done) + MAX_EXTRA_DRAWS:
        with app.app_context():
            if added >= draws - done and _notices_of_expert():
                break
            (code,) = register_projects(run, added, 1, tenderer)
        response = client.post(
            f"/api/v1/projects/{code}/draws",
            json={"entropy": {"kind": "none"}},
            headers={"Authorization": f"Bearer {token}"},
        )
        body = response.get_json() or {}
        outcomes[f"{response.status_code} {body.get('state') or body.get('code')}"] += 1
        added += 1
    with app.app_context():
        notices = _notices_of_expert()
        db.session.remove()
    return {
        "draws": done + added,
        "added": added,
        "outcomes": dict(outcomes),
        "expert_notices": notices,
    }


def busiest_day(venue: str) -> str | None:
    """The day (the centre's zone) with the most bookings at ``venue``, ISO format."""
    from expertdraw.extensions import db
    from expertdraw.web.forms import zone

    rows = db.session.execute(
        sa.text(
            "SELECT bookings.start FROM bookings "
            "JOIN workstations ON workstations.id = bookings.workstation_id "
            "JOIN rooms ON rooms.id = workstations.room_id WHERE rooms.venue_id = :venue"
        ),
        {"venue": venue},
    ).scalars()
    days = Counter(
        (start if start.tzinfo else start.replace(tzinfo=UTC)).astimezone(zone()).date()
        for start in rows
    )
    return days.most_common(1)[0][0].isoformat() if days else None


def login(base: str, username: str) -> requests.Session:
    """A session logged in with the page cookie."""
    http = requests.Session()
    response = http.post(
        f"{base}/api/v1/auth/session",
        json={"username": username, "password": f"{username}-demo-2026"},
        timeout=60,
    )
    if response.status_code != 200:
        raise SystemExit(f"login of {username}: {response.status_code} {response.text[:300]}")
    return http


def main_page(base: str, http: requests.Session) -> str:
    """Where ``/`` sends the logged-in user."""
    response = http.get(f"{base}/", allow_redirects=False, timeout=60)
    location = response.headers.get("Location", "")
    if response.status_code not in (301, 302, 303) or not location:
        raise SystemExit(f"/ did not redirect: {response.status_code}")
    return location if location.startswith("/") else "/" + location.split("/", 3)[-1]


def _timed_get(http: requests.Session, url: str) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    response = http.get(url, timeout=60, allow_redirects=False)
    return (time.perf_counter() - started) * 1e3, response


def measure(base: str, pages: dict[str, tuple[requests.Session, str]], rounds: int, warmup: int):
    """Interleaved rounds: each page once, each followed by /health; then /api/v1/me."""
    times: dict[str, list[float]] = {name: [] for name in pages}
    sizes: dict[str, int] = {}
    statuses: Counter[str] = Counter()
    health: list[float] = []
    me: list[float] = []
    plain = requests.Session()
    for n in range(warmup + rounds):
        for name, (http, path) in pages.items():
            elapsed, response = _timed_get(http, base + path)
            statuses[f"{name} {response.status_code}"] += 1
            sizes[name] = len(response.content)
            took, _ = _timed_get(plain, f"{base}/health")
            took_me, _ = _timed_get(http, f"{base}/api/v1/me")
            if n >= warmup:
                times[name].append(elapsed)
                health.append(took)
                me.append(took_me)
    plain.close()
    return times, sizes, statuses, health, me


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--draws", type=int, default=60, help="completed draws in the database")
    parser.add_argument("--experts", type=int, default=0, help="generated, after the seed's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database", help="reuse (or create and keep) this database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--pg", default=scale.ADMIN_URL, help="an admin URL of the server")
    parser.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    args = parser.parse_args(argv)

    figures: dict[str, Any] = {
        "benchmark": "page render time per role's main page, HTTP, PostgreSQL",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **scale.machine(),
        "workers": args.workers,
        "threads": args.threads,
        "target_p95_ms": TARGET_P95_MS,
    }
    broken: list[str] = []
    run = uuid.uuid4().hex[:6]
    log = Path(tempfile.gettempdir()) / f"page_bench-{run}.log"
    with scale.scratch_database(args.database, args.keep, args.pg, "expertdraw_page") as scratch:
        app = scale.make_app(scratch, SERVER_CONFIG)
        with app.app_context():
            figures["scale"] = scale.prepare(args.experts, 0, 0)
        figures["data"] = populate(app, args.draws)
        print(f"data: {figures['data']}", flush=True)
        server = AppServer(
            scratch.url,
            scratch.instance,
            log,
            workers=args.workers,
            threads=args.threads,
            config=SERVER_CONFIG,
        )
        try:
            server.start()
        except ServerError as exc:
            print(exc, file=sys.stderr)
            return 1
        try:
            pages: dict[str, tuple[requests.Session, str]] = {}
            for role, username in USERS.items():
                http = login(server.url, username)
                pages[role] = (http, main_page(server.url, http))
            staff_http = pages["venue_staff"][0]
            venue = staff_http.get(f"{server.url}/api/v1/me", timeout=60).json()["venue_id"]
            with app.app_context():
                day = busiest_day(venue)
            if day:
                pages["venue_staff (busiest day)"] = (staff_http, f"/venue/?day={day}")
            times, sizes, statuses, health, me = measure(
                server.url, pages, args.requests, args.warmup
            )
        finally:
            server.stop()
        with app.app_context():
            from expertdraw.extensions import db

            db.engine.dispose()
    health_p95 = scale.percentile(health, 0.95)
    rows = []
    for name, (_, path) in pages.items():
        values = times[name]
        p95 = scale.percentile(values, 0.95)
        rows.append(
            {
                "page": name,
                "path": path,
                "bytes": sizes[name],
                "p50_ms": round(statistics.median(values), 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(max(values), 1),
                "limit_health_p95_ms": round(health_p95, 1),
                "ratio": round(p95 / health_p95, 1),
                "met": p95 <= TARGET_P95_MS,
            }
        )
    figures.update(
        requests_per_page=args.requests,
        statuses=dict(statuses),
        health_p50_ms=round(statistics.median(health), 1),
        health_p95_ms=round(health_p95, 1),
        me_p50_ms=round(statistics.median(me), 1),
        me_p95_ms=round(scale.percentile(me, 0.95), 1),
        pages=rows,
        load_average_at_end=scale.load_average(),
    )
    bad = {k: v for k, v in statuses.items() if not k.endswith(" 200")}
    if bad:
        broken.append(f"pages that did not answer 200: {bad}")

    s = figures["scale"]
    print(
        f"\nscale: {s['experts']} experts, {s['venues']} venues;"
        f" {figures['data']['draws']} draws, expert1 holds {figures['data']['expert_notices']}"
        f" notice(s); {args.requests} timed requests per page"
    )
    print(
        f"limit GET /health p50 {figures['health_p50_ms']} ms, p95 {figures['health_p95_ms']} ms"
        f" (GET /api/v1/me with the cookie: p50 {figures['me_p50_ms']} ms,"
        f" p95 {figures['me_p95_ms']} ms)"
    )
    print(f"{'page':<27} {'path':<28} {'KiB':>6} {'p50':>7} {'p95':>7} {'max':>7} {'ratio':>6}")
    for row in rows:
        verdict = "met" if row["met"] else "MISSED"
        print(
            f"{row['page']:<27} {row['path']:<28} {row['bytes'] / 1024:>6.1f}"
            f" {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['max_ms']:>7.1f}"
            f" {row['ratio']:>6.1f}  target p95 ≤ {TARGET_P95_MS:.0f} ms: {verdict}"
        )
    print(
        f"load average at start {figures['load_average_at_start']},"
        f" at end {figures['load_average_at_end']}"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    for problem in broken:
        print(f"PROBLEM: {problem} (server log: {log})", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
