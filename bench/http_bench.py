"""End-to-end draws through the HTTP API on PostgreSQL: latency, throughput, and the ceiling.

Creates a scratch PostgreSQL database, seeds it at scale (``--experts`` generated experts after
the 3,000 of the seed, ``--conflicts`` relations, ``--venues`` venues of 4 rooms of 5
workstations, and the demo users), starts the app under gunicorn (``tests/faults/server.py``:
``--workers`` processes of ``--threads`` threads) and drives draws through ``/api/v1`` as the
demo project manager, with a bearer token. Each draw is ``POST /api/v1/projects/<code>/draws``
with ``none`` entropy on a project of two strata (technical A0101: 4 members + 2 alternates,
economic C0301: 1 + 1, i.e. 5 members and 3 alternates), so the answer is the completed draw.
Projects are registered in-process beforehand (registration is not a draw); windows spread
over 120 days from the day after tomorrow, so draws of the same day compete for experts and
workstations as a centre's would. The server runs with the relaxed eligibility rules of the
fault scenarios (``tests/faults/scenario.py``), so that thousands of draws for one tenderer
stay feasible; the rules are still evaluated.

Before measuring, the bench waits until the server's processes are idle: each reads, as it
starts, the experts and seats of the projects awaiting their draw (``ops.warm_in_background``),
as a centre's server has done long before its draws come; the wait is printed.

1. **Latency**: ``--draws`` sequential draws from one client: p50 and p99 (targets 100 ms and
   300 ms), and each draw's time in the JSON. Limit in the same run: the same client's
   ``GET /health`` (interleaved, one after each draw), the server's answer with a few indexed
   queries.
2. **Throughput**: ``--clients`` clients (32) for ``--seconds`` (60): draws completed per second
   (target 50). Limits in the same run: ``GET /health`` from as many clients for
   ``--ceiling-seconds``; and the CPU a draw took, the server's processes and PostgreSQL's
   together (from ``/proc``), with the rate the machine's CPUs allow at that cost. Both
   client sets run in this process (Python threads), on the same two CPUs as the server: the
   CPU the clients took is printed beside each rate.
3. **Profile** (``--profile-draws``, default 3; after the server has stopped): draws through the
   in-process app's test client, with wall time per step (pool building, snapshot, ledger
   appends, checkpoint signing, bookings and notices, commits; SQL statements and time) and a
   cProfile of one draw (top functions; the whole profile goes beside ``--out``).
   Then the work draw.md prescribes for the last of them (``bench/hmac_floor.py``): its HMACs,
   counted by replaying it from its stored snapshot, timed alone, and the draws per second
   two CPUs allow at that cost, alone and with PostgreSQL's CPU per draw from step 2.

    python bench/http_bench.py [--experts 100000] [--conflicts 1000000] [--venues 500]
        [--draws 100] [--clients 32] [--seconds 60] [--ceiling-seconds 10] [--workers 4]
        [--threads 1] [--profile-draws 3] [--database NAME] [--keep] [--out PATH]

Seeding 100,000 experts and 1,000,000 relations takes minutes: ``--database NAME`` reuses a
database seeded by an earlier run (created and seeded first if missing, kept either way;
drawing leaves draws and bookings behind, thousands per run, which later runs read: the
bookings of their windows, and the memberships of the frequency rule's look-back, which a
window within 30 days of the run reaches. The scale line gives their numbers).
Short run: ``--experts 0 --conflicts 0 --venues 0 --draws 20 --seconds 10 --ceiling-seconds 3``.

Prints each figure, its limit, the ratio and the target; exit status 1 only when something
broke (a draw that did not complete, a 5xx, a server that did not start), not for a missed target.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import hmac_floor, scale
from tests.faults.load import Answer, DrawLoad
from tests.faults.scenario import SERVER_CONFIG
from tests.faults.server import AppServer, ServerError

TARGET_P50_MS = 100.0
TARGET_P99_MS = 300.0
TARGET_DRAWS_PER_SECOND = 50.0
MANAGER = "manager"  # the demo project manager of seed_data/users.csv
ADMIN = "admin"  # the demo admin
STRATA = (
    {"name": "technical", "specialty": "A0101", "kind": "technical", "count": 4, "alternates": 2},
    {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 1, "alternates": 1},
)
SPREAD_DAYS = 120


# -- setting up ---------------------------------------------------------------------------------


def _manager_token() -> tuple[str, str]:
    """The demo project manager's fresh bearer token, and a tenderer's USCC."""
    from expertdraw.extensions import db
    from expertdraw.models import Organisation, User
    from expertdraw.services import auth as auth_service

    user = db.session.scalar(sa.select(User).where(User.username == MANAGER))
    if user is None:
        raise SystemExit(f"no user {MANAGER!r}: the seed's demo users are missing")
    _, token = auth_service.issue_token(user, label="http_bench")
    tenderer = db.session.scalar(
        sa.select(Organisation.uscc)
        .where(Organisation.kind == "tenderer")
        .order_by(Organisation.id)
    )
    return token, tenderer


def register_projects(run: str, first: int, count: int, tenderer: str) -> list[str]:
    """Register projects ``P-HB-<run>-<n>`` for n in first..first+count-1; returns the codes."""
    from expertdraw.extensions import db
    from expertdraw.models import User
    from expertdraw.services import projects

    user = db.session.scalar(sa.select(User).where(User.username == MANAGER))
    # Draws without outside entropy are the centre's decision: the demo admin grants them.
    admin = db.session.scalar(sa.select(User).where(User.username == ADMIN))
    base = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0)
    base += timedelta(days=2)
    codes = []
    for n in range(first, first + count):
        start = base + timedelta(days=n % SPREAD_DAYS)
        spec = projects.ProjectSpec(
            code=f"P-HB-{run}-{n:05d}",
            name=f"基准项目{run}-{n}",
            tenderer=tenderer,
            region="530602",
            window_start=start,
            window_end=start + timedelta(hours=8),
            strata=[projects.StratumSpec(**s) for s in STRATA],
        )
        project = projects.create_project(spec, user)
        codes.append(projects.permit_no_entropy(project, admin).code)
    db.session.remove()
    return codes


# -- driving the server -------------------------------------------------------------------------


class ProjectDraws(DrawLoad):
    """``DrawLoad`` on projects registered beforehand: logical draw n is one draw request on
    ``codes[n]`` (no project step, no retry: every answer counts as it came)."""

    def __init__(self, base_url: str, token: str, codes: list[str], run: str, **kwargs: Any):
        super().__init__(base_url, token, tenderer="", draws=len(codes), **kwargs)
        self.codes = codes
        self.run = run

    def _one(self, http: requests.Session, n: int) -> None:
        self._send(
            http,
            n,
            "draw",
            url=f"{self.base_url}/api/v1/projects/{self.codes[n]}/draws",
            json={"entropy": {"kind": "none"}},
            headers={"Idempotency-Key": f"hb-{self.run}-{n}"},
        )


def _completed(answer: Answer) -> bool:
    return answer.status == 201 and answer.state == "completed"


def _outcomes(answers: list[Answer]) -> dict[str, int]:
    return dict(
        Counter(
            f"{a.status} {a.state}"
            if a.status == 201
            else f"{a.status} {(a.body or {}).get('code', '')}".strip()
            if a.status
            else str(a.error)
            for a in answers
        )
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the live processes of group ``pgid`` (from ``/proc``)."""
    return _cpu_of(lambda name, group: group == pgid)


