"""Ledger storage: entries, stored subtree hashes, checkpoints, keys, snapshots.

Entries, checkpoints and snapshots are append-only: database triggers refuse UPDATE and
DELETE on them (see the initial migration).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

APPEND_ONLY_TABLES = ("ledger_entries", "ledger_nodes", "checkpoints", "snapshots")


class LedgerEntry(db.Model):
    """One entry; ``record`` is its exact bundle line (ledger.md §5) without the newline."""

    __tablename__ = "ledger_entries"
    # The last entry of a type is one probe (migration 0013).
    __table_args__ = (Index("ix_ledger_entries_type_seq", "type", "seq"),)

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(40))
    time: Mapped[str] = mapped_column(String(24))
    draw_id: Mapped[str | None] = mapped_column(String(48), index=True)
    leaf: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(8))
    record: Mapped[str] = mapped_column(Text)


class LedgerNode(db.Model):
    """Hash of a complete perfect subtree: leaves [index*2^level, (index+1)*2^level)."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(db.Model):
    """A signed checkpoint (C2SP signed note) exactly as issued."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(index=True)
    root: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Cosignature(db.Model):
    """A supervisor's signature line added to a checkpoint after checking consistency."""

    __tablename__ = "cosignatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verifier_key: Mapped[str] = mapped_column(String(200))
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SigningKey(db.Model):
    """A public verifier key of the log and the ``seq`` range it signs; never deleted."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    key_id: Mapped[str] = mapped_column(String(8))
    verifier: Mapped[str] = mapped_column(String(200), unique=True)
    from_seq: Mapped[int]
    to_seq: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Snapshot(db.Model):
    """A draw's snapshot: exactly ``C(snapshot)``, whose SHA-256 the announcement carries."""

    __tablename__ = "snapshots"

    draw_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[str] = mapped_column(Text)


class BeaconPulse(db.Model):
    """A beacon pulse exactly as received, kept with the draw that used it."""

    __tablename__ = "beacon_pulses"

    draw_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
