"""Pool versions: the generation of the experts' pool data, and the experts each one changed.

Pool building keeps the experts of a request's universe in memory (``services.pool_universe``),
so that a draw at provincial scale does not read 30,000 experts again; before a draw it reads
again only the experts changed since the generation it kept. Triggers, not application code,
record the changes, so that every writer counts: the ORM, bulk imports through COPY, and an
administrator's SQL.

- ``pool_versions``: one row. ``lineage`` is random, so that two databases created apart
  never pass for one another (a copy shares it: processes key what they keep by the
  database's address too, and a database restored under a running service needs the
  service restarted); ``generation`` grows by one per
  transaction that changes pool data, in commit order; ``pool_changes`` names every expert
  changed by the generations after ``kept_from`` (older ones are pruned as new ones come).
- PostgreSQL: deferred constraint triggers per changed row. The first in a transaction takes
  the next generation (a transaction-local setting remembers it); deferred to the commit,
  that update of the one ``pool_versions`` row is the last lock a transaction takes, so
  generations follow commit order, and writers of experts queue there only for the moment of
  their commit and cannot deadlock on it. TRUNCATE names no rows: it moves ``kept_from`` to
  its generation, so that every process reads its universes again.
- SQLite: a trigger per row and event, a generation per row (SQLite has one writer at a
  time, so generations follow commit order anyway).

Only the columns pool building reads count (``code``, ``status``, ``home_region``,
``qualification_expiry``, ``data_confirmed_on``, ``employer_id``): a changed name or phone
number is no change to the pool. A later migration that rebuilds ``experts`` or
``expert_specialties`` on SQLite (batch mode copies the table) must create these triggers
again; tests/integration/test_pool_universe.py fails if they are missing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Generations whose changes are kept; a process that kept a universe longer reads it again.
KEPT_GENERATIONS = 1000

POOL_COLUMNS = "code, status, home_region, qualification_expiry, data_confirmed_on, employer_id"
#: table -> (the UPDATE event that matters, the column naming the expert)
WATCHED = {
    "experts": (f"UPDATE OF {POOL_COLUMNS}", "id"),
    "expert_specialties": ("UPDATE", "expert_id"),
}

POSTGRES_GENERATION = f"""
CREATE FUNCTION expertdraw_pool_generation() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    mark text := current_setting('expertdraw.pool_generation', true);
    this text := txid_current()::text;
    taken bigint;
BEGIN
    IF split_part(mark, ':', 1) = this THEN
        RETURN split_part(mark, ':', 2)::bigint;
    END IF;
    UPDATE pool_versions
       SET generation = generation + 1,
           kept_from = greatest(kept_from, generation + 1 - {KEPT_GENERATIONS})
     WHERE id = 1
    RETURNING generation INTO taken;
    IF taken IS NULL THEN
        RETURN NULL;
    END IF;
    DELETE FROM pool_changes WHERE generation <= taken - {KEPT_GENERATIONS};
    PERFORM set_config('expertdraw.pool_generation', this || ':' || taken, true);
    RETURN taken;
END $$
"""

POSTGRES_ROW_FUNCTION = """
CREATE FUNCTION expertdraw_pool_{table}_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    taken bigint := expertdraw_pool_generation();
BEGIN
    IF taken IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO pool_changes VALUES (taken, OLD.{column}) ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO pool_changes VALUES (taken, NEW.{column}) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$
"""

POSTGRES_TRUNCATED = """
CREATE FUNCTION expertdraw_pool_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    taken bigint := expertdraw_pool_generation();
BEGIN
    UPDATE pool_versions SET kept_from = taken WHERE id = 1 AND taken IS NOT NULL;
    RETURN NULL;
END $$
"""


def _sqlite_triggers() -> dict[str, str]:
    triggers = {}
    for table, (update, column) in WATCHED.items():
        events = (("inserted", "INSERT", "NEW"), ("updated", update, "NEW"))
        events += (("deleted", "DELETE", "OLD"),)
        for name, event, row in events:
            changed = [f"{row}.{column}"] + ([f"OLD.{column}"] if name == "updated" else [])
            inserts = "".join(
                f"INSERT OR IGNORE INTO pool_changes SELECT generation, {expert} "
                "FROM pool_versions WHERE id = 1; "
                for expert in changed
            )
            triggers[f"{table}_pool_{name}"] = (
                f"CREATE TRIGGER {table}_pool_{name} AFTER {event} ON {table} BEGIN "
                "UPDATE pool_versions SET generation = generation + 1, "
                f"kept_from = max(kept_from, generation + 1 - {KEPT_GENERATIONS}) WHERE id = 1; "
                f"{inserts}"
                "DELETE FROM pool_changes WHERE generation <= "
                f"(SELECT generation - {KEPT_GENERATIONS} FROM pool_versions WHERE id = 1); "
                "END"
            )
    return triggers


def upgrade():
    op.create_table(
        "pool_versions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lineage", sa.String(length=36), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("kept_from", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_pool_versions_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_versions")),
    )
    op.create_table(
        "pool_changes",
        sa.Column("generation", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("expert_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("generation", "expert_id", name=op.f("pk_pool_changes")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    lineage = "gen_random_uuid()::text" if postgres else "lower(hex(randomblob(16)))"
    op.execute(f"INSERT INTO pool_versions VALUES (1, {lineage}, 0, 0)")
    if not postgres:
        for statement in _sqlite_triggers().values():
            op.execute(statement)
        return
    op.execute(POSTGRES_GENERATION)
    op.execute(POSTGRES_TRUNCATED)
    for table, (update, column) in WATCHED.items():
        op.execute(POSTGRES_ROW_FUNCTION.format(table=table, column=column))
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_pool_changed "
            f"AFTER INSERT OR DELETE OR {update} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"EXECUTE FUNCTION expertdraw_pool_{table}_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_pool_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION expertdraw_pool_truncated()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_pool_truncated ON {table}")
            op.execute(f"DROP TRIGGER {table}_pool_changed ON {table}")
            op.execute(f"DROP FUNCTION expertdraw_pool_{table}_changed()")
        op.execute("DROP FUNCTION expertdraw_pool_truncated()")
        op.execute("DROP FUNCTION expertdraw_pool_generation()")
    else:
        for name in _sqlite_triggers():
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("pool_changes")
    op.drop_table("pool_versions")
