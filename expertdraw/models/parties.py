"""Organisations: tenderers, agencies, bidders, authorities and employers."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

ORGANISATION_KINDS = ("tenderer", "agency", "bidder", "authority", "employer")


class Organisation(db.Model):
    """An organisation identified by its unified social credit code (统一社会信用代码)."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    # The controlling organisation, for "controls or is controlled by" exclusions (walked
    # downwards from the parties at every pool building: indexed).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)

    __table_args__ = (
        CheckConstraint(
            "kind IN ('tenderer', 'agency', 'bidder', 'authority', 'employer')", name="kind"
        ),
        CheckConstraint("length(uscc) = 18", name="uscc_length"),
    )
