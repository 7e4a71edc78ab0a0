"""Experts' names, and the notes of their penalties, encrypted at rest, as their identity and
phone numbers and e-mail addresses are (ledger.md counts names as personal data; a penalty's
note says what the named person did).

The column becomes base64 of AES-GCM ciphertext (``models.types.EncryptedString``), widened
to 600 characters (100 characters of up to four bytes each, the nonce and the tag); every
name already stored is encrypted in place with the running instance's personal-data key.
The notes become AES-GCM ciphertext in a binary column (``models.types.EncryptedText``), and
the e-mail column is widened to hold the longest address the import accepts, encrypted.
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


def _rewrite(table: str, column: str, definition: str, convert) -> None:
    """``table.column`` as ``definition`` holding ``convert`` of each value (NULL stays): a
    new column, filled, then put in the old one's place. Plain ALTER TABLE on both databases,
    as in 0014: SQLite's batch mode would copy the table and drop its pool triggers (0007)."""
    bind = op.get_bind()
    op.execute(f"ALTER TABLE {table} ADD COLUMN {column}_new {definition}")
    rows = bind.execute(
        sa.text(f"SELECT id, {column} AS value FROM {table} WHERE {column} IS NOT NULL")
    ).all()
    update = sa.text(f"UPDATE {table} SET {column}_new = :value WHERE id = :id")
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        bind.execute(update, [{"id": row.id, "value": convert(row.value)} for row in chunk])
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {column}_new TO {column}")


def _names(length: int, convert) -> None:
    # NOT NULL needs a default to add the column on SQLite (which cannot add the constraint
    # later); every row gets its value, and PostgreSQL drops the default again.
    _rewrite("experts", "name", f"VARCHAR({length}) NOT NULL DEFAULT ''", convert)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE experts ALTER COLUMN name DROP DEFAULT")


def upgrade():
    from expertdraw.personal_data import protector

    seal = protector().encrypt
    _names(600, lambda name: base64.b64encode(seal(name)).decode("ascii"))
    binary = "BYTEA" if op.get_bind().dialect.name == "postgresql" else "BLOB"
    _rewrite("penalties", "note", binary, seal)
    # An e-mail address of 200 characters of up to four bytes each, encrypted, is 1,104
    # characters of base64: the 400 of 0014 held only the ASCII ones.
    _rewrite("experts", "email", "VARCHAR(1200)", lambda email: email)


def downgrade():
    from expertdraw.personal_data import protector

    open_ = protector().decrypt
    _rewrite("experts", "email", "VARCHAR(400)", lambda email: email)
    _names(100, lambda name: open_(base64.b64decode(name)))
    _rewrite("penalties", "note", "VARCHAR(500)", lambda note: open_(bytes(note)))
