"""Ledger entries indexed by type and seq: the last entry of a type, from the index alone.

Before every draw announcement the service reads the last ``rules.changed`` entry (the rules
the ledger records, ``services.rules_record``). With an index on ``type`` alone, the database
may instead walk the whole log backwards by ``seq`` looking for one; over ``(type, seq)`` it is
one index probe. The new index also serves every query the old one served.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 23:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_ledger_entries_type_seq", "ledger_entries", ["type", "seq"])
    op.drop_index("ix_ledger_entries_type", table_name="ledger_entries")


def downgrade():
    op.create_index("ix_ledger_entries_type", "ledger_entries", ["type"])
    op.drop_index("ix_ledger_entries_type_seq", table_name="ledger_entries")
