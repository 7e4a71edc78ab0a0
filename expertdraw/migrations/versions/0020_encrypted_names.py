"""Experts' names, and the notes of their penalties, encrypted at rest, as their identity and
phone numbers and e-mail addresses are (ledger.md counts names as personal data; a penalty's
note says what the named person did).

The column becomes base64 of AES-GCM ciphertext (``models.types.EncryptedString``), widened
to 600 characters (100 characters of up to four bytes each, the nonce and the tag); every
name already stored is encrypted in place with the running instance's personal-data key.
The notes become AES-GCM ciphertext in a binary column (``models.types.EncryptedText``).
Downgrading decrypts both again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 07:30:00

"""

import base64

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _replace_column(length: int, convert) -> None:
    """``experts.name`` as VARCHAR(length) NOT NULL holding ``convert`` of each name: a new
    column, filled, then put in the old one's place. Plain ALTER TABLE on both databases, as
    in 0014: SQLite's batch mode would copy the table and drop its pool triggers (0007)."""
    bind = op.get_bind()
    # NOT NULL needs a default to add the column on SQLite (which cannot add the constraint
    # later); every row gets its value below, and PostgreSQL drops the default again.
    op.execute(f"ALTER TABLE experts ADD COLUMN name_new VARCHAR({length}) NOT NULL DEFAULT ''")
    rows = bind.execute(sa.text("SELECT id, name FROM experts")).all()
    update = sa.text("UPDATE experts SET name_new = :name WHERE id = :id")
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        bind.execute(update, [{"id": row.id, "name": convert(row.name)} for row in chunk])
    op.execute("ALTER TABLE experts DROP COLUMN name")
    op.execute("ALTER TABLE experts RENAME COLUMN name_new TO name")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE experts ALTER COLUMN name DROP DEFAULT")


def _replace_notes(column_type: str, convert) -> None:
    """``penalties.note`` as ``column_type`` holding ``convert`` of each note (NULL stays)."""
    bind = op.get_bind()
    op.execute(f"ALTER TABLE penalties ADD COLUMN note_new {column_type}")
    rows = bind.execute(sa.text("SELECT id, note FROM penalties WHERE note IS NOT NULL")).all()
    update = sa.text("UPDATE penalties SET note_new = :note WHERE id = :id")
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        bind.execute(update, [{"id": row.id, "note": convert(row.note)} for row in chunk])
    op.execute("ALTER TABLE penalties DROP COLUMN note")
    op.execute("ALTER TABLE penalties RENAME COLUMN note_new TO note")


def upgrade():
    from expertdraw.personal_data import protector

    seal = protector().encrypt
    _replace_column(600, lambda name: base64.b64encode(seal(name)).decode("ascii"))
    binary = "BYTEA" if op.get_bind().dialect.name == "postgresql" else "BLOB"
    _replace_notes(binary, seal)


def downgrade():
    from expertdraw.personal_data import protector

    open_ = protector().decrypt
    _replace_column(100, lambda name: open_(base64.b64decode(name)))
    _replace_notes("VARCHAR(500)", lambda note: open_(bytes(note)))