def _database_cpu() -> float:
    """CPU seconds used so far by the live PostgreSQL processes of this machine."""
    return _cpu_of(lambda name, group: name == "postgres")


def _cpu_of(chosen: Callable[[str, int], bool]) -> float:
    """CPU seconds of the live processes ``chosen(name, process group)`` picks."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields, name = tail.split(), head.split("(", 1)[-1]
        if chosen(name, int(fields[2])):
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(server: AppServer, timeout: float = 120.0, window: float = 0.5) -> float:
    """Wait until the server's processes are idle (below 5 % of a CPU for two windows in a
    row): each worker reads, as it starts, the experts and seats of the projects awaiting
    their draw (``ops.warm_in_background``), and a centre's server has long finished that
    when its draws come. Returns the seconds waited."""
    assert server.process is not None
    started = time.monotonic()
    quiet = 0
    used = _group_cpu(server.process.pid)
    while quiet < 2 and time.monotonic() - started < timeout:
        time.sleep(window)
        now = _group_cpu(server.process.pid)
        quiet = quiet + 1 if now - used < 0.05 * window else 0
        used = now
    return round(time.monotonic() - started, 1)


def hammer(url: str, clients: int, seconds: float, timeout: float = 30.0) -> dict[str, Any]:
    """``clients`` threads GET ``url`` in a loop for ``seconds``: rate of 200 answers."""
    lock = threading.Lock()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    stop = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        with requests.Session() as http:
            while time.monotonic() < stop:
                sent = time.perf_counter()
                try:
                    status = http.get(url, timeout=timeout).status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                if status == 200:
                    mine.append(time.perf_counter() - sent)
                else:
                    with lock:
                        failures[str(status)] += 1
        with lock:
            latencies.extend(mine)

    cpu = _cpu()
    started = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout + 10)
    elapsed = time.monotonic() - started
    return {
        "requests_ok": len(latencies),
        "failures": dict(failures),
        "seconds": round(elapsed, 2),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1e3, 1) if latencies else None,
        "p99_ms": round(scale.percentile(latencies, 0.99) * 1e3, 1) if latencies else None,
        "client_cpu_seconds": round(_cpu() - cpu, 1),
    }


def latency(server: AppServer, token: str, codes: list[str], run: str) -> dict[str, Any]:
    """Sequential draws, each followed by one ``GET /health``."""
    draws_ms: list[float] = []
    health_ms: list[float] = []
    outcomes: Counter[str] = Counter()
    with requests.Session() as http, requests.Session() as plain:
        http.headers["Authorization"] = f"Bearer {token}"
        for n, code in enumerate(codes):
            started = time.perf_counter()
            response = http.post(
                f"{server.url}/api/v1/projects/{code}/draws",
                json={"entropy": {"kind": "none"}},
                headers={"Idempotency-Key": f"hb-{run}-lat-{n}"},
                timeout=600,
            )
            elapsed = time.perf_counter() - started
            body = response.json() if "json" in response.headers.get("Content-Type", "") else {}
            state = body.get("state") if response.status_code == 201 else body.get("code")
            outcomes[f"{response.status_code} {state}"] += 1
            if response.status_code == 201 and state == "completed":
                draws_ms.append(elapsed * 1e3)
            started = time.perf_counter()
            health = plain.get(f"{server.url}/health", timeout=60)
            health_ms.append((time.perf_counter() - started) * 1e3)
            if health.status_code != 200:
                outcomes[f"health {health.status_code}"] += 1
    out: dict[str, Any] = {"draws": len(codes), "outcomes": dict(outcomes)}
    if draws_ms:
        out.update(
            p50_ms=round(statistics.median(draws_ms), 1),
            p99_ms=round(scale.percentile(draws_ms, 0.99), 1),
            min_ms=round(min(draws_ms), 1),
            max_ms=round(max(draws_ms), 1),
            draws_ms=[round(ms, 1) for ms in draws_ms],
        )
    out.update(
        health_p50_ms=round(statistics.median(health_ms), 1),
        health_p99_ms=round(scale.percentile(health_ms, 0.99), 1),
    )
    return out


def throughput(
    server: AppServer, token: str, codes: list[str], run: str, args: argparse.Namespace
) -> dict[str, Any]:
    """``--clients`` clients drawing for ``--seconds``; then the trivial endpoint's rate."""
    load = ProjectDraws(
        server.url, token, codes, run, clients=args.clients, timeout=args.request_timeout
    )
    assert server.process is not None
    cpu = _cpu()
    server_cpu, database_cpu = _group_cpu(server.process.pid), _database_cpu()
    started = time.monotonic()
    load.deadline = started + args.seconds
    with load.running(join_timeout=args.request_timeout + args.seconds + 60):
        pass  # the clients stop taking draws at the deadline; the block waits for them
    drained = time.monotonic()
    server_cpu = _group_cpu(server.process.pid) - server_cpu
    database_cpu = _database_cpu() - database_cpu
    answers = load.snapshot()
    in_time = [a for a in answers if _completed(a) and a.at <= load.deadline]
    late = [a for a in answers if _completed(a) and a.at > load.deadline]
    waits = [(a.at - a.sent) * 1e3 for a in answers if _completed(a)]
    out: dict[str, Any] = {
        "clients": args.clients,
        "seconds": args.seconds,
        "projects_ready": len(codes),
        "ran_out_of_projects": load.started() >= len(codes),
        "requests": len(answers),
        "outcomes": _outcomes(answers),
        "completed_in_time": len(in_time),
        "completed_after_deadline": len(late),
        "drain_seconds": round(drained - load.deadline, 1),
        "draws_per_second": round(len(in_time) / args.seconds, 2),
        "latency_under_load_p50_ms": round(statistics.median(waits), 1) if waits else None,
        "latency_under_load_p99_ms": round(scale.percentile(waits, 0.99), 1) if waits else None,
        "client_cpu_seconds": round(_cpu() - cpu, 1),
    }
    completed = len(in_time) + len(late)
    if completed:
        # The CPU a draw took, server and database together, and the rate the machine's CPUs
        # would allow at that cost: the physical limit of this figure.
        per_draw = (server_cpu + database_cpu) / completed
        out.update(
            server_cpu_ms_per_draw=round(server_cpu / completed * 1e3, 1),
            database_cpu_ms_per_draw=round(database_cpu / completed * 1e3, 1),
            cpu_bound_draws_per_second=round((os.cpu_count() or 1) / per_draw, 1),
        )
    if out["ran_out_of_projects"] and in_time:
        # Fewer projects than the server could draw: the rate over the time it took.
        last = max(a.at for a in in_time)
        out["draws_per_second"] = round(len(in_time) / max(last - started, 1e-9), 2)
    out["ceiling"] = hammer(f"{server.url}/health", args.clients, args.ceiling_seconds)
    return out


