"""Ledger appends: take the writers' lock and read the tail in one round trip (PostgreSQL).

``expertdraw_ledger_tail(lock_key)`` takes the transaction-level advisory lock that serialises
ledger writers, then returns what the next append needs: the last entry (seq, leaf, time), the
stored frontier nodes of the tree it ends (one per set bit ``l`` of the size ``n``, at index
``(n >> l) - 1``, highest level first) and the verifier of the current signing key. It is
VOLATILE, so the query after the lock runs with a fresh snapshot and sees the entries of the
writer that held the lock before. SQLite has one writer at a time and needs no function.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 06:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TAIL_FUNCTION = """
CREATE OR REPLACE FUNCTION expertdraw_ledger_tail(lock_key bigint)
RETURNS TABLE (
    tail_seq bigint, tail_leaf text, tail_time text, node_level integer, node_hash bytea,
    key_verifier text
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY
    WITH head AS (
        SELECT e.seq::bigint AS seq, e.leaf::text AS leaf, e.time::text AS time
        FROM ledger_entries AS e ORDER BY e.seq DESC LIMIT 1
    )
    SELECT head.seq, head.leaf, head.time, levels.level, n.hash,
        (SELECT k.verifier::text FROM signing_keys AS k WHERE k.to_seq IS NULL
         ORDER BY k.id DESC LIMIT 1)
    FROM head
    JOIN generate_series(0, 62) AS levels(level) ON ((head.seq + 1) >> levels.level) & 1 = 1
    LEFT JOIN ledger_nodes AS n
        ON n.level = levels.level AND n."index" = ((head.seq + 1) >> levels.level) - 1
    ORDER BY levels.level DESC;
END $$;
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAIL_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS expertdraw_ledger_tail(bigint)")
