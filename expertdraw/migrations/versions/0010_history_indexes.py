"""History indexes: what every draw reads of past memberships, bookings and leave.

Every pool building reads the memberships of the rules' look-back (``frequency``,
``same-tenderer``: the last 30 days before the window), the bookings held around the window
(``busy``, the free seats) and the leave overlapping it. Without an index the database read
each of these tables whole, so a draw's cost grew with the centre's history (years of
memberships and bookings) instead of with what it looks at:

- ``members (joined_at, expert_id, draw_id)``: the memberships of a period, from the index;
- ``bookings ("end", start, expert_id, workstation_id)`` over the bookings held (not
  released): past bookings end before any window that can still be drawn;
- ``leaves ("end", start, expert_id)``: likewise for past leave.

On PostgreSQL they are built concurrently (``CREATE INDEX CONCURRENTLY``, outside the
migration's transaction), so that draws go on while they are built. A build that fails
leaves an invalid index behind: drop it and run the upgrade again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 14:00:00

"""

import contextlib

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HELD = sa.text("released_at IS NULL")


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    # On PostgreSQL the indexes are built concurrently, outside the migration's transaction:
    # a centre's database holds years of memberships and bookings, and a plain build would
    # stop every draw (they write both tables) for as long as it took.
    with op.get_context().autocommit_block() if postgres else contextlib.nullcontext():
        op.create_index(
            "ix_members_joined",
            "members",
            ["joined_at", "expert_id", "draw_id"],
            postgresql_concurrently=True,
        )
        op.create_index(
            "ix_bookings_held_end",
            "bookings",
            ["end", "start", "expert_id", "workstation_id"],
            postgresql_where=HELD,
            sqlite_where=HELD,
            postgresql_concurrently=True,
        )
        op.create_index(
            "ix_leaves_end", "leaves", ["end", "start", "expert_id"], postgresql_concurrently=True
        )


def downgrade():
    op.drop_index("ix_leaves_end", table_name="leaves")
    op.drop_index("ix_bookings_held_end", table_name="bookings")
    op.drop_index("ix_members_joined", table_name="members")
