"""Venues, their evaluation rooms and workstations."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db


class Venue(db.Model):
    """A trading-centre site (main or remote) where evaluations are held."""

    __tablename__ = "venues"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    address: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)

    rooms: Mapped[list[Room]] = relationship(back_populates="venue", order_by="Room.id")


class Room(db.Model):
    """An evaluation room (评标室) of a venue."""

    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)

    venue: Mapped[Venue] = relationship(back_populates="rooms")
    workstations: Mapped[list[Workstation]] = relationship(
        back_populates="room", order_by="Workstation.id"
    )


class Workstation(db.Model):
    """One evaluation seat (评标工位) in a room."""

    __tablename__ = "workstations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)

    room: Mapped[Room] = relationship(back_populates="workstations")


class PlaceVersion(db.Model):
    """The generation of the places: one row, which database triggers (migration 0009) move
    on in every transaction that changes a venue, a room or a workstation.

    Pool building keeps each province's active seats in memory under a generation
    (``services.seat_map``) and reads them again when it has moved on.
    """

    __tablename__ = "place_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
