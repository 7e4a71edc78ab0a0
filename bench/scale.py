"""Shared by the HTTP benchmarks: a scratch PostgreSQL database at a given scale, the app on it,
and the small statistics they print.

``scratch_database(name, keep)`` creates a database on the local PostgreSQL server (``--pg``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) and drops it afterwards,
unless it is kept: ``--database NAME`` reuses (or creates, then keeps) a named database, with
its instance folder (signing key, data key, session secret) kept beside it in the temporary
folder, since the encrypted personal data and the ledger need the same keys on every run.

``prepare(...)`` migrates, creates the ledger, and seeds (``services.seed.seed`` with demo users,
``--experts``, ``--conflicts`` and ``--venues``) unless the database already holds that scale,
so that a reused database skips the minutes that seeding 100,000 experts takes; then it
vacuums and analyses (``analyse()``), as autovacuum would.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Scratch:
    """A benchmark database: its SQLAlchemy URL, name, instance folder, and whether it existed."""

    url: str
    name: str
    instance: str
    existed: bool
    kept: bool


@contextlib.contextmanager
def scratch_database(
    name: str | None, keep: bool, admin_url: str = ADMIN_URL, prefix: str = "expertdraw_bench"
) -> Iterator[Scratch]:
    """A database of our own: reused if ``name`` exists, kept if ``name`` or ``keep``."""
    kept = keep or name is not None
    name = name or f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        existed = bool(
            conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        )
        if not existed:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    if kept:
        instance = Path(tempfile.gettempdir()) / f"{name}-instance"
        instance.mkdir(exist_ok=True)
        temporary = None
    else:
        temporary = tempfile.mkdtemp(prefix=f"{name}-instance-")
        instance = Path(temporary)
    try:
        yield Scratch(url, name, str(instance), existed, kept)
    finally:
        if kept:
            print(f"database kept: {name} (reuse with --database {name})")
        else:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if temporary:
                shutil.rmtree(temporary, ignore_errors=True)
        admin.dispose()


def make_app(scratch: Scratch, config: dict[str, Any] | None = None) -> Any:
    """The benchmark process's own app on the scratch database (no scheduler)."""
    from expertdraw import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": scratch.url,
            "INSTANCE_PATH": scratch.instance,
            "SCHEDULER_ENABLED": False,
            **(config or {}),
        }
    )


def prepare(experts: int, conflicts: int, venues: int) -> dict[str, Any]:
    """Migrate, create the ledger, and seed to the asked scale unless it is there already.

    Runs in an app context. Returns the scale found and how long seeding took (0 if skipped).
    """
    from flask_migrate import upgrade

    from expertdraw.extensions import db
    from expertdraw.services import ledger, seed

    upgrade()  # a reused database gets the migrations added since it was seeded
    if ledger.create_log():
        db.session.commit()
    counts = _counts()
    seconds = 0.0
    if not _seeded(counts, experts, conflicts, venues):
        started = time.perf_counter()
        report = seed.seed(
            extra_experts=experts, conflicts=conflicts, venues=venues, with_users=True
        )
        seconds = time.perf_counter() - started
        print(f"seeded in {seconds:.1f} s: {report.inserted}", flush=True)
        counts = _counts()
    analyse()
    return {**counts, "seed_seconds": round(seconds, 1)}


def analyse() -> None:
    """``VACUUM ANALYZE`` the database, as autovacuum would have done by now.

    Runs in an app context. A reused database grows by thousands of draws per run, and a
    server with autovacuum off (this machine's shared one) would keep planning with the
    statistics of the first seeding: measurements would then show plans no deployment with
    autovacuum on (the default) would run.
    """
    from expertdraw.extensions import db

    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def _counts() -> dict[str, int]:
    from expertdraw.extensions import db

    # draws and bookings: what earlier runs on a reused database left (later runs read them)
    tables = (
        "experts",
        "expert_relations",
        "venues",
        "rooms",
        "workstations",
        "users",
        "draws",
        "bookings",
    )
    return {
        table: int(db.session.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
        for table in tables
    }


def _seeded(counts: dict[str, int], experts: int, conflicts: int, venues: int) -> bool:
    """Whether an earlier run seeded at least this scale (the seed's own rows included)."""
    from expertdraw.services.seed import generator

    base = generator().SEED_EXPERTS
    return (
        counts["experts"] >= base + experts
        # a few sampled relations coincide with the seed's and are skipped
        and counts["expert_relations"] >= conflicts * 0.99
        and counts["venues"] >= venues + 1
        and counts["workstations"] >= venues * 20
        and counts["users"] > 0
    )


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (0 < share <= 1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages right now (the machine is shared)."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_average(),
    }
