"""Operations endpoints: ``/health`` (public JSON) and ``/metrics`` (Prometheus text).

``/health`` answers 200 when the service can do its job and 503 otherwise:

- ``database``: the database answers ``SELECT 1``;
- ``signing_key``: the log has a current key and its private key file is in the instance;
- ``checkpoint``: the latest checkpoint's size and age in seconds; it is *overdue* when
  entries arrived after it and it is older than ``HEALTH_CHECKPOINT_MAX_AGE_SECONDS``
  (default three checkpoint intervals): the checkpoint job is not running;
- ``scheduler``: who holds the scheduler lease (``scheduler_leases``), informative only:
  a web-only instance runs no scheduler, and another host may be the leader.

``/metrics`` needs ``Authorization: Bearer <METRICS_TOKEN>`` when the token is set, and is
refused in production without one; in development without a token it is open. Both answer
counts and codes only.
"""

from __future__ import annotations

import hmac
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, json, request
from sqlalchemy.exc import SQLAlchemyError

from . import clock


def _database() -> bool:
    from .extensions import db

    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        return True
    except (SQLAlchemyError, OSError):
        db.session.rollback()
        return False


def _scheduler() -> dict[str, Any]:
    from .services import leases

    name = current_app.config.get("SCHEDULER_LEASE_NAME", "scheduler")
    try:
        state = leases.state(name)
    except SQLAlchemyError:
        return {"leader": None, "lease": "unavailable"}
    if state is None:
        return {"leader": None, "lease": "never-taken"}
    valid = state.holder is not None and state.expires_at > datetime.now(UTC)
    return {
        "leader": state.holder if valid else None,
        "lease": "held" if valid else "expired",
        "epoch": state.epoch,
    }


def _signing_key() -> bool:
    from .services import keys

    row = keys.current_row()
    if row is None:
        return False
    return (Path(current_app.instance_path) / keys.KEY_DIR / f"{row.key_id}.pem").is_file()


def _checkpoint() -> dict[str, Any]:
    from .services import ledger

    latest = ledger.latest_checkpoint()
    if latest is None:
        return {"size": None, "age_seconds": None, "behind": None, "overdue": True}
    age = int((clock.now() - latest.issued_at).total_seconds())
    behind = ledger.size() - latest.size
    interval = current_app.config.get("CHECKPOINT_INTERVAL_SECONDS", 300)
    limit = current_app.config.get("HEALTH_CHECKPOINT_MAX_AGE_SECONDS") or 3 * interval
    return {
        "size": latest.size,
        "age_seconds": age,
        "behind": behind,
        "overdue": behind > 0 and age > limit,
    }


def warm_in_background(app: Flask) -> threading.Thread | None:
    """Read, in a thread of this process, the experts and seats most likely drawn next (of
    the projects awaiting their draw, then of those drawn last: ``services.pool.
    warm_universes``), and dry-run the likeliest next project (its statements compiled, its
    day's verdicts judged), so that the process's first draws are as fast as the later
    ones. For a server process as it starts (``wsgi.py``); only on PostgreSQL, where readers
    do not hold back writers. A failure is logged and changes nothing."""

    def warm() -> None:
        from .extensions import db
        from .services import draws, pool

        with app.app_context():
            try:
                if db.engine.dialect.name != "postgresql":
                    return
                read = pool.warm_universes()
                project = pool.likeliest_next()
                if project is not None:
                    draws.dry_run(project)  # writes nothing
                db.session.rollback()
                app.logger.info("pool warm-up: %d strata sets read", read)
            except Exception:  # a warm-up never stops the server
                app.logger.exception("pool warm-up failed")
            finally:
                db.session.remove()

    thread = threading.Thread(target=warm, name="expertdraw-pool-warm-up", daemon=True)
    thread.start()
    return thread


def health_report() -> tuple[dict[str, Any], bool]:
    """The health document and whether the service is healthy."""
    from .extensions import db

    if not _database():
        return {"status": "unavailable", "database": False}, False
    try:
        scheduler = _scheduler()  # its own connection: before the session's transaction
        key = _signing_key()
        checkpoint = _checkpoint()
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "unavailable", "database": False}, False
    finally:
        db.session.rollback()
    healthy = key and not checkpoint["overdue"]
    report = {
        "status": "ok" if healthy else "unavailable",
        "database": True,
        "signing_key": key,
        "checkpoint": checkpoint,
        "scheduler": scheduler,
    }
    return report, healthy


def _metrics_allowed() -> bool:
    """Without ``METRICS_TOKEN`` the figures are open in development only: in production
    they show what is under way (pending notices, draws by state) and need the token."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return not current_app.config.get("PRODUCTION")
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def init_app(app: Flask) -> None:
    """Register ``/health`` and ``/metrics`` on the app."""

    @app.get("/health")
    def health() -> Response:
        report, healthy = health_report()
        if not _metrics_allowed():
            # Which host and process lead the scheduler is for the operators (the metrics
            # token), not for anyone who asks.
            scheduler = report.get("scheduler")
            if isinstance(scheduler, dict) and scheduler.get("leader"):
                scheduler["leader"] = "hidden"
        response = Response(
            json.dumps(report), status=200 if healthy else 503, mimetype="application/json"
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        from . import metrics

        if not _metrics_allowed():
            return Response("metrics need a bearer token\n", status=401, mimetype="text/plain")
        body, content_type = metrics.render()
        response = Response(body, status=200, content_type=content_type)
        response.headers["Cache-Control"] = "no-store"
        return response
