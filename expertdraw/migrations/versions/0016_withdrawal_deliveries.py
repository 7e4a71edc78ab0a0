"""Deliveries of a withdrawal: an expert told of a seat is told when it is withdrawn.

A delivery has a ``kind``: ``notice`` (every existing row) or ``withdrawal``. A channel may
then carry both for one notice, so the unique key becomes (notice, channel, kind). SQLite
rebuilds the table (batch mode); ``deliveries`` has no triggers to lose.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 00:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="notice")
        )
        batch_op.drop_constraint("uq_delivery_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_delivery_channel_kind", ["notice_id", "channel", "kind"]
        )
        batch_op.create_check_constraint("ck_deliveries_kind", "kind IN ('notice', 'withdrawal')")


def downgrade():
    op.execute("DELETE FROM deliveries WHERE kind = 'withdrawal'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("ck_deliveries_kind", type_="check")
        batch_op.drop_constraint("uq_delivery_channel_kind", type_="unique")
        batch_op.create_unique_constraint("uq_delivery_channel", ["notice_id", "channel"])
        batch_op.drop_column("kind")
