"""Projects keep their tenderer's representatives on the committee.

A committee of four drawn experts and one representative of the tenderer is five, odd, and
four fifths experts (rules.md); the number was checked at registration but not kept, so the
record showed four members and a correction was refused. Projects registered before keep 0.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 04:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "projects",
        sa.Column("tenderer_representatives", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade():
    op.execute("ALTER TABLE projects DROP COLUMN tenderer_representatives")
