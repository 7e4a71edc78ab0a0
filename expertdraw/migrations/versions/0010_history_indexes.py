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

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HELD = sa.text("released_at IS NULL")


def upgrade():
    op.create_index("ix_members_joined", "members", ["joined_at", "expert_id", "draw_id"])
    op.create_index(
        "ix_bookings_held_end",
        "bookings",
        ["end", "start", "expert_id", "workstation_id"],
        postgresql_where=HELD,
        sqlite_where=HELD,
    )
    op.create_index("ix_leaves_end", "leaves", ["end", "start", "expert_id"])


def downgrade():
    op.drop_index("ix_leaves_end", table_name="leaves")
    op.drop_index("ix_bookings_held_end", table_name="bookings")
    op.drop_index("ix_members_joined", table_name="members")
