"""Projects say how their group codes are made: keyed by the deployment, or plain.

Group codes became keyed (``services.pool.group_key``). A project already drawn keeps the
plain codes of its first draw, so that its supplementary draws give each employer the same
code (draw.md §2) and group limits still compare across them; every other project, and every
new one, is keyed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 00:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "projects",
        sa.Column("group_codes", sa.String(length=8), nullable=False, server_default="keyed"),
    )
    op.execute(
        "UPDATE projects SET group_codes = 'plain' "
        "WHERE id IN (SELECT DISTINCT project_id FROM draws)"
    )


def downgrade():
    op.execute("ALTER TABLE projects DROP COLUMN group_codes")
