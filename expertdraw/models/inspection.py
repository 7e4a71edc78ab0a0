"""Inspection: periodic reports, expert-use alerts, random supervision samples (双随机).

- ``reports``: one daily / weekly / monthly report per period; ``content`` is the canonical
  JSON whose SHA-256 the ``report.issued`` ledger entry carries.
- ``alerts``: an expert over a use threshold (frequency, consecutive, refusal rate, no-show),
  raised by the daily job, acknowledged by a supervisor. ``evidence`` makes raising idempotent.
- ``inspections`` and ``inspection_witnesses``: a supervision sample drawn by the draw
  engine's method (commitment, witnesses' entropy, seed, HMAC order).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import EncryptedText, UTCDateTime

REPORT_KINDS = ("daily", "weekly", "monthly")
ALERT_KINDS = ("frequency", "consecutive", "refusal-rate", "no-show", "seated-conflict")
INSPECTION_STATES = ("announced", "drawn")


class Report(db.Model):
    """An inspection report of one period (local dates, ``period_end`` inclusive)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date]
    period_end: Mapped[date]
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    ledger_seq: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("kind", "period_start", name="uq_reports_period"),
        CheckConstraint("kind IN ('daily', 'weekly', 'monthly')", name="kind"),
    )

    @property
    def code(self) -> str:
        """The report's id in the ledger: ``daily-2027-02-20``."""
        return f"{self.kind}-{self.period_start.isoformat()}"


class Alert(db.Model):
    """An expert over an expert-use threshold; open until a supervisor acknowledges it."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    expert_code: Mapped[str] = mapped_column(String(32), index=True)
    evidence: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        UniqueConstraint("kind", "expert_code", "evidence", name="uq_alerts_evidence"),
        CheckConstraint(
            "kind IN ('frequency', 'consecutive', 'refusal-rate', 'no-show', 'seated-conflict')",
            name="kind",
        ),
    )


class Inspection(db.Model):
    """A random supervision sample: announced with a commitment, drawn with witnesses."""

    __tablename__ = "inspections"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    plan_hash: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    # Secret until the sample is drawn and the ledger reveals it.
    secret: Mapped[str] = mapped_column(EncryptedText)
    witnesses: Mapped[int]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seed: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("state IN ('announced', 'drawn')", name="state"),)


class InspectionWitness(db.Model):
    """A supervisor's witness value for a sample, in the order entered."""

    __tablename__ = "inspection_witnesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[str] = mapped_column(ForeignKey("inspections.id"), index=True)
    position: Mapped[int]
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    value: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("inspection_id", "supervisor_id", name="uq_inspection_witness"),
        UniqueConstraint("inspection_id", "position", name="uq_inspection_witness_position"),
    )
