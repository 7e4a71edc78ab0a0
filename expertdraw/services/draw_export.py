"""Draws of a period as a spreadsheet for supervisors: one row per draw, no member identities.

A row holds what the ledger already makes public about a draw: its id (and the draw it is a
supplementary draw of), the project code, when it was requested and announced (one moment:
the request announces the draw), its entropy deadline and end, state and failure reason, the
strata requested with their counts, the entropy kind, the commitment, the seed, and the size of
the first signed checkpoint that covers the draw's outcome (its ``draw.completed`` or
``draw.failed`` entry; its announcement while it waits for entropy), against which the draw's
receipts verify. Members, alternates and seats are never exported here: they are in the sealed
list, which opens only through ``sealed.open_list``.
"""

from __future__ import annotations

import bisect
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.styles import Font

from ..extensions import db
from ..models import Checkpoint, Draw, LedgerEntry, Project
from .errors import ServiceError

MAX_DAYS = 366
# Bounds come from local dates; a zone's daylight-saving change may add an hour to the span.
_MAX_SPAN = timedelta(days=MAX_DAYS, hours=1)
_CHUNK = 500
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | datetime | date | None


@dataclass(frozen=True)
class DrawSummary:
    """One draw of the export (times are aware UTC)."""

    id: str
    root_id: str | None
    project: str
    announced_at: datetime
    deadline_at: datetime
    finished_at: datetime | None
    state: str
    reason: str | None
    entropy_kind: str
    commitment: str
    seed: str | None
    checkpoint_size: int | None
    strata: list[dict[str, Any]] = field(default_factory=list)


def draws_between(start: datetime, end: datetime) -> list[DrawSummary]:
    """Draws announced in ``[start, end)``, oldest first.

    Raises:
        ServiceError: ``invalid:period`` (field ``to``) when ``end`` is not after ``start`` or
            the period is longer than ``MAX_DAYS`` days.
    """
    if end <= start or end - start > _MAX_SPAN:
        raise ServiceError(
            "invalid:period",
            f"a period ends after it starts and spans at most {MAX_DAYS} days",
            "to",
        )
    rows = db.session.execute(
        sa.select(Draw, Project.code)
        .join(Project, Project.id == Draw.project_id)
        .where(Draw.announced_at >= start, Draw.announced_at < end)
        .order_by(Draw.announced_at, Draw.id)
    ).all()
    ids = [draw.id for draw, _code in rows]
    requests, outcomes = _ledger_facts(ids)
    sizes = list(db.session.scalars(sa.select(Checkpoint.size).order_by(Checkpoint.size)))
    summaries = []
    for draw, code in rows:
        seq = outcomes.get(draw.id)
        covering = bisect.bisect_right(sizes, seq) if seq is not None else len(sizes)
        summaries.append(
            DrawSummary(
                id=draw.id,
                root_id=draw.root_id,
                project=code,
                announced_at=draw.announced_at,
                deadline_at=draw.deadline_at,
                finished_at=draw.finished_at,
                state=draw.state,
                reason=draw.reason,
                entropy_kind=str(draw.entropy.get("kind", "")),
                commitment=draw.commitment,
                seed=draw.seed,
                checkpoint_size=sizes[covering] if covering < len(sizes) else None,
                strata=requests.get(draw.id, []),
            )
        )
    return summaries


def _ledger_facts(ids: list[str]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Strata requested per draw (``draw.announced``), and the ``seq`` of each draw's latest
    deciding entry (announced, then completed or failed)."""
    requests: dict[str, list[dict[str, Any]]] = {}
    outcomes: dict[str, int] = {}
    kinds = ("draw.announced", "draw.completed", "draw.failed")
    for i in range(0, len(ids), _CHUNK):
        stmt = (
            sa.select(LedgerEntry.draw_id, LedgerEntry.type, LedgerEntry.seq, LedgerEntry.record)
            .where(LedgerEntry.draw_id.in_(ids[i : i + _CHUNK]), LedgerEntry.type.in_(kinds))
            .order_by(LedgerEntry.seq)
        )
        for draw_id, kind, seq, record in db.session.execute(stmt):
            outcomes[draw_id] = seq
            if kind == "draw.announced":
                body = json.loads(record)["entry"]["body"]
                requests[draw_id] = list(body.get("request", {}).get("strata", []))
    return requests, outcomes


def safe(value: Cell) -> Cell:
    """A text cell a spreadsheet would take for a formula is prefixed with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_xlsx(
    header: Sequence[str], rows: Iterable[Sequence[Cell]], about: Sequence[tuple[str, Cell]]
) -> bytes:
    """A workbook with sheet ``draws`` (bold header row, frozen) and sheet ``about`` (what the
    export is: ``(label, value)`` rows). Times must be naive local times; they are shown as
    ``yyyy-mm-dd hh:mm:ss``."""
    book = Workbook()
    sheet = book.active
    sheet.title = "draws"
    sheet.append([safe(h) for h in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for row in rows:
        sheet.append([safe(value) for value in row])
    for column in sheet.iter_cols(min_row=2):
        for cell in column:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
    for column in sheet.columns:
        letter = column[0].column_letter
        longest = max(len(str(c.value)) if c.value is not None else 0 for c in column)
        sheet.column_dimensions[letter].width = min(max(10, longest + 2), 70)
    info = book.create_sheet("about")
    for label, value in about:
        info.append([safe(label), safe(value)])
    info.column_dimensions["A"].width = 28
    info.column_dimensions["B"].width = 60
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
