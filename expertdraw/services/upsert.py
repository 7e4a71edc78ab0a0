"""``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_conflicts(
    conn: sa.Connection, table: sa.Table, index_elements: list[str]
) -> Any:
    """An INSERT into ``table`` that silently skips rows clashing on ``index_elements``.

    Add ``.returning(...)`` to learn whether a row went in (``rowcount`` of an INSERT is not
    reported on every driver). Raises ValueError for dialects other than SQLite and PostgreSQL.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=index_elements)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=index_elements)
    raise ValueError(f"unsupported database dialect: {conn.dialect.name}")
