"""Replaying a draw, its replacements and its supplementary draws from the ledger."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from ..domain import draw as engine
from ..extensions import db
from ..models import Draw, LedgerEntry
from . import draws
from .errors import Conflict


def _entries(draw_ids: list[str]) -> list[tuple[int, str, str, dict[str, Any]]]:
    rows = db.session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.type, LedgerEntry.draw_id, LedgerEntry.record)
        .where(LedgerEntry.draw_id.in_(draw_ids))
        .order_by(LedgerEntry.seq)
    )
    return [
        (seq, kind, draw_id, json.loads(rec)["entry"]["body"]) for seq, kind, draw_id, rec in rows
    ]


def replay_draw(draw: Draw) -> dict[str, Any]:
    """Recompute a root draw, its supplementary draws and every replacement, in ledger order.

    Returns ``{"draw", "state", "verdict", "difference", "replacements", "supplementary"}``.
    """
    if draw.root_id is not None:
        draw = draws.get_draw(draw.root_id)
    if draw.state == "announced":
        raise Conflict("conflict:draw-state", "an announced draw has nothing to replay yet")
    subs = list(db.session.scalars(sa.select(Draw.id).where(Draw.root_id == draw.id)))
    entries = _entries([draw.id, *subs])
    snapshots = {d: draws.snapshot_of(d) for d in [draw.id, *subs]}
    announced = {d: b for _, k, d, b in entries if k == "draw.announced"}
    difference = None
    completed: dict[str, Any] | None = None
    prior: list[dict[str, Any]] = []
    sub_members: list[dict[str, Any]] = []
    sub_ids: list[str] = []
    replaced = 0
    for _seq, kind, draw_id, body in entries:
        if difference:
            break
        if kind == "draw.announced" and draw_id != draw.id:
            sub_ids.append(draw_id)
        elif kind in ("draw.completed", "draw.failed"):
            difference = engine.replay(snapshots[draw_id], announced[draw_id], body)
            if difference:
                difference = f"{draw_id}: {difference}"
            elif draw_id == draw.id and kind == "draw.completed":
                completed = body
            elif kind == "draw.completed":
                group_of = {
                    c["id"]: c["group"]
                    for s in snapshots[draw_id]["strata"]
                    for c in s["candidates"]
                }
                sub_members += [{**m, "group": group_of[m["expert"]]} for m in body["members"]]
        elif kind == "draw.replaced" and completed is not None:
            difference = engine.replay_replacement(
                snapshots[draw.id],
                completed,
                prior,
                body,
                draw.algorithm,
                supplementary_members=sub_members,
                supplementary_draws=sub_ids,
            )
            if difference:
                difference = f"replacement {replaced + 1}: {difference}"
            prior.append(body)
            replaced += 1
    return {
        "draw": draw.id,
        "state": draw.state,
        "verdict": "match" if difference is None else "differs",
        "difference": difference,
        "replacements": replaced,
        "supplementary": len(subs),
    }
