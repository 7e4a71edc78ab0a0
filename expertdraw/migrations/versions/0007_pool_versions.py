"""Pool versions: a stamp that changes whenever the experts' pool columns or specialties do.

Pool building keeps the experts of a request's universe in memory under this stamp
(``services.pool_universe``), so that a draw at provincial scale does not read 30,000 experts
again while none of them changed. Triggers, not application code, change the stamp, so that
every writer counts: the ORM, bulk imports through COPY, and an administrator's SQL.

- PostgreSQL: a deferred constraint trigger per changed row, which changes the stamp once per
  transaction (a transaction-local setting remembers it did). Deferred to the commit, the
  update of the one ``pool_versions`` row is the last lock a transaction takes, so writers of
  experts queue there only for the moment of their commit and cannot deadlock on it. TRUNCATE
  has a statement trigger of its own.
- SQLite: a trigger per row and event; SQLite has one writer at a time anyway.

Only the columns pool building reads count (``code``, ``status``, ``home_region``,
``qualification_expiry``, ``data_confirmed_on``, ``employer_id``): a changed name or phone
number leaves the stamp as it is. A later migration that rebuilds ``experts`` or
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

POOL_COLUMNS = "code, status, home_region, qualification_expiry, data_confirmed_on, employer_id"
WATCHED = {"experts": f"UPDATE OF {POOL_COLUMNS}", "expert_specialties": "UPDATE"}

POSTGRES_FUNCTION = """
CREATE FUNCTION expertdraw_pool_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('expertdraw.pool_changed_in', true)
            IS DISTINCT FROM txid_current()::text THEN
        UPDATE pool_versions SET stamp = gen_random_uuid()::text WHERE id = 1;
        PERFORM set_config('expertdraw.pool_changed_in', txid_current()::text, true);
    END IF;
    RETURN NULL;
END $$
"""

SQLITE_STAMP = "UPDATE pool_versions SET stamp = lower(hex(randomblob(16))) WHERE id = 1"


def _sqlite_triggers() -> dict[str, str]:
    triggers = {}
    for table, update in WATCHED.items():
        for name, event in (("inserted", "INSERT"), ("updated", update), ("deleted", "DELETE")):
            triggers[f"{table}_pool_{name}"] = (
                f"CREATE TRIGGER {table}_pool_{name} AFTER {event} ON {table} "
                f"BEGIN {SQLITE_STAMP}; END"
            )
    return triggers


def upgrade():
    op.create_table(
        "pool_versions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stamp", sa.String(length=36), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_pool_versions_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_versions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("INSERT INTO pool_versions (id, stamp) VALUES (1, gen_random_uuid()::text)")
        op.execute(POSTGRES_FUNCTION)
        for table, update in WATCHED.items():
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_pool_changed "
                f"AFTER INSERT OR DELETE OR {update} ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION expertdraw_pool_changed()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_pool_truncated AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION expertdraw_pool_changed()"
            )
    else:
        op.execute("INSERT INTO pool_versions (id, stamp) VALUES (1, lower(hex(randomblob(16))))")
        for statement in _sqlite_triggers().values():
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_pool_truncated ON {table}")
            op.execute(f"DROP TRIGGER {table}_pool_changed ON {table}")
        op.execute("DROP FUNCTION expertdraw_pool_changed()")
    else:
        for name in _sqlite_triggers():
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("pool_versions")
