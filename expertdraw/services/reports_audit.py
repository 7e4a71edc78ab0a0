"""The ledger part of a report: an audit of an exported bundle, the period's draws and
samples replayed, and the period's last checkpoint checked against the one the previous
report recorded.

The audit exports the whole ledger to a temporary folder and runs the same ``audit_bundle``
a supervisor runs offline, without its replay and entry signatures (their cost grows with
the whole ledger, every report): entry lines, leaves, the tree, checkpoints and their
signatures, keys. The draws finished in the period (each with its replacements and
supplementary draws) and the samples drawn in it are then replayed from their ledger
entries, so that every draw is replayed by the report of the period it finished in (a
supervisor's ``expertdraw.verify --replay`` replays them all). The consistency check proves
(RFC 9162 §2.1.4) that the tree the previous report saw is a prefix of today's: nothing the
previous report counted has been rewritten since.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..domain.bundle import audit_bundle
from ..domain.ledger import LedgerError, format_time
from ..domain.merkle import verify_consistency
from ..extensions import db
from ..models import Checkpoint, Draw, LedgerEntry
from . import ledger
from .errors import ServiceError
from .export import write_bundle

MAX_PROBLEMS = 5


def audit(begin: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """Export the ledger and audit the bundle, and replay the draws and samples finished in
    ``begin``..``end``: ``{"ok", "entries", "checkpoints", "problems", "replayed"}`` with at
    most ``MAX_PROBLEMS`` problem messages (each names the first bad place or draw)."""
    with tempfile.TemporaryDirectory(prefix="expertdraw-audit-") as folder:
        bundle = Path(folder) / "bundle"
        write_bundle(bundle)
        report = audit_bundle(bundle)
    differences: list[str] = []
    replayed = {"draws": 0, "samples": 0}
    if begin is not None and end is not None:
        replayed, differences = replay_period(begin, end)
    problems = [str(problem) for problem in report.problems] + differences
    return {
        "ok": report.ok and not differences,
        "entries": report.summary.get("entries", 0),
        "checkpoints": report.summary.get("checkpoints", 0),
        "problems": problems[:MAX_PROBLEMS],
        "replayed": replayed,
    }


#: The entries by which a committee changed: its draw's or a supplementary draw's result, or
#: a replacement.
COMMITTEE_CHANGES = ("draw.completed", "draw.failed", "draw.replaced")


def replay_period(begin: datetime, end: datetime) -> tuple[dict[str, int], list[str]]:
    """Replay, from their ledger entries, the committees with a result or a replacement
    (``draw.completed``, ``draw.failed``, ``draw.replaced``, of the draw or of a
    supplementary draw) and the samples whose ``inspection.drawn`` the ledger recorded in
    ``begin``..``end``: how many of each, and a message for each that differs."""
    from . import replay, sampling

    in_period = (
        LedgerEntry.time >= format_time(begin),
        LedgerEntry.time < format_time(end),
    )
    root = sa.func.coalesce(Draw.root_id, Draw.id)
    roots = db.session.scalars(
        sa.select(root)
        .join(LedgerEntry, LedgerEntry.draw_id == Draw.id)
        .where(LedgerEntry.type.in_(COMMITTEE_CHANGES), *in_period)
        .distinct()
        .order_by(root)
    ).all()
    drawn = db.session.scalars(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == "inspection.drawn", *in_period)
        .order_by(LedgerEntry.seq)
    )
    samples = list(dict.fromkeys(json.loads(r)["entry"]["body"].get("inspection") for r in drawn))
    differences: list[str] = []
    for draw_id in roots:
        try:
            verdict = replay.replay_draw(db.session.get(Draw, draw_id))
        except ServiceError as exc:
            differences.append(f"replay:draw {draw_id}: {exc}")
            continue
        if verdict["verdict"] != "match":
            differences.append(f"replay:draw {draw_id}: {verdict['difference']}")
    for inspection_id in samples:
        try:
            found = sampling.replay(inspection_id)
        except ServiceError as exc:
            found = [str(exc)]
        differences += [f"replay:sample {inspection_id}: {d}" for d in found]
    return {"draws": len(roots), "samples": len(samples)}, differences


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


def ledger_section(
    begin: datetime, end: datetime, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The report's ``ledger`` section: audit and replays, the period's checkpoint,
    consistency."""
    current = checkpoint_before(end)
    return {
        "audit": audit(begin, end),
        "checkpoint": {"size": current.size, "root": current.root} if current else None,
        "consistency": consistent(previous, current),
    }
