"""Pool building from PostgreSQL at provincial scale (issue: ≤ 100 ms for a 2-stratum request).

Creates a scratch database on the local PostgreSQL, loads the seed plus ``--experts`` generated
experts and ``--conflicts`` conflict relations, registers a typical project (one technical and
one economic stratum), then times ``services.pool.build_pool``. In the same run it times the
floor: the one SQL query that lists the stratum universes' expert ids (the least work any pool
builder must do), and prints both and their ratio.

    python bench/pool_bench.py [--experts 100000] [--conflicts 1000000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expertdraw import clock, create_app
from expertdraw.extensions import db

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=100_000)
    parser.add_argument("--conflicts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()

    name = f"expertdraw_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as instance:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance})
            with app.app_context():
                return _run(args)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _run(args: argparse.Namespace) -> int:
    from flask_migrate import upgrade

    from expertdraw.models import Organisation, Project, Stratum
    from expertdraw.services import draws, pool, seed
    from expertdraw.services.projects import strata_request

    upgrade()
    started = time.perf_counter()
    report = seed.seed(extra_experts=args.experts, conflicts=args.conflicts, with_users=False)
    load_seconds = time.perf_counter() - started
    experts = db.session.scalar(sa.text("SELECT count(*) FROM experts"))
    relations = db.session.scalar(sa.text("SELECT count(*) FROM expert_relations"))
    db.session.execute(sa.text("ANALYZE"))
    orgs = db.session.scalars(sa.select(Organisation).order_by(Organisation.id)).all()
    tenderer = next(o for o in orgs if o.kind == "tenderer")
    agency = next(o for o in orgs if o.kind == "agency")
    now = datetime(2026, 12, 1, tzinfo=UTC)
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

    with clock.frozen(now):
        build()
        floor()
        pool_ms = _timed(build, args.repeat)
        floor_ms = _timed(floor, args.repeat)
    p50, floor50 = statistics.median(pool_ms), statistics.median(floor_ms)
    figures = {
        "experts": experts,
        "relations": relations,
        "seed_seconds": round(load_seconds, 1),
        "seed_report_seconds": round(report.seconds, 1),
        "candidates": [len(s.candidates) for s in built.strata],
        "considered": [s.considered for s in built.strata],
        "pool_ms_p50": round(p50, 1),
        "pool_ms_max": round(max(pool_ms), 1),
        "floor_ms_p50": round(floor50, 1),
        "ratio": round(p50 / floor50, 2),
        "target_ms": 100,
    }
    print(f"pool of {experts} experts, {relations} relations (loaded in {load_seconds:.1f} s)")
    print(f"strata considered {figures['considered']}, candidates {figures['candidates']}")
    print(
        f"build_pool p50 {p50:.1f} ms (max {max(pool_ms):.1f}) | floor (universe query) "
        f"{floor50:.1f} ms | ratio {p50 / floor50:.2f} | target ≤ 100 ms"
    )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
