"""Experts' e-mail addresses encrypted at rest, as their phone and identity numbers are.

The column becomes base64 of AES-GCM ciphertext (``models.types.EncryptedString``), so it is
widened to 400 characters; every address already stored is encrypted in place with the
running instance's personal-data key. Downgrading decrypts them again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 23:50:00

"""

import base64

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _replace_column(length: int, convert) -> None:
    """``experts.email`` as VARCHAR(length) holding ``convert`` of each address: a new column,
    filled, then put in the old one's place. Plain ALTER TABLE on both databases: SQLite's
    batch mode would copy the table and drop its pool triggers (migration 0007)."""
    bind = op.get_bind()
    op.execute(f"ALTER TABLE experts ADD COLUMN email_new VARCHAR({length})")
    rows = bind.execute(sa.text("SELECT id, email FROM experts WHERE email IS NOT NULL")).all()
    update = sa.text("UPDATE experts SET email_new = :email WHERE id = :id")
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        bind.execute(update, [{"id": row.id, "email": convert(row.email)} for row in chunk])
    op.execute("ALTER TABLE experts DROP COLUMN email")
    op.execute("ALTER TABLE experts RENAME COLUMN email_new TO email")


def upgrade():
    from expertdraw.personal_data import protector

    seal = protector().encrypt
    _replace_column(400, lambda email: base64.b64encode(seal(email)).decode("ascii"))


def downgrade():
    from expertdraw.personal_data import protector

    open_ = protector().decrypt
    _replace_column(200, lambda email: open_(base64.b64decode(email)))
