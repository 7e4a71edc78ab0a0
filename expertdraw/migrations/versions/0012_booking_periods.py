"""Booking periods: the held bookings found by the overlap of their period with a window.

Every draw reads the bookings held around its window: the experts they make busy (pool
building) and the workstations they take (the free seats); a replacement also reads the seats
taken since the snapshot. As comparisons of ``start`` and ``end``, the B-tree index of 0010
bounds only the end, so the database read every booking ending after the window starts: the
whole future of the calendar, thousands of bookings for a provincial centre.
These reads are now written as the overlap of ranges (``models.periods``), which this GiST
index over the held bookings' periods answers from the index alone.

PostgreSQL only, built concurrently (``CREATE INDEX CONCURRENTLY``, outside the migration's
transaction) so that draws go on while it is built; a build that fails leaves an invalid index
behind: drop it and run the upgrade again. SQLite has no range types and keeps the
comparisons and the index of 0010. The index is not in the models (SQLite cannot hold it);
``migrations.sql.include_name`` keeps schema comparisons from proposing to drop it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 18:00:00

"""

from alembic import op

from expertdraw.migrations.sql import HELD_PERIOD_INDEX

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {HELD_PERIOD_INDEX} ON bookings "
            'USING gist (tsrange(start, "end")) WHERE released_at IS NULL'
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {HELD_PERIOD_INDEX}")
