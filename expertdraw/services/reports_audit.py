"""The ledger part of a report: a full audit of an exported bundle, and the period's last
checkpoint checked against the one the previous report recorded.

The audit exports the whole ledger to a temporary folder and runs the same ``audit_bundle``
a supervisor runs offline. The consistency check proves (RFC 9162 §2.1.4) that the tree the
previous report saw is a prefix of today's: nothing the previous report counted has been
rewritten since.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..domain.bundle import audit_bundle
from ..domain.ledger import LedgerError
from ..domain.merkle import verify_consistency
from ..extensions import db
from ..models import Checkpoint
from . import ledger
from .export import write_bundle

MAX_PROBLEMS = 5


def audit() -> dict[str, Any]:
    """Export the ledger and audit the bundle: ``{"ok", "entries", "checkpoints", "problems"}``
    with at most ``MAX_PROBLEMS`` problem messages (each names the first bad place)."""
    with tempfile.TemporaryDirectory(prefix="expertdraw-audit-") as folder:
        bundle = Path(folder) / "bundle"
        write_bundle(bundle)
        report = audit_bundle(bundle)
    return {
        "ok": report.ok,
        "entries": report.summary.get("entries", 0),
        "checkpoints": report.summary.get("checkpoints", 0),
        "problems": [str(problem) for problem in report.problems[:MAX_PROBLEMS]],
    }


def checkpoint_before(end: datetime) -> Checkpoint | None:
    """The last checkpoint issued before ``end`` (the period's last checkpoint)."""
    return db.session.scalars(
        sa.select(Checkpoint).where(Checkpoint.issued_at < end).order_by(Checkpoint.id.desc())
    ).first()


def consistent(previous: dict[str, Any] | None, current: Checkpoint | None) -> dict[str, Any]:
    """Is ``current`` an extension of the ``previous`` report's checkpoint?

    ``{"previous_size", "size", "ok"}``; ``ok`` is None when there is nothing to compare
    (first report, or no checkpoint yet).
    """
    if previous is None or current is None:
        return {"previous_size": None, "size": current.size if current else None, "ok": None}
    old, new = previous["size"], current.size
    result = {"previous_size": old, "size": new, "ok": False}
    if old > new:
        return result
    try:
        proof = [bytes.fromhex(h) for h in ledger.consistency(old, new)] if old < new else []
    except LedgerError:
        return result
    result["ok"] = verify_consistency(
        old, new, bytes.fromhex(previous["root"]), bytes.fromhex(current.root), proof
    )
    return result


def ledger_section(end: datetime, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The report's ``ledger`` section: audit, the period's checkpoint, consistency."""
    current = checkpoint_before(end)
    return {
        "audit": audit(),
        "checkpoint": {"size": current.size, "root": current.root} if current else None,
        "consistency": consistent(previous, current),
    }
