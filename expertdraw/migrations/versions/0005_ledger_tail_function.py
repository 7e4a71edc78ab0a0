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
DECLARE
    last_seq bigint;
    last_leaf text;
    last_time text;
    verifier text;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT e.seq, e.leaf, e.time INTO last_seq, last_leaf, last_time
        FROM ledger_entries AS e ORDER BY e.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT k.verifier INTO verifier
        FROM signing_keys AS k WHERE k.to_seq IS NULL ORDER BY k.id DESC LIMIT 1;
    -- The head is read first, so each node is a primary-key look-up from constants whatever
    -- the statistics (one join of head, levels and nodes was planned, with stale statistics,
    -- with the level alone as index condition: a scan of a whole level per append).
    RETURN QUERY
    SELECT last_seq, last_leaf, last_time, w.level, n.hash, verifier
    FROM generate_series(62, 0, -1) AS w(level)
    LEFT JOIN ledger_nodes AS n
        ON n.level = w.level AND n."index" = (((last_seq + 1) >> w.level) - 1)::integer
    WHERE ((last_seq + 1) >> w.level) & 1 = 1
    ORDER BY w.level DESC;
END $$;
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAIL_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS expertdraw_ledger_tail(bigint)")
