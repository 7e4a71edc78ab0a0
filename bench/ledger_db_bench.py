"""Ledger append rates on SQLite and PostgreSQL (signed entries per second).

One entry per transaction and ten per transaction (as a draw writes several), from 1 and from
8 concurrent writer processes. Each configuration gets a fresh database with a created log.
The floor printed beside them is this machine's Ed25519 signing rate measured in the same run:
every entry is signed, so no append rate can exceed it.

    python bench/ledger_db_bench.py [--seconds 5] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BODY = {"expert": "E0000001", "field": "status", "from": "active", "to": "suspended"}


def _writer(
    url: str, instance: str, per_tx: int, seconds: float, ready: mp.Queue, go: object, out: mp.Queue
) -> None:
    from expertdraw import create_app
    from expertdraw.extensions import db
    from expertdraw.services import ledger

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance})
    written = 0
    with app.app_context():
        ledger.size()  # connect before the clock starts
        db.session.rollback()
        ready.put(1)
        go.wait()  # type: ignore[attr-defined]
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(per_tx):
                ledger.append(
                    "pool.changed", {**BODY, "reason": "bench"}, {"role": "admin", "id": "B"}
                )
            db.session.commit()
            written += per_tx
        elapsed = time.perf_counter() - started
    out.put((written, elapsed))


def _fresh(kind: str, folder: Path) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.db'}", None
    name = f"expertdraw_lbench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", (admin, name)


def _drop(handle: object) -> None:
    if handle is None:
        return
    admin, name = handle
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def measure(kind: str, per_tx: int, writers: int, seconds: float) -> float:
    """Signed entries per second for one configuration."""
    from flask_migrate import upgrade

    from expertdraw import create_app
    from expertdraw.extensions import db
    from expertdraw.services import ledger

    with tempfile.TemporaryDirectory() as folder:
        url, handle = _fresh(kind, Path(folder))
        try:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": folder})
            with app.app_context():
                upgrade()
                ledger.create_log()
                db.session.commit()
                db.engine.dispose()
            ctx = mp.get_context("spawn")
            ready: mp.Queue = ctx.Queue()
            out: mp.Queue = ctx.Queue()
            go = ctx.Event()
            procs = [
                ctx.Process(target=_writer, args=(url, folder, per_tx, seconds, ready, go, out))
                for _ in range(writers)
            ]
            for proc in procs:
                proc.start()
            for _ in procs:
                ready.get(timeout=300)
            go.set()
            results = [out.get(timeout=seconds + 300) for _ in procs]
            for proc in procs:
                proc.join()
            return sum(n for n, _ in results) / max(t for _, t in results)
        finally:
            _drop(handle)


def sign_rate(seconds: float = 1.0) -> float:
    """Ed25519 signatures per second on this machine (the per-entry floor)."""
    key = Ed25519PrivateKey.generate()
    message = b"expertdraw/entry/v1\x00" + bytes(32)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            key.sign(message)
        count += 200
    return count / (time.perf_counter() - started)


def commit_rate(seconds: float = 2.0) -> float:
    """Durable commits per second on PostgreSQL: one small INSERT and COMMIT each, as an
    append transaction ends. Every transaction of appends pays one, so ten entries per
    transaction cannot be written faster than ten times this rate from one writer."""
    url, handle = _fresh("postgresql", Path("."))
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (n integer)"))
        count, started = 0, time.perf_counter()
        with engine.connect() as conn:
            while time.perf_counter() - started < seconds:
                conn.execute(sa.text("INSERT INTO t VALUES (1)"))
                conn.commit()
                count += 1
        rate = count / (time.perf_counter() - started)
        engine.dispose()
        return rate
    finally:
        _drop(handle)


def run(seconds: float) -> dict[str, float]:
    """Every configuration; keys like ``postgresql/10-per-tx/8-writers``."""
    figures = {"ed25519_sign_per_s": round(sign_rate(), 0)}
    figures["postgresql_commits_per_s"] = round(commit_rate(), 0)
    for kind in ("sqlite", "postgresql"):
        for per_tx in (1, 10):
            for writers in (1, 8):
                rate = measure(kind, per_tx, writers, seconds)
                figures[f"{kind}/{per_tx}-per-tx/{writers}-writers"] = round(rate, 0)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    figures = run(args.seconds)
    floor = figures["ed25519_sign_per_s"]
    commits = figures["postgresql_commits_per_s"]
    print(f"Ed25519 sign rate (floor): {floor:.0f}/s")
    print(
        f"PostgreSQL durable commits: {commits:.0f}/s "
        f"(10 per transaction: at most {10 * commits:.0f} entries/s from one writer)"
    )
    for name, rate in figures.items():
        if "/" in name:
            target = " (target ≥ 2000)" if name.startswith("postgresql/10") else ""
            extra = ""
            if name.startswith("postgresql/"):
                per_tx = int(name.split("/")[1].split("-")[0])
                extra = f", of the commit limit {rate / (per_tx * commits):.2f}"
            print(
                f"{name:36s} {rate:8.0f} entries/s  "
                f"ratio to floor {rate / floor:.2f}{extra}{target}"
            )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
