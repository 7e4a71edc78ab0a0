"""Announcements: one live root draw per project in the schema; numbering read with the lock.

- ``uq_draws_live_root``: a unique index on ``project_id`` over the root draws that are
  announced or completed, so that the database itself refuses a second live draw of a
  project. Announcing then checks that (and a retried idempotency key, already unique) before
  the ledger lock only, and learns of a concurrent announcement from these keys.
- PostgreSQL: ``expertdraw_ledger_tail_draw(lock_key, low, high)`` takes the ledger writers'
  lock, reads the year's last root draw id (between ``low`` and ``high``) and returns it
  beside what ``expertdraw_ledger_tail`` returns: an announcement takes the lock, learns its
  draw number and the ledger's tail in one round trip. It is VOLATILE, so the id is read
  after the lock, with a fresh snapshot that sees the draw of the previous lock holder.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 11:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LIVE = sa.text("root_id IS NULL AND state IN ('announced', 'completed')")

TAIL_DRAW_FUNCTION = """
CREATE OR REPLACE FUNCTION expertdraw_ledger_tail_draw(lock_key bigint, low text, high text)
RETURNS TABLE (
    tail_seq bigint, tail_leaf text, tail_time text, node_level integer, node_hash bytea,
    key_verifier text, last_draw text
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_id text;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT d.id INTO last_id FROM draws AS d
        WHERE d.id BETWEEN low AND high AND d.root_id IS NULL
        ORDER BY d.id DESC LIMIT 1;
    RETURN QUERY SELECT t.*, last_id FROM expertdraw_ledger_tail(lock_key) AS t;
END $$;
"""


def upgrade():
    op.create_index(
        "uq_draws_live_root",
        "draws",
        ["project_id"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAIL_DRAW_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS expertdraw_ledger_tail_draw(bigint, text, text)")
    op.drop_index("uq_draws_live_root", table_name="draws")
