"""Employer codes in the pool data: an organisation's changed USCC changes its employees.

Pool building keeps, with each expert of a universe, the USCC of the expert's employer (the
basis of the candidate's group code, draw.md §2), so that a draw no longer reads the
employers' codes from ``organisations`` every time. The application never changes a USCC
(it is how it finds an organisation), but an administrator's SQL may: these triggers then
name every expert employed there as changed, in the generation of that transaction
(migration 0007), so that each process reads those experts again before its next draw.

- PostgreSQL: a deferred constraint trigger per changed row, like the experts' own.
- SQLite: a trigger per changed row.

A new organisation has no employees yet, and one cannot be deleted while it has some (the
experts' ``employer_id`` refers to it), so only a change of ``uscc`` counts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 16:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: As in 0007: generations whose changes are kept.
KEPT_GENERATIONS = 1000

POSTGRES_FUNCTION = """
CREATE FUNCTION expertdraw_pool_organisations_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    taken bigint := expertdraw_pool_generation();
BEGIN
    IF taken IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO pool_changes SELECT taken, id FROM experts WHERE employer_id = NEW.id
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""

POSTGRES_TRIGGER = """
CREATE CONSTRAINT TRIGGER organisations_pool_changed
AFTER UPDATE OF uscc ON organisations
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
WHEN (OLD.uscc IS DISTINCT FROM NEW.uscc)
EXECUTE FUNCTION expertdraw_pool_organisations_changed()
"""

SQLITE_TRIGGER = f"""
CREATE TRIGGER organisations_pool_updated AFTER UPDATE OF uscc ON organisations
WHEN OLD.uscc IS NOT NEW.uscc BEGIN
UPDATE pool_versions SET generation = generation + 1,
    kept_from = max(kept_from, generation + 1 - {KEPT_GENERATIONS}) WHERE id = 1;
INSERT OR IGNORE INTO pool_changes SELECT pool_versions.generation, experts.id
    FROM pool_versions, experts WHERE pool_versions.id = 1 AND experts.employer_id = NEW.id;
DELETE FROM pool_changes WHERE generation <=
    (SELECT generation - {KEPT_GENERATIONS} FROM pool_versions WHERE id = 1);
END
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER organisations_pool_changed ON organisations")
        op.execute("DROP FUNCTION expertdraw_pool_organisations_changed()")
    else:
        op.execute("DROP TRIGGER organisations_pool_updated")
