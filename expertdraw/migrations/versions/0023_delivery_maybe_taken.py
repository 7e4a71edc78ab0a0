"""Deliveries remember whether any attempt may have reached the expert: a withdrawal is sent
only then (two refusals in a row never brought the notice; the attempt count alone said
they might have).

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29 16:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("maybe_taken", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # What earlier attempts did is not known for the rows already there: as before, more than
    # one attempt, or a delivery done, counts as may have reached the expert.
    op.execute(
        "UPDATE deliveries SET maybe_taken = true WHERE attempts > 1 OR status = 'delivered'"
    )


def downgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("maybe_taken")