# -- where the time of one draw goes ------------------------------------------------------


class StepTimer:
    """Wall time per instrumented call, keyed by the chain of instrumented callers."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.order: list[str] = []
        self._stack: list[str] = []

    def current(self) -> str:
        """The innermost instrumented call running now ("" outside)."""
        return self._stack[-1] if self._stack else ""

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            key = "/".join([*self._stack, label])
            if key not in self.totals:
                self.order.append(key)
                self.totals[key] = 0.0
            self._stack.append(label)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.totals[key] += time.perf_counter() - started
                self.calls[key] += 1
                self._stack.pop()

        return timed


@contextlib.contextmanager
def instrumented(
    timer: StepTimer, sql: dict[str, float], statements: list[tuple[float, str, int, str]]
) -> Iterator[None]:
    """Time the steps of a draw by wrapping module attributes (restored on exit)."""
    from sqlalchemy.orm import Session

    from expertdraw.extensions import db
    from expertdraw.services import draws, ledger, pool, seat_map, seating

    targets = [
        (draws, "announce", "announce"),
        (draws, "complete", "complete"),
        (ledger, "lock", "ledger.lock (advisory lock wait)"),
        (pool, "build_pool", "pool.build_pool"),
        (seat_map, "free_seats", "seat_map.free_seats (booked in the window)"),
        (draws, "build_snapshot", "build_snapshot"),
        (draws, "_feasibility", "feasibility check"),
        (draws, "_earlier_draw", "earlier draw (idempotency key, live draw)"),
        (draws, "_next_draw_id", "next draw id"),
        (draws.engine, "announce", "engine.announce (check, encode, hash, commitment)"),
        (draws, "_insert_announced", "draw and snapshot rows"),
        (draws, "snapshot_text", "snapshot_text (load the stored snapshot)"),
        (ledger, "entry_body", "ledger.entry_body (load draw.announced)"),
        (draws.engine, "complete", "engine.complete (select members, alternates, seats)"),
        (seating, "prepare", "seating.prepare (the drawn experts and the window)"),
        (seating, "state_and_clashes", "seating.state_and_clashes"),
        (seating, "write_committee", "seating.write_committee (members, notices, alternates)"),
        (seating, "book", "seating.book (bookings)"),
        (seating, "notices_sent", "seating.notices_sent (entries)"),
        (seating, "after_commit", "seating.after_commit (notice delivery)"),
        (ledger, "append", "ledger.append"),
        (ledger, "issue_checkpoint", "ledger.issue_checkpoint (sign)"),
        (Session, "commit", "Session.commit"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    for owner, name, label in targets:
        setattr(owner, name, timer.wrap(label, getattr(owner, name)))
    engine = db.engine

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        elapsed = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        sql["statements"] += 1
        sql["seconds"] += elapsed
        bound = len(parameters) if isinstance(parameters, dict | list | tuple) else 0
        step = timer.current()
        statements.append((elapsed, step, bound, " ".join(statement.split())[:150]))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


def profile(app: Any, token: str, codes: list[str], run: str, out: Path | None) -> dict[str, Any]:
    """Draws through the in-process app after an untimed first one: wall time per step (mean
    over the draws), then a cProfile of one more draw."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    drawn: list[str] = []

    def draw(n: int) -> float:
        started = time.perf_counter()
        response = client.post(
            f"/api/v1/projects/{codes[n]}/draws",
            json={"entropy": {"kind": "none"}},
            headers={**headers, "Idempotency-Key": f"hb-{run}-prof-{n}"},
        )
        elapsed = time.perf_counter() - started
        body = response.get_json() or {}
        if response.status_code != 201 or body.get("state") != "completed":
            raise RuntimeError(f"profiled draw: {response.status_code} {body}")
        drawn.append(body["id"])
        return elapsed

    # The first draw of a process reads the strata's experts (services.pool_universe), as a
    # server's first draw does; the timed draws are those that come after.
    with app.app_context():
        draw(0)
    timed = codes[1:-1]
    timer = StepTimer()
    sql = {"statements": 0.0, "seconds": 0.0}
    statements: list[tuple[float, str, int, str]] = []
    total = 0.0
    with app.app_context(), instrumented(timer, sql, statements):
        for n in range(1, len(codes) - 1):
            total += draw(n)
    count = max(1, len(timed))
    steps = [
        {
            "step": key,
            "ms": round(timer.totals[key] / count * 1e3, 1),
            "calls": round(timer.calls[key] / count, 1),
        }
        for key in timer.order
    ]
    result: dict[str, Any] = {
        "draws": len(timed),
        "request_ms": round(total / count * 1e3, 1),
        "sql_statements": round(sql["statements"] / count, 1),
        "sql_ms": round(sql["seconds"] / count * 1e3, 1),
        "steps": steps,
        "slowest_sql": [
            {"ms": round(t * 1e3, 1), "step": step, "parameters": bound, "statement": text}
            for t, step, bound, text in sorted(statements, reverse=True)[:8]
        ],
    }
    profiler = cProfile.Profile()
    with app.app_context():
        profiler.enable()
        result["profiled_request_ms"] = round(draw(len(codes) - 1) * 1e3, 1)
        profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).sort_stats("cumulative")
    stats.print_stats(r"expertdraw|sqlalchemy/orm/session|psycopg/cursor|cryptography", 45)
    result["cprofile_top"] = stream.getvalue()
    with app.app_context():
        result["hmac_floor"] = prescribed_hmacs(drawn[-1])
    if out is not None:
        path = out.with_suffix(".prof")
        stats.dump_stats(path)
        result["cprofile_file"] = str(path)
    return result


