"""Reference data: regions (GB/T 2260) and specialties (4-level code tree)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Region(db.Model):
    """A GB/T 2260 division: province (XX0000), prefecture (XXXX00) or county."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)

    __table_args__ = (
        CheckConstraint("level IN ('province', 'prefecture', 'county')", name="level"),
        CheckConstraint("length(code) = 6", name="code_length"),
    )


class Specialty(db.Model):
    """A specialty code, e.g. A (works) > A01 > A0101 > A010101."""

    __tablename__ = "specialties"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int]
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("specialties.code"), index=True)

    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 4", name="level"),)
