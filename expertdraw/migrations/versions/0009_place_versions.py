"""Place versions: the generation of the venues, rooms and workstations.

Pool building keeps each province's active seats in memory (``services.seat_map``), so that a
draw at provincial scale reads only the seats booked in its window instead of ten thousand
workstations. Triggers, not application code, move the generation on, so that every writer
counts: the ORM, imports through COPY, and an administrator's SQL.

- ``place_versions``: one row; ``generation`` grows by one per transaction that changes a
  venue, a room or a workstation, in commit order. Processes key what they keep by the
  database's address and ``pool_versions.lineage`` too (migration 0007), so that another
  database at the same address never passes for this one.
- PostgreSQL: a deferred constraint trigger per changed row, which moves the generation on
  once per transaction (a transaction-local setting remembers it was done). Deferred to the
  commit, that update of the one ``place_versions`` row is the last lock a writer of places
  takes, so generations follow commit order and two such writers cannot deadlock on it.
  TRUNCATE moves it on too.
- SQLite: a trigger per row and event (SQLite has one writer at a time, so generations follow
  commit order anyway).

A later migration that rebuilds ``venues``, ``rooms`` or ``workstations`` on SQLite (batch
mode copies the table) must create these triggers again; tests/integration/test_seat_map.py
fails if they are missing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 13:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PLACES = ("venues", "rooms", "workstations")

POSTGRES_FUNCTION = """
CREATE FUNCTION expertdraw_places_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this text := txid_current()::text;
BEGIN
    IF current_setting('expertdraw.places_generation', true) IS DISTINCT FROM this THEN
        UPDATE place_versions SET generation = generation + 1 WHERE id = 1;
        PERFORM set_config('expertdraw.places_generation', this, true);
    END IF;
    RETURN NULL;
END $$
"""


def _sqlite_triggers() -> dict[str, str]:
    return {
        f"{table}_places_{event.lower()}": (
            f"CREATE TRIGGER {table}_places_{event.lower()} AFTER {event} ON {table} BEGIN "
            "UPDATE place_versions SET generation = generation + 1 WHERE id = 1; END"
        )
        for table in PLACES
        for event in ("INSERT", "UPDATE", "DELETE")
    }


def upgrade():
    op.create_table(
        "place_versions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_place_versions_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_versions")),
    )
    op.execute("INSERT INTO place_versions VALUES (1, 0)")
    if op.get_bind().dialect.name != "postgresql":
        for statement in _sqlite_triggers().values():
            op.execute(statement)
        return
    op.execute(POSTGRES_FUNCTION)
    for table in PLACES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_places_changed "
            f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION expertdraw_places_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_places_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION expertdraw_places_changed()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in PLACES:
            op.execute(f"DROP TRIGGER {table}_places_truncated ON {table}")
            op.execute(f"DROP TRIGGER {table}_places_changed ON {table}")
        op.execute("DROP FUNCTION expertdraw_places_changed()")
    else:
        for name in _sqlite_triggers():
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("place_versions")
