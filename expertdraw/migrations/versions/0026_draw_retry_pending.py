"""Failed supplementary draws remember that their retry is still to come: a process that
stopped between a draw's failure and the next ``D-R<n>`` left the place open for good.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-29 19:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    # In place (a batch operation would have SQLite rebuild the draws table, which many refer
    # to); the draws already failed had their retries run, or lost: nothing is pending.
    op.add_column(
        "draws",
        sa.Column("retry_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    op.drop_column("draws", "retry_pending")
