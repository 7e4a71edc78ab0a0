"""Organisations by their parent: control is followed down to any depth.

``party-employer`` and ``authority`` count the organisations below a party at any depth
(``services.control``), so every pool building walks ``parent_id`` downwards from the
parties, one step a level; ``organisations (parent_id)`` finds each level's units from the
index instead of reading the table whole.

On PostgreSQL the index is built concurrently, as in 0010, so that draws go on meanwhile.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-29 19:20:00

"""

import contextlib

from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.get_context().autocommit_block() if postgres else contextlib.nullcontext():
        op.create_index(
            "ix_organisations_parent_id",
            "organisations",
            ["parent_id"],
            postgresql_concurrently=True,
        )


def downgrade():
    op.drop_index("ix_organisations_parent_id", table_name="organisations")
