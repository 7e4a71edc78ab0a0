"""Soak and faults, the long versions (``make soak``): crashes, database restarts, fuzzing.

- ``crash``: 10,000 draws through the API from 32 clients while the app processes (gunicorn,
  two workers) are SIGKILLed 20 times at random moments and restarted; then ``fail_stale``
  and every invariant of ``tests/faults/invariants.py`` (no partial draw, every booking of a
  completed draw, nothing lost that a client was told, the bundle audits with replay);
- ``db``: 2,000 draws from 32 clients while the database server is restarted 5 times
  (immediate and fast shutdowns alternately, outages of 0.5 to 3 s): every answer in time,
  every 5xx a problem+json during an outage, none once the database is back, the same
  invariants after;
- ``fuzz``: schemathesis against ``/api/v1/openapi.json`` as every role with many more cases
  than the test suite's run.

Each scenario brings its own PostgreSQL server (``initdb`` in a temporary folder, a free
port; never the machine's shared server); ``--sqlite`` runs crash and fuzz on SQLite instead.
The whole run is bounded by ``--minutes``: a scenario starts no new draw or operation after
its share of the time, and says so. The short versions of the same scenarios are the tests in
``tests/faults/``.

    python bench/soak.py [--only crash,db,fuzz] [--draws 10000] [--clients 32] [--kills 20]
                         [--restarts 5] [--db-draws 2000] [--fuzz-examples 25]
                         [--minutes 120] [--sqlite] [--seed N] [--out PATH] [--logs DIR]

Draws serialise on the ledger lock. With two workers the API completed about 23 draws a second
on a quiet two-core machine (10,000 draws and 20 kills in 7 minutes), and 4 to 6 on a busy
one, where 10,000 draws take about 40 minutes: hence the two hours by default.

Exit status 1 when a scenario found a problem: it is printed, and the server logs are copied
to ``--logs`` (default ``/tmp/expertdraw-soak-logs``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.fuzz import Fuzzer, seed
from tests.faults.invariants import recover_and_check
from tests.faults.load import Answer, DrawLoad, unclean
from tests.faults.pgcluster import TempCluster, find_binary
from tests.faults.scenario import SERVER_CONFIG, make_app, migrate, seed_centre
from tests.faults.server import AppServer

SHARES = {"crash": 0.55, "db": 0.3, "fuzz": 0.15}  # of --minutes


class Problem(Exception):
    """A property the soak checks does not hold."""


@contextmanager
def own_database(sqlite: bool, folder: Path) -> Iterator[tuple[str, TempCluster | None]]:
    """A fresh database: on a PostgreSQL server of our own, or a SQLite file."""
    if sqlite:
        yield f"sqlite:///{folder / 'soak.db'}", None
        return
    cluster = TempCluster().init()
    try:
        cluster.start()
        admin = sa.create_engine(cluster.url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE expertdraw"))
        admin.dispose()
        yield cluster.url("expertdraw"), cluster
    finally:
        cluster.cleanup()


def _answers_summary(answers: list[Answer]) -> dict[str, Any]:
    by_status = Counter(str(a.status or a.error) for a in answers)
    drawn = [a for a in answers if a.step == "draw" and a.status == 201]
    return {
        "requests": len(answers),
        "by_status": dict(sorted(by_status.items())),
        "draws_told": len(drawn),
        "told_completed": sum(a.state == "completed" for a in drawn),
        "told_failed": sum(a.state == "failed" for a in drawn),
    }


def _load(server: AppServer, seeded: Any, clients: int, draws: int, end: float) -> DrawLoad:
    return DrawLoad(
        server.url,
        seeded.token,
        seeded.tenderer,
        clients=clients,
        draws=draws,
        timeout=60.0,
        give_up_after=180.0,
        deadline=end,
    )


def _strike_points(load: DrawLoad, count: int, total: int, end: float) -> Iterator[int]:
    """Yield 1..count, each once ``total / (count + 1)`` more draws were answered."""
    step = max(1, total // (count + 1))
    for k in range(1, count + 1):
        load.wait_for(drawn=k * step, timeout=max(0.0, end - time.monotonic()))
        if not load.alive() or time.monotonic() > end:
            return
        yield k


def crash(args: argparse.Namespace, folder: Path, end: float, rng: random.Random) -> dict:
    """Draws under load while every app process is SIGKILLed ``--kills`` times."""
    with own_database(args.sqlite, folder) as (url, _cluster):
        app = make_app(url, folder / "instance")
        migrate(app)
        with app.app_context():
            seeded = seed_centre()
            server = AppServer(
                url,
                app.instance_path,
                folder / "crash-server.log",
                threads=8,
                config=SERVER_CONFIG,
                complete_delay=args.complete_delay,
            )
            server.start()
            load = _load(server, seeded, args.clients, args.draws, end)
            load.retry_server_errors = False
            started = time.monotonic()
            try:
                with load.running(join_timeout=max(60.0, end - time.monotonic() + 300)):
                    for _ in _strike_points(load, args.kills, args.draws, end):
                        time.sleep(rng.uniform(0.0, 1.0))
                        server.kill()
                        server.start()
            finally:
                server.stop()
            elapsed = time.monotonic() - started
            answers = load.snapshot()
            result: dict[str, Any] = {
                "seconds": round(elapsed, 1),
                "kills": server.kills,
                "stopped_early": load.started() < args.draws and time.monotonic() > end,
                **_answers_summary(answers),
            }
            result["draws_per_second"] = round(result["draws_told"] / max(elapsed, 1e-9), 2)
            problems = _vacuous(result, args.kills, "kills", args.draws)
            if load.hangs():
                problems.append(f"{len(load.hangs())} requests hung")
            errors = [a for a in answers if a.status is not None and a.status >= 500]
            if errors:
                problems.append(f"{len(errors)} 5xx with the database up, e.g. {errors[:3]}")
            recovery = recover_and_check(answers, folder / "crash-bundle")
            result["recovery"] = recovery.__dict__
            if problems:
                raise Problem("; ".join(problems) + f"\n{server.log()}")
            return result


def _vacuous(result: dict[str, Any], wanted: int, faults: str, draws: int) -> list[str]:
    """Problems that make a fault scenario's pass mean nothing: fewer faults struck than
    asked for, or hardly any draw made (a run whose draws are all refused strikes nothing)."""
    problems = []
    if result[faults] < wanted:
        problems.append(f"only {result[faults]} of the {wanted} {faults} asked for were made")
    if result["draws_told"] < (1 if result["stopped_early"] else max(1, draws // 2)):
        problems.append(f"only {result['draws_told']} of {draws} draws were made")
    return problems


def db_restarts(args: argparse.Namespace, folder: Path, end: float, rng: random.Random) -> dict:
    """Draws under load while the database server is restarted ``--restarts`` times."""
    if args.sqlite or find_binary("initdb") is None:
        return {"skipped": "needs PostgreSQL server binaries (initdb)"}
    with own_database(False, folder) as (url, cluster):
        assert cluster is not None
        app = make_app(url, folder / "instance")
        migrate(app)
        with app.app_context():
            seeded = seed_centre()
            server = AppServer(
                url,
                app.instance_path,
                folder / "db-server.log",
                threads=8,
                config=SERVER_CONFIG,
                complete_delay=args.complete_delay,
            )
            server.start()
            load = _load(server, seeded, args.clients, args.db_draws, end)
            outages: list[tuple[float, float]] = []
            started = time.monotonic()
            try:
                with load.running(join_timeout=max(60.0, end - time.monotonic() + 300)):
                    for k in _strike_points(load, args.restarts, args.db_draws, end):
                        time.sleep(rng.uniform(0.0, 1.0))
                        down = time.monotonic()  # requests fail from the first moment
                        cluster.stop("immediate" if k % 2 else "fast")
                        time.sleep(rng.uniform(0.5, 3.0))
                        cluster.start()
                        outages.append((down, time.monotonic()))
            finally:
                server.stop()
            elapsed = time.monotonic() - started
            answers = load.snapshot()
            result: dict[str, Any] = {
                "seconds": round(elapsed, 1),
                "restarts": len(outages),
                "stopped_early": load.started() < args.db_draws and time.monotonic() > end,
                "outage_seconds": [round(b - a, 2) for a, b in outages],
                **_answers_summary(answers),
            }
            problems = _vacuous(result, args.restarts, "restarts", args.db_draws)
            if load.hangs():
                problems.append(f"{len(load.hangs())} requests hung")
            lost = [a for a in answers if a.status is None]
            if lost:
                problems.append(f"{len(lost)} requests lost their connection: {lost[:3]}")
            failed = [a for a in answers if a.status is not None and a.status >= 500]
            # A request in flight at any moment of an outage may fail (sent before, answered
            # after); one wholly outside every outage may not.
            outside = [a for a in failed if not any(a.sent <= b and a.at >= x for x, b in outages)]
            if outside:
                problems.append(f"{len(outside)} 5xx outside an outage, e.g. {outside[:3]}")
            if unclean(failed):
                problems.append(f"unclean 5xx (not problem+json), e.g. {unclean(failed)[:3]}")
            if outages and not any(
                a.step == "draw" and a.status == 201 and a.sent > outages[-1][1] for a in answers
            ):
                problems.append("no draw was made after the last restart: the app did not recover")
            recovery = recover_and_check(answers, folder / "db-bundle")
            result["recovery"] = recovery.__dict__
            if problems:
                raise Problem("; ".join(problems) + f"\n{server.log()}\n{cluster.server_log()}")
            return result


def fuzz(args: argparse.Namespace, folder: Path, end: float, rng: random.Random) -> dict:
    """Schemathesis as every role, ``--fuzz-examples`` valid and invalid cases per pair."""
    with own_database(args.sqlite, folder) as (url, _cluster):
        app = make_app(url, folder / "instance")
        migrate(app)
        with app.app_context():
            known, users = seed(app)
            fuzzer = Fuzzer(app, known, users)
            started = time.monotonic()
            fuzzer.run(
                allowed=args.fuzz_examples,
                negative=args.fuzz_examples,
                forbidden=max(1, args.fuzz_examples // 10),
                deadline=end,
            )
            result = {
                "seconds": round(time.monotonic() - started, 1),
                "cases": sum(fuzzer.cases.values()),
                "by_status": dict(sorted(fuzzer.statuses.items())),
                "stopped_early": fuzzer.stopped_early,
            }
            if fuzzer.failures:
                raise Problem("\n\n".join(fuzzer.failures))
            least = 1 if fuzzer.stopped_early else 10 * args.fuzz_examples
            if result["cases"] < least:
                raise Problem(f"only {result['cases']} cases ran (at least {least} expected)")
            return result


def _keep_logs(folder: str, args: argparse.Namespace) -> str:
    """Copy the scenario's server logs out of its temporary folder; returns where to."""
    target = args.logs / f"{Path(folder).name}"
    target.mkdir(parents=True, exist_ok=True)
    for log in Path(folder).glob("*.log"):
        shutil.copy(log, target / log.name)
    return str(target)


