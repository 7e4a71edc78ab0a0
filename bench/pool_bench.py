"""Pool building from PostgreSQL at provincial scale (issue: ≤ 100 ms for a 2-stratum request).

Creates a scratch database on the local PostgreSQL, loads the seed plus ``--experts`` generated
experts and ``--conflicts`` conflict relations, registers a typical project (one technical and
one economic stratum), vacuums and analyses it (as autovacuum would), then times
``services.pool.build_pool`` three ways: as a server builds it with the universe's experts
kept in memory (``services.pool_universe``) and unchanged since the last draw; after
``--changes`` of them changed their data (read again, alone); and after an import, when the
whole universe is read again. In the same run, interleaved, it times the
floor: the one SQL query per stratum that lists the universe's expert ids (the least a pool
builder that reads the universe must do). It prints p50 and p95 of each, their ratios, the
CPU time each took in this process (and in Python's garbage collector) and in the database
backend, and the machine's load average: on a loaded machine the wall times mostly measure
the wait for a CPU.

    python bench/pool_bench.py [--experts 100000] [--conflicts 1000000] [--repeat 15]

Seeding 100,000 experts and 1,000,000 relations takes a minute or two, so ``--keep`` keeps the
scratch database (its name is printed) and ``--database NAME`` reuses a database seeded by an
earlier ``--keep`` run: it is created and seeded only if it does not exist yet, and kept.

    python bench/pool_bench.py --database expertdraw_bench_scale   # first run seeds, later reuse
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import math
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expertdraw import clock, create_app
from expertdraw.extensions import db
from expertdraw.models import Expert, ExpertSpecialty, Organisation, Project, Stratum

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Timer:
    """Wall time of a call, the CPU time it took here and in the database backend, and the
    part of it that Python's garbage collector took.

    On a loaded machine the wall time mostly measures waiting for a CPU; the CPU times
    (this process, plus the backend's from /proc/<pid>/schedstat when the server is local)
    show the work itself, which is what an idle machine would take. Each call starts after a
    full collection, so that no call pays for collecting what the previous one left.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.gc: list[float] = []
        self.backend: list[float] = []

    def time(self, fn: Callable[[], object], backend: Path | None) -> None:
        gc.collect()
        collecting = _CollectorTime()
        before = _schedstat(backend)
        cpu, started = time.process_time(), time.perf_counter()
        with collecting:
            fn()
        self.wall.append((time.perf_counter() - started) * 1000)
        self.cpu.append((time.process_time() - cpu) * 1000)
        self.gc.append(collecting.ms)
        after = _schedstat(backend)
        if before is not None and after is not None:
            self.backend.append(after - before)

    def figures(self) -> dict[str, float | None]:
        backend = statistics.median(self.backend) if self.backend else None
        return {
            "p50": round(statistics.median(self.wall), 1),
            "p95": round(_percentile(self.wall, 0.95), 1),
            "max": round(max(self.wall), 1),
            "cpu_p50": round(statistics.median(self.cpu), 1),
            "gc_p50": round(statistics.median(self.gc), 1),
            "gc_max": round(max(self.gc), 1),
            "backend_cpu_p50": None if backend is None else round(backend, 1),
        }


class _CollectorTime:
    """CPU milliseconds spent in Python's garbage collector while the context is open."""

    def __init__(self) -> None:
        self.ms = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.ms += (time.process_time() - self._started) * 1000

    def __enter__(self) -> _CollectorTime:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def _schedstat(path: Path | None) -> float | None:
    """Milliseconds on a CPU so far of the process whose schedstat file this is."""
    try:
        return int(path.read_text().split()[0]) / 1e6 if path else None
    except (OSError, ValueError, IndexError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=100_000)
    parser.add_argument("--conflicts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--changes", type=int, default=20, help="experts changed between two timed builds"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--database",
        default=None,
        help="reuse this database if it exists (seeded by an earlier run), else create and "
        "seed it; it is kept either way",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one build")
    parser.add_argument(
        "--result", type=Path, default=None, help="write the built pool as JSON (to compare)"
    )
    args = parser.parse_args()

    name = args.database or f"expertdraw_bench_{uuid.uuid4().hex[:8]}"
    keep = args.keep or args.database is not None
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with _instance(name if keep else None) as instance:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance})
            with app.app_context():
                return _run(args)
    finally:
        if keep:
            print(f"database kept: {name} (reuse with --database {name})")
        else:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def _instance(kept: str | None) -> Iterator[str]:
    """The app's instance folder: a temporary one, or one beside a kept database (its keys)."""
    if kept is None:
        with tempfile.TemporaryDirectory() as folder:
            yield folder
        return
    folder = Path(tempfile.gettempdir()) / f"{kept}-instance"
    folder.mkdir(exist_ok=True)
    yield str(folder)