def prescribed_hmacs(draw_id: str) -> dict[str, Any]:
    """The HMACs draw.md prescribes for a completed draw, counted by replaying it, and their
    cost alone here (``bench.hmac_floor``)."""
    seed, prefixes = hmac_floor.count(draw_id)
    return {"draw": draw_id, **hmac_floor.cost(seed, prefixes)}


# -- the run ----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _report_floor(floor: dict[str, Any], database_ms: float | None) -> None:
    """The HMACs draw.md prescribes for one draw, and the rate two CPUs allow at their cost."""
    cpus = os.cpu_count() or 1
    ms = floor["selection_method_ms"]
    tags = ", ".join(f"{count} {tag}" for tag, count in floor["by_tag"].items())
    print(
        f"  the HMACs draw.md prescribes for draw {floor['draw']}: {floor['hmacs']} ({tags})"
        f" | {ms:.1f} ms of CPU alone by the selection's method"
        f" ({floor['hmac_digest_ms']:.1f} ms by hmac.digest)"
        f" | {cpus} CPUs at that cost alone: {cpus * 1000 / ms:.0f} draws/s"
    )
    if database_ms:
        budget = cpus * 1000 / TARGET_DRAWS_PER_SECOND
        print(
            f"    with PostgreSQL's {database_ms} ms per draw (throughput run):"
            f" {cpus * 1000 / (ms + database_ms):.0f} draws/s; {TARGET_DRAWS_PER_SECOND:.0f}"
            f" draws/s leaves {budget - ms - database_ms:.1f} ms of CPU per draw for the"
            f" rest of the server's work"
        )