SCENARIOS: dict[str, Callable[..., dict]] = {"crash": crash, "db": db_restarts, "fuzz": fuzz}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="crash,db,fuzz", help="comma-separated scenarios")
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--db-draws", type=int, default=2_000, help="draws of the db scenario")
    parser.add_argument("--fuzz-examples", type=int, default=25)
    parser.add_argument("--complete-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--minutes", type=float, default=120.0, help="bound of the whole run")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument(
        "--logs",
        type=Path,
        default=Path(tempfile.gettempdir()) / "expertdraw-soak-logs",
        help="where the server logs of a failed scenario are kept",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    seed_value = args.seed if args.seed is not None else time.time_ns() % 1_000_000
    rng = random.Random(seed_value)
    total_share = sum(SHARES[name] for name in chosen)
    results: dict[str, Any] = {
        "seed": seed_value,
        "cpus": os.cpu_count(),
        "database": "sqlite" if args.sqlite else "postgresql (own server)",
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "logs")},
    }
    failed = False
    print(f"soak: seed {seed_value}, {os.cpu_count()} CPUs, bounded by {args.minutes} min")
    for name in chosen:
        budget = args.minutes * 60 * SHARES[name] / total_share
        end = time.monotonic() + budget
        print(f"--- {name} (at most {budget / 60:.1f} min)", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"soak-{name}-") as folder:
            try:
                results[name] = SCENARIOS[name](args, Path(folder), end, rng)
            except (Problem, AssertionError) as exc:
                failed = True
                results[name] = {"failed": str(exc)[:20000], "logs": _keep_logs(folder, args)}
                print(f"FAILED: {str(exc)[:4000]}", flush=True)
            except Exception:
                failed = True
                results[name] = {"failed": traceback.format_exc(), "logs": _keep_logs(folder, args)}
                print(f"ERROR:\n{traceback.format_exc()}", flush=True)
        print(json.dumps(results[name], indent=2, default=str)[:4000], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    skipped = [name for name in chosen if "skipped" in results[name]]
    if failed:
        print("soak: FAILED")
    elif skipped:
        print(f"soak: INCOMPLETE, skipped: {', '.join(skipped)}")
    else:
        print("soak: passed")
    return 1 if failed or skipped else 0


if __name__ == "__main__":
    raise SystemExit(main())
