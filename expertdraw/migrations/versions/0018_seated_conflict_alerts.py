"""Alerts of a new kind, ``seated-conflict``: a conflict declared by an expert who sits on a
committee whose evaluation has not ended.

Declaring a conflict with a party of that committee takes the expert off it at once, so the
declaration tells the expert whether an organisation is a party; supervisors see each one.
SQLite rebuilds the table (batch mode) to change the check; ``alerts`` has no triggers.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 01:10:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OLD = "kind IN ('frequency', 'consecutive', 'refusal-rate', 'no-show')"
NEW = "kind IN ('frequency', 'consecutive', 'refusal-rate', 'no-show', 'seated-conflict')"


def upgrade():
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_alerts_kind"), NEW)


def downgrade():
    op.execute("DELETE FROM alerts WHERE kind = 'seated-conflict'")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_alerts_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_alerts_kind"), OLD)
