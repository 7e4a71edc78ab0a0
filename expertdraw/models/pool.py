"""The expert pool: experts and the facts their eligibility depends on."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import EncryptedString, EncryptedText, UTCDateTime

EXPERT_STATUSES = ("active", "suspended", "retired", "removed")
EXPERT_KINDS = ("technical", "economic")


class Expert(db.Model):
    """An expert in the pool. Names, ID and phone numbers and e-mail addresses are encrypted;
    ``*_hash`` allow look-up."""

    __tablename__ = "experts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # Personal data (ledger.md §1), encrypted as the numbers and addresses below are.
    name: Mapped[str] = mapped_column(EncryptedString(600))
    id_number: Mapped[str] = mapped_column(EncryptedText)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    email: Mapped[str | None] = mapped_column(EncryptedString(1200))  # 200 characters
    home_region: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="active")
    qualification_expiry: Mapped[date | None]
    data_confirmed_on: Mapped[date | None]
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    specialties: Mapped[list[ExpertSpecialty]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended', 'retired', 'removed')", name="status"),
        CheckConstraint("kind IN ('technical', 'economic')", name="kind"),
        Index("ix_experts_status_region", "status", "home_region"),
        # Covers pool building (services.pool.build_pool), which reads these columns of every
        # expert of the requested specialties: far narrower than the rows, which carry
        # names and encrypted personal data, so the database scans the index alone.
        Index(
            "ix_experts_pool",
            "id",
            "code",
            "status",
            "home_region",
            "qualification_expiry",
            "data_confirmed_on",
            "employer_id",
        ),
    )


class ExpertSpecialty(db.Model):
    """A specialty an expert is qualified for."""

    __tablename__ = "expert_specialties"

    expert_id: Mapped[int] = mapped_column(
        ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True
    )
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"), primary_key=True)

    # The experts of a specialty, from the index alone (a stratum's universe).
    __table_args__ = (
        Index("ix_expert_specialties_specialty_expert", "specialty_code", "expert_id"),
    )


class Employment(db.Model):
    """A period of employment (or advising) with an organisation."""

    __tablename__ = "employments"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    relation: Mapped[str] = mapped_column(String(10), default="employee")
    start: Mapped[date]
    end: Mapped[date | None]

    __table_args__ = (
        CheckConstraint("relation IN ('employee', 'adviser')", name="relation"),
        CheckConstraint('"end" IS NULL OR "end" >= start', name="period"),
    )


class ExpertRelation(db.Model):
    """An organisation the expert is related to: a relative's employer or a declared conflict."""

    __tablename__ = "expert_relations"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(10))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("kind IN ('relative', 'declared')", name="kind"),
        db.UniqueConstraint("expert_id", "organisation_id", "kind", name="uq_expert_relation"),
        # The experts related to a project's parties, from the index alone.
        Index(
            "ix_expert_relations_organisation_kind_expert", "organisation_id", "kind", "expert_id"
        ),
    )


class Penalty(db.Model):
    """An administrative or criminal penalty, or a blacklist entry."""

    __tablename__ = "penalties"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    start: Mapped[date]
    end: Mapped[date | None]
    note: Mapped[str | None] = mapped_column(EncryptedText)  # about a named person

    __table_args__ = (
        CheckConstraint("kind IN ('administrative', 'criminal', 'blacklist')", name="kind"),
    )


class Leave(db.Model):
    """A declared period of unavailability."""

    __tablename__ = "leaves"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint('"end" > start', name="period"),
        # The leave overlapping a window, which every pool building reads (0010).
        Index("ix_leaves_end", "end", "start", "expert_id"),
    )


class PoolVersion(db.Model):
    """The generation of the pool data: one row, which database triggers (migration 0007)
    move on in every transaction that changes the experts' pool columns or specialties.

    Pool building keeps the experts of a request's universe in memory under a generation
    (``services.pool_universe``) and, before a draw, reads again only the experts that
    ``PoolChange`` names for the generations since. ``lineage`` is random, so that two
    databases created apart never pass for one another (a copy shares its lineage: processes
    key what they keep by the database's address too, and a database restored from a backup
    under a running service needs the service restarted, as for any other cache).
    """

    __tablename__ = "pool_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    lineage: Mapped[str] = mapped_column(String(36))
    generation: Mapped[int] = mapped_column(BigInteger)
    #: ``PoolChange`` holds every change of the generations after this one.
    kept_from: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class PoolChange(db.Model):
    """An expert whose pool data a generation changed (no foreign key: deletions count)."""

    __tablename__ = "pool_changes"

    generation: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    expert_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
