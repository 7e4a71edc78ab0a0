"""The draw figures of a report, counted from the ledger's own entries.

Every number here is recomputable by anyone holding the export bundle: it counts entries of
the period by type (``time`` in ``[start, end)``) and reads their bodies. Rates are exact
strings ``"numerator/denominator"`` (never floats, never reduced), so ``"0/0"`` means
nothing to count.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..domain.ledger import parse_time
from ..extensions import db
from ..models import LedgerEntry

DRAW_TYPES = ("draw.announced", "draw.completed", "draw.failed", "draw.replaced")
NOTICE_TYPES = ("notice.sent", "notice.answered")


@dataclass(frozen=True)
class Row:
    """One ledger entry as the reports read it."""

    seq: int
    type: str
    time: str
    draw_id: str | None
    body: dict[str, Any]


def rows(begin: str, end: str, types: tuple[str, ...]) -> list[Row]:
    """Entries of ``types`` with ``begin <= time < end``, in ``seq`` order."""
    result = db.session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.type, LedgerEntry.time, LedgerEntry.record)
        .where(LedgerEntry.type.in_(types), LedgerEntry.time >= begin, LedgerEntry.time < end)
        .order_by(LedgerEntry.seq)
    )
    return [_row(seq, kind, time, record) for seq, kind, time, record in result]


def _row(seq: int, kind: str, time: str, record: str) -> Row:
    body = json.loads(record)["entry"]["body"]
    return Row(seq, kind, time, body.get("draw"), body)


def rate(numerator: int, denominator: int) -> str:
    """``"3/20"``: an exact, unreduced rate."""
    return f"{numerator}/{denominator}"


def draw_figures(period_rows: list[Row]) -> dict[str, Any]:
    """Draws requested / completed / failed (with reasons), replacements and answers."""
    kinds = Counter(r.type for r in period_rows)
    failures = Counter(r.body["reason"] for r in period_rows if r.type == "draw.failed")
    replaced = Counter(r.body["reason"] for r in period_rows if r.type == "draw.replaced")
    answers = Counter(r.body["answer"] for r in period_rows if r.type == "notice.answered")
    answered = kinds["notice.answered"]
    return {
        "draws": {
            "requested": kinds["draw.announced"],
            "supplementary": sum(
                1 for r in period_rows if r.type == "draw.announced" and "-R" in r.body["draw"]
            ),
            "completed": kinds["draw.completed"],
            "failed": kinds["draw.failed"],
            "failure_reasons": dict(sorted(failures.items())),
        },
        "replacements": {
            "count": kinds["draw.replaced"],
            "reasons": dict(sorted(replaced.items())),
            "rate": rate(kinds["draw.replaced"], kinds["notice.sent"]),
        },
        "notices": {
            "sent": kinds["notice.sent"],
            "answered": answered,
            "accepted": answers["accepted"],
            "declined": answers["declined"],
            "timeout": answers["timeout"],
            "refusal_rate": rate(answers["declined"], answered),
            "timeout_rate": rate(answers["timeout"], answered),
        },
    }


def _committee_rows(draw_id: str, end: str) -> list[Row]:
    result = db.session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.type, LedgerEntry.time, LedgerEntry.record)
        .where(
            LedgerEntry.draw_id == draw_id,
            LedgerEntry.type.in_(("draw.completed", "notice.answered", "draw.replaced")),
            LedgerEntry.time < end,
        )
        .order_by(LedgerEntry.seq)
    )
    return [_row(seq, kind, time, record) for seq, kind, time, record in result]


def confirmed_at(committee: list[Row]) -> tuple[str, str] | None:
    """``(completed time, fully confirmed time)`` of a committee, or None if not (yet).

    Fully confirmed: the first accepted answer after which every place of the committee
    (as many as the draw's members) is held by an expert who accepted and has not left.
    """
    completed = next((r for r in committee if r.type == "draw.completed"), None)
    if completed is None:
        return None
    places = len(completed.body["members"])
    accepted: set[str] = set()
    for row in committee:
        if row.seq < completed.seq:
            continue
        if row.type == "draw.replaced":
            accepted.discard(row.body["out"])
        elif row.type == "notice.answered":
            if row.body["answer"] != "accepted":
                accepted.discard(row.body["expert"])
                continue
            accepted.add(row.body["expert"])
            if len(accepted) >= places:
                return completed.time, row.time
    return None


def confirmation(period_rows: list[Row], begin: str, end: str) -> dict[str, Any]:
    """Median seconds from a draw's completion to its committee's full confirmation, over
    the committees fully confirmed in the period (``median_low``: a whole second)."""
    candidates = sorted(
        {
            r.draw_id
            for r in period_rows
            if r.type == "notice.answered" and r.body["answer"] == "accepted" and r.draw_id
        }
    )
    seconds: list[int] = []
    for draw_id in candidates:
        found = confirmed_at(_committee_rows(draw_id, end))
        if found is None or not begin <= found[1] < end:
            continue
        delta = parse_time(found[1]) - parse_time(found[0])
        seconds.append(int(delta.total_seconds()))
    return {
        "committees": len(seconds),
        "median_seconds": statistics.median_low(seconds) if seconds else None,
    }
