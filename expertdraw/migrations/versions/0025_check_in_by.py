"""Check-ins remember who made them: the same desk entering a code twice in a moment (a
double click) is the one check-in, not a second person with the same code.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29 19:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    # A plain column, added and dropped in place: a foreign key, or a batch operation, would
    # have SQLite rebuild the notices table, which the deliveries refer to (user accounts are
    # closed, never deleted).
    op.add_column("notices", sa.Column("checked_in_by", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("notices", "checked_in_by")
