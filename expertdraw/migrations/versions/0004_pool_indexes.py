"""Pool building: indexes that let the database judge a request's experts from indexes alone.

- ``expert_specialties (specialty_code, expert_id)`` replaces ``(specialty_code)``: a
  stratum's universe without visiting the rows;
- ``expert_relations (organisation_id, kind, expert_id)`` replaces ``(organisation_id)``: the
  relatives and declared conflicts at a project's parties, likewise;
- ``experts (id, code, status, home_region, qualification_expiry, data_confirmed_on,
  employer_id)``: the columns the pool query reads, narrow beside the rows (names and
  encrypted personal data).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 03:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

POOL_COLUMNS = [
    "id",
    "code",
    "status",
    "home_region",
    "qualification_expiry",
    "data_confirmed_on",
    "employer_id",
]


def upgrade():
    with op.batch_alter_table("expert_specialties", schema=None) as batch_op:
        batch_op.create_index(
            "ix_expert_specialties_specialty_expert", ["specialty_code", "expert_id"], unique=False
        )
        batch_op.drop_index("ix_expert_specialties_specialty_code")
    with op.batch_alter_table("expert_relations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_expert_relations_organisation_kind_expert",
            ["organisation_id", "kind", "expert_id"],
            unique=False,
        )
        batch_op.drop_index("ix_expert_relations_organisation_id")
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.create_index("ix_experts_pool", POOL_COLUMNS, unique=False)


def downgrade():
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_index("ix_experts_pool")
    with op.batch_alter_table("expert_relations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_expert_relations_organisation_id", ["organisation_id"], unique=False
        )
        batch_op.drop_index("ix_expert_relations_organisation_kind_expert")
    with op.batch_alter_table("expert_specialties", schema=None) as batch_op:
        batch_op.create_index(
            "ix_expert_specialties_specialty_code", ["specialty_code"], unique=False
        )
        batch_op.drop_index("ix_expert_specialties_specialty_expert")
