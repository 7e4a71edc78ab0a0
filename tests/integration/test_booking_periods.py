"""The overlap of a booking's period with a window (``models.periods``): the same answer as
the two comparisons on both engines, and on PostgreSQL read from the held bookings' period
index (migration 0012) instead of every booking that ends after the window starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import combinations

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.migrations.sql import HELD_PERIOD_INDEX
from expertdraw.models import Booking
from expertdraw.models.periods import overlapping
from expertdraw.models.types import UTCDateTime
from expertdraw.services import seat_map

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))
HOURS = range(6)


def _at(hour: int, zone: timezone = UTC) -> datetime:
    return (T0 + timedelta(hours=hour)).astimezone(zone)


def test_overlapping_answers_as_the_two_comparisons(app):
    """Every period and window on a grid of hours, touching ends included; the window given
    in another time zone is the same instants."""
    statement = sa.select(
        overlapping(
            sa.bindparam("start", type_=UTCDateTime()),
            sa.bindparam("end", type_=UTCDateTime()),
            sa.bindparam("window_start"),
            sa.bindparam("window_end"),
        )
    )
    spans = list(combinations(HOURS, 2))  # every (a, b) with a < b
    answers = {}
    for a, b in spans:
        for c, d in spans:
            values = {
                "start": _at(a),
                "end": _at(b),
                "window_start": _at(c, BEIJING),
                "window_end": _at(d, BEIJING),
            }
            answers[a, b, c, d] = bool(db.session.execute(statement, values).scalar_one())
    expected = {(a, b, c, d): a < d and b > c for (a, b) in spans for (c, d) in spans}
    assert answers == expected
    assert any(answers.values()) and not all(answers.values())


def test_overlapping_takes_values_and_keeps_typed_parameters(app):
    """Values and untyped parameters take the column's type; a typed one is kept as it is."""
    typed = sa.bindparam("until", type_=sa.DateTime())
    clause = overlapping(Booking.start, Booking.end, _at(1, BEIJING), typed)
    window_start, window_end = list(clause.clauses)[2:]
    assert isinstance(window_start.type, UTCDateTime)
    assert window_end is typed
    untyped = overlapping(Booking.start, Booking.end, sa.bindparam("a"), sa.bindparam("b"))
    assert all(isinstance(c.type, UTCDateTime) for c in list(untyped.clauses)[2:])
    sqlite = str(clause.compile(dialect=sa.dialects.sqlite.dialect()))
    postgres = str(clause.compile(dialect=sa.dialects.postgresql.dialect()))
    assert "bookings.start <" in sqlite and 'bookings."end" >' in sqlite
    assert 'tsrange(bookings.start, bookings."end") && tsrange(' in postgres


@pytest.mark.postgres
def test_held_bookings_of_a_window_are_read_from_the_period_index(app):
    """The planner can answer the free seats' statement and the busy experts' clause from the
    period index; with the comparisons it could not (it read the end index's whole tail)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the period index is PostgreSQL's (SQLite keeps the comparisons)")
    window = {"start": _at(0), "end": _at(8)}
    busy = sa.select(Booking.expert_id).where(
        Booking.released_at.is_(None),
        overlapping(Booking.start, Booking.end, window["start"], window["end"]),
    )
    compared = sa.select(Booking.expert_id).where(
        Booking.released_at.is_(None), Booking.start < window["end"], Booking.end > window["start"]
    )
    with db.engine.connect() as conn:
        conn.execute(sa.text("SET enable_seqscan = off"))

        def plan(statement: sa.Select) -> str:
            text = statement.compile(conn, compile_kwargs={"literal_binds": True})
            return "\n".join(conn.exec_driver_sql(f"EXPLAIN {text}").scalars())

        def searched_by_period(text: str) -> bool:
            return HELD_PERIOD_INDEX in text and 'Index Cond: (tsrange(start, "end") &&' in text

        assert searched_by_period(plan(seat_map._BOOKED.params(window)))
        assert searched_by_period(plan(busy))
        assert not searched_by_period(plan(compared))  # at most a filter over the whole index