def _project(now: datetime) -> Project:
    """The typical request: one technical and one economic stratum, tenderer and agency."""
    orgs = db.session.scalars(sa.select(Organisation).order_by(Organisation.id)).all()
    tenderer = next(o for o in orgs if o.kind == "tenderer")
    agency = next(o for o in orgs if o.kind == "agency")
    window = now + timedelta(days=10)
    project = Project(
        code="P-BENCH",
        name="bench",
        tenderer_id=tenderer.id,
        agency_id=agency.id,
        region_code="530602",
        window_start=window,
        window_end=window + timedelta(hours=8),
        created_at=now,
    )
    project.strata = [
        Stratum(
            position=0,
            name="technical",
            specialty_code="A0101",
            kind="technical",
            count=4,
            alternates=2,
        ),
        Stratum(
            position=1,
            name="economic",
            specialty_code="C0301",
            kind="economic",
            count=1,
            alternates=1,
        ),
    ]
    db.session.add(project)
    db.session.commit()
    return project


def _universe_ids(specialty_codes: list[str]) -> sa.Select[tuple[int]]:
    return sa.select(ExpertSpecialty.expert_id).where(
        ExpertSpecialty.specialty_code.in_(specialty_codes)
    )


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 15 runs is the 15th value)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _run(args: argparse.Namespace) -> int:
    from flask_migrate import upgrade

    from expertdraw.services import draws, pool, pool_universe, seed
    from expertdraw.services.projects import strata_request

    upgrade()  # on a reused database, applies the migrations added since it was seeded
    now = datetime(2026, 12, 1, tzinfo=UTC)
    project = db.session.scalar(sa.select(Project).where(Project.code == "P-BENCH"))
    load_seconds = report_seconds = 0.0
    if project is None:
        started = time.perf_counter()
        report = seed.seed(extra_experts=args.experts, conflicts=args.conflicts, with_users=False)
        load_seconds, report_seconds = time.perf_counter() - started, report.seconds
        project = _project(now)
    db.session.commit()
    # What autovacuum does to a live database (it is off on some test machines): statistics,
    # and the visibility map that lets queries read covering indexes without the rows.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (ANALYZE)"))
    experts = db.session.scalar(sa.text("SELECT count(*) FROM experts"))
    relations = db.session.scalar(sa.text("SELECT count(*) FROM expert_relations"))
    request = strata_request(project)
    rules = draws.rules()
    codes = [pool.specialty_codes_under(s["specialty"]) for s in request]

    def floor() -> None:
        for specialty_codes in codes:
            db.session.execute(
                sa.text(
                    "SELECT DISTINCT expert_id FROM expert_specialties "
                    "WHERE specialty_code = ANY(:codes)"
                ),
                {"codes": specialty_codes},
            ).all()

    built = None

    def build() -> None:
        nonlocal built
        built = pool.build_pool(project, request, rules, family="D-BENCH")

    def build_cold() -> None:
        pool_universe.forget()  # as after an import: read the universe again
        build()

    universe_ids = [i for codes_of in codes for i in db.session.scalars(_universe_ids(codes_of))]
    rng = random.Random(7)

    def confirm_some() -> None:
        """Between two draws, ``--changes`` experts of the strata confirm their data."""
        chosen = rng.sample(universe_ids, min(args.changes, len(universe_ids)))
        db.session.execute(
            sa.update(Expert)
            .where(Expert.id.in_(chosen))
            .values(data_confirmed_on=now.date() - timedelta(days=rng.randrange(400)))
        )
        db.session.commit()

    pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
    backend = Path(f"/proc/{pid}/schedstat")
    with clock.frozen(now):
        build()
        floor()
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(build)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        # Interleaved, so that a change in the machine's load weighs on both alike.
        pooled, changed, cold, floored = Timer(), Timer(), Timer(), Timer()
        for _ in range(args.repeat):
            pooled.time(build, backend)
            confirm_some()
            changed.time(build, backend)
            cold.time(build_cold, backend)
            floored.time(floor, backend)
        build()  # leaves the universe in memory, as a server has it
    if db.session.scalar(sa.text("SELECT pg_backend_pid()")) != pid:
        for timer in (pooled, changed, cold, floored):
            timer.backend = []  # another connection's: not the figures of this one
    pool_figures, changed_figures, cold_figures = (
        pooled.figures(),
        changed.figures(),
        cold.figures(),
    )
    floor_figures = floored.figures()
    load = os.getloadavg()
    figures = {
        "experts": experts,
        "relations": relations,
        "seed_seconds": round(load_seconds, 1),
        "seed_report_seconds": round(report_seconds, 1),
        "candidates": [len(s.candidates) for s in built.strata],
        "considered": [s.considered for s in built.strata],
        "excluded": built.excluded,
        "repeat": args.repeat,
        **{f"pool_ms_{k}": v for k, v in pool_figures.items()},
        "changes_between_builds": args.changes,
        **{f"changed_ms_{k}": v for k, v in changed_figures.items()},
        **{f"cold_ms_{k}": v for k, v in cold_figures.items()},
        **{f"floor_ms_{k}": v for k, v in floor_figures.items()},
        "ratio": round(pool_figures["p50"] / floor_figures["p50"], 2),
        "changed_ratio": round(changed_figures["p50"] / floor_figures["p50"], 2),
        "cold_ratio": round(cold_figures["p50"] / floor_figures["p50"], 2),
        "target_ms": 100,
        "load_average": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
    }
    loaded = f"loaded in {load_seconds:.1f} s" if load_seconds else "reused"
    print(f"pool of {experts} experts, {relations} relations ({loaded})")
    print(f"strata considered {figures['considered']}, candidates {figures['candidates']}")
    print(f"excluded {built.excluded}")
    for name, f in (
        ("build_pool, universe in memory, unchanged", pool_figures),
        (f"build_pool, {args.changes} of its experts changed since", changed_figures),
        ("build_pool, universe read in full (as after an import)", cold_figures),
        ("floor (universe query)", floor_figures),
    ):
        backend_cpu = f["backend_cpu_p50"]
        work = f"cpu p50 {f['cpu_p50']} ms here (garbage collector {f['gc_p50']} ms)" + (
            f" + {backend_cpu} ms in the database" if backend_cpu is not None else ""
        )
        print(
            f"{name}: p50 {f['p50']} ms, p95 {f['p95']} ms, max {f['max']} ms "
            f"(n={args.repeat}) | {work}"
        )
    print(
        f"ratio (p50) {figures['ratio']} unchanged, {figures['changed_ratio']} changed, "
        f"{figures['cold_ratio']} read in full | target ≤ 100 ms"
    )
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    if args.result:
        result = {
            "strata": [
                {
                    "name": s.name,
                    "considered": s.considered,
                    "stale_share": s.stale_share,
                    "candidates": s.candidates,
                }
                for s in built.strata
            ],
            "excluded": built.excluded,
            "stale_blocked": built.stale_blocked,
            "venues": built.venues,
        }
        args.result.write_text(json.dumps(result, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
