"""Scheduler storage: the leadership lease, one row per job run, APScheduler's job store.

- ``scheduler_leases``: who may run jobs now. A holder keeps the lease by renewing it before
  ``expires_at``; ``epoch`` (the fencing token) grows by one each time leadership changes hands.
- ``job_runs``: one row per (job, slot); the unique key makes a slot run once however many
  instances race, and ``status``/``epoch`` let a later leader finish a run whose process died.
- ``apscheduler_jobs``: APScheduler's ``SQLAlchemyJobStore`` table, declared here (exactly as
  APScheduler defines it) so that migrations create it and the schema check covers it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    LargeBinary,
    String,
    Table,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

RUN_STATUSES = ("running", "done", "failed")


class SchedulerLease(db.Model):
    """A named lease; the scheduler's leader is the holder whose lease has not expired."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobRun(db.Model):
    """One run of a job for one slot (its scheduled time); at most one row per (job, slot)."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "slot"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in RUN_STATUSES) + ")", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8), index=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int]
    attempts: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(200))


# APScheduler 3's SQLAlchemyJobStore table, column for column; the job store keeps its own
# MetaData and creates the table only if missing (it never is: the migration made it).
apscheduler_jobs = Table(
    "apscheduler_jobs",
    db.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