def report(figures: dict[str, Any]) -> None:
    """Print each figure with its limit, the ratio and the target."""
    s = figures["scale"]
    seeded = f"seeded in {s['seed_seconds']:.0f} s" if s["seed_seconds"] else "reused"
    if s.get("draws"):
        seeded += f"; {s['draws']} earlier draws, {s['bookings']} bookings"
    print(
        f"\nscale: {s['experts']} experts, {s['expert_relations']} relations,"
        f" {s['venues']} venues, {s['workstations']} workstations ({seeded})"
    )
    lat = figures.get("latency")
    if lat and "p50_ms" in lat:
        print(
            f"draw latency, {lat['draws']} sequential draws: p50 {lat['p50_ms']:.0f} ms,"
            f" p99 {lat['p99_ms']:.0f} ms (min {lat['min_ms']:.0f}, max {lat['max_ms']:.0f})"
            f" | limit GET /health p50 {lat['health_p50_ms']:.1f} ms,"
            f" p99 {lat['health_p99_ms']:.1f} ms"
            f" | ratio p50 {lat['p50_ms'] / lat['health_p50_ms']:.0f}x"
            f" | target p50 ≤ {TARGET_P50_MS:.0f} ms: {_verdict(lat['p50_ms'] <= TARGET_P50_MS)},"
            f" p99 ≤ {TARGET_P99_MS:.0f} ms: {_verdict(lat['p99_ms'] <= TARGET_P99_MS)}"
        )
    elif lat:
        print(f"draw latency: no draw completed: {lat['outcomes']}")
    thr = figures.get("throughput")
    if thr:
        ceiling = thr["ceiling"]
        rate = thr["draws_per_second"]
        ratio = rate / ceiling["per_second"] if ceiling["per_second"] else float("nan")
        print(
            f"throughput, {thr['clients']} clients x {thr['seconds']} s, {figures['workers']}"
            f" workers x {figures['threads']} threads: {rate:.2f} draws/s"
            f" ({thr['completed_in_time']} completed in time, {thr['completed_after_deadline']}"
            f" after; under load p50 {thr['latency_under_load_p50_ms']} ms,"
            f" p99 {thr['latency_under_load_p99_ms']} ms;"
            f" clients' CPU {thr['client_cpu_seconds']} s)"
            f" | limit GET /health {ceiling['per_second']:.0f} req/s"
            f" (p50 {ceiling['p50_ms']} ms; clients' CPU {ceiling['client_cpu_seconds']} s"
            f" in {ceiling['seconds']} s)"
            f" | ratio {ratio:.3f}"
            f" | target ≥ {TARGET_DRAWS_PER_SECOND:.0f} draws/s:"
            f" {_verdict(rate >= TARGET_DRAWS_PER_SECOND)}"
        )
        print(f"  outcomes {thr['outcomes']}")
        if "cpu_bound_draws_per_second" in thr:
            print(
                f"  CPU per draw: server {thr['server_cpu_ms_per_draw']} ms, PostgreSQL"
                f" {thr['database_cpu_ms_per_draw']} ms | limit at that cost on"
                f" {os.cpu_count()} CPUs: {thr['cpu_bound_draws_per_second']} draws/s"
                f" | ratio {rate / thr['cpu_bound_draws_per_second']:.2f}"
            )
        if thr["ran_out_of_projects"]:
            print("  (the clients ran out of registered projects before the deadline)")
    prof = figures.get("profile")
    if prof:
        print(
            f"\none draw in-process (mean of {prof['draws']}): {prof['request_ms']:.0f} ms,"
            f" {prof['sql_statements']:.0f} SQL statements taking {prof['sql_ms']:.0f} ms"
        )
        for step in prof["steps"]:
            depth = step["step"].count("/")
            name = step["step"].rsplit("/", 1)[-1]
            calls = f" x{step['calls']:g}" if step["calls"] != 1 else ""
            print(f"  {'  ' * depth}{name}{calls}: {step['ms']:.1f} ms")
        floor = prof.get("hmac_floor")
        thr = figures.get("throughput") or {}
        if floor:
            _report_floor(floor, thr.get("database_cpu_ms_per_draw"))
        print("  slowest SQL statements (of all profiled draws):")
        for row in prof["slowest_sql"]:
            print(
                f"    {row['ms']:.0f} ms in {row['step'] or 'request'},"
                f" {row['parameters']} parameters: {row['statement'][:110]}"
            )
    print(f"load average now {scale.load_average()} (at start {figures['load_average_at_start']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=100_000, help="generated, after the seed's")
    parser.add_argument("--conflicts", type=int, default=1_000_000)
    parser.add_argument("--venues", type=int, default=500, help="of 4 rooms x 5 workstations")
    parser.add_argument("--draws", type=int, default=100, help="sequential draws (latency)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0, help="throughput run (0: skip)")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (2 per core)")
    parser.add_argument("--threads", type=int, default=1, help="per worker (1: no GIL sharing)")
    parser.add_argument("--warmup", type=int, default=4, help="draws before measuring")
    parser.add_argument("--request-timeout", type=float, default=900.0)
    parser.add_argument("--profile-draws", type=int, default=3, help="0: no profile")
    parser.add_argument("--database", help="reuse (or create and keep) this database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--pg", default=scale.ADMIN_URL, help="an admin URL of the server")
    parser.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    args = parser.parse_args(argv)

    figures: dict[str, Any] = {
        "benchmark": "draws through the HTTP API on PostgreSQL",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **scale.machine(),
        "workers": args.workers,
        "threads": args.threads,
        "strata": STRATA,
        "eligibility_rules": SERVER_CONFIG["ELIGIBILITY_RULES"],
        "targets": {
            "p50_ms": TARGET_P50_MS,
            "p99_ms": TARGET_P99_MS,
            "draws_per_second": TARGET_DRAWS_PER_SECOND,
        },
    }
    run = uuid.uuid4().hex[:6]
    broken: list[str] = []
    with scale.scratch_database(args.database, args.keep, args.pg, "expertdraw_http") as scratch:
        figures["database"] = scratch.name if scratch.kept else "(scratch, dropped)"
        app = scale.make_app(scratch, SERVER_CONFIG)
        with app.app_context():
            figures["scale"] = scale.prepare(args.experts, args.conflicts, args.venues)
            token, tenderer = _manager_token()
            warm = args.warmup + args.draws
            codes = register_projects(run, 0, warm, tenderer)
        log = Path(tempfile.gettempdir()) / f"http_bench-{run}.log"
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
            print(f"server at {server.url}, log {log}", flush=True)
            figures["settled_s"] = settled = settle(server)
            print(f"server processes idle after {settled} s (start-up warm-up done)", flush=True)
            if args.warmup:
                warmup = latency(server, token, codes[: args.warmup], run + "w")
                figures["warmup"] = warmup
                print(f"warm-up: {warmup['outcomes']}", flush=True)
            if args.draws:
                figures["latency"] = lat = latency(server, token, codes[args.warmup :], run)
                print(f"latency: { {k: v for k, v in lat.items() if k != 'draws_ms'} }", flush=True)
                if lat["outcomes"] != {"201 completed": args.draws}:
                    broken.append(f"latency draws: {lat['outcomes']}")
            if args.seconds > 0:
                p50 = figures.get("latency", {}).get("p50_ms")
                # Enough projects for 4 draws per p50 on each of two CPUs, and 25 % more.
                guess = min(200.0, 4000.0 / p50) if p50 else 100.0
                count = math.ceil(args.seconds * guess * 1.25) + args.clients
                started = time.perf_counter()
                with app.app_context():
                    more = register_projects(run, warm, count, tenderer)
                    scale.analyse()  # the latency run's draws and the new projects
                print(
                    f"registered {count} projects in {time.perf_counter() - started:.1f} s",
                    flush=True,
                )
                figures["throughput"] = thr = throughput(server, token, more, run + "t", args)
                print(f"throughput: {thr}", flush=True)
                bad = {k: v for k, v in thr["outcomes"].items() if k != "201 completed"}
                if bad:
                    broken.append(f"throughput draws: {bad}")
        finally:
            server.stop()
        if args.profile_draws > 0:
            with app.app_context():
                first = 99_999 - args.profile_draws
                codes = register_projects(run, first - 1, args.profile_draws + 2, tenderer)
            figures["profile"] = profile(app, token, codes, run, args.out)
        with app.app_context():
            from expertdraw.extensions import db

            db.engine.dispose()
    figures["load_average_at_end"] = scale.load_average()
    report(figures)
    if figures.get("profile"):
        print(
            "\ncProfile of one draw request (cumulative; in-process, profiler overhead included):"
        )
        print(figures["profile"]["cprofile_top"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    for problem in broken:
        print(f"PROBLEM: {problem} (server log: {log})", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
