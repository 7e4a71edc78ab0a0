"""List opening tokens: a purpose form sent twice at once records one opening of the list.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29 14:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "list_opening_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("draw_id", sa.String(length=48), nullable=False),
        sa.Column("page", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=300), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_list_opening_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_list_opening_tokens")),
    )
    with op.batch_alter_table("list_opening_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_list_opening_tokens_created_at"), ["created_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("list_opening_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_opening_tokens_created_at"))
    op.drop_table("list_opening_tokens")
