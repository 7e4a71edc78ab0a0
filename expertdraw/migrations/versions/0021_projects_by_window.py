"""Projects by their window start: the memberships ``frequency`` and ``same-tenderer`` count.

A membership is dated by the evaluation it sits on (its project's window start), not by its
draw, and the two rules count the memberships of evaluations starting within their spans of
a draw's window, before or after it (``eligibility_rules.recent_span``). Every pool building
reads them, so ``projects (window_start, id)`` finds those projects from the index instead
of reading the table whole.

On PostgreSQL the index is built concurrently, as in 0010, so that draws go on meanwhile.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 10:30:00

"""

import contextlib

from alembic import op

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.get_context().autocommit_block() if postgres else contextlib.nullcontext():
        op.create_index(
            "ix_projects_window_start",
            "projects",
            ["window_start", "id"],
            postgresql_concurrently=True,
        )


def downgrade():
    op.drop_index("ix_projects_window_start", table_name="projects")
