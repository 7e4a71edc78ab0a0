"""Projects, their parties and the strata of the committee they need."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime


class Project(db.Model):
    """One procurement whose bids are evaluated."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    tenderer_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    authority_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    bid_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    separation: Mapped[str] = mapped_column(String(8), default="venue")
    max_per_group: Mapped[int] = mapped_column(default=1)
    region_policy: Mapped[str] = mapped_column(String(24), default="exclude-prefecture")
    allow_no_entropy: Mapped[bool] = mapped_column(default=False)
    #: Representatives of the tenderer on the committee, beside the drawn experts (rules.md).
    tenderer_representatives: Mapped[int] = mapped_column(default=0, server_default="0")
    #: How the snapshots' group codes of this project are made: ``keyed`` (by the deployment's
    #: key), or ``plain`` for a project drawn before they were (migration 0015).
    group_codes: Mapped[str] = mapped_column(String(8), default="keyed", server_default="keyed")
    awarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    strata: Mapped[list[Stratum]] = relationship(
        order_by="Stratum.position", cascade="all, delete-orphan"
    )
    bidders: Mapped[list[ProjectBidder]] = relationship(cascade="all, delete-orphan")
    drafters: Mapped[list[ProjectDrafter]] = relationship(cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("separation IN ('venue', 'room')", name="separation"),
        CheckConstraint("max_per_group >= 1", name="max_per_group"),
        CheckConstraint("window_end > window_start", name="window"),
        # The evaluations near a window: the memberships ``frequency`` and ``same-tenderer``
        # count (migration 0021).
        Index("ix_projects_window_start", "window_start", "id"),
    )


class ProjectBidder(db.Model):
    """A bidder of a project."""

    __tablename__ = "project_bidders"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProjectDrafter(db.Model):
    """An expert who drafted or consulted on the project's documents (excluded: drafting)."""

    __tablename__ = "project_drafters"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), primary_key=True)


class Stratum(db.Model):
    """One line of the request: specialty, kind, count and alternates."""

    __tablename__ = "strata"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(32))
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"))
    kind: Mapped[str] = mapped_column(String(10))
    count: Mapped[int]
    alternates: Mapped[int]

    __table_args__ = (
        UniqueConstraint("project_id", "position", name="uq_strata_position"),
        UniqueConstraint("project_id", "name", name="uq_strata_name"),
        CheckConstraint("count >= 1 AND alternates >= 0", name="counts"),
    )
