"""Bulk writes shared by the seed loader and the importer.

Rows go in with SQLAlchemy Core ``insert()`` executemany (batched by the driver into multi-row
statements). On PostgreSQL, large batches go through ``COPY ... FROM STDIN`` instead, which is
several times faster; column types that process values in Python (encryption, UTC times) are
applied by hand there, so both paths store the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from ..personal_data import protector

COPY_THRESHOLD = 2000
BATCH = 10_000


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _processors(conn: sa.Connection, table: sa.Table, columns: Sequence[str]) -> list[Any]:
    """Per column, None or a function that turns a Python value into the stored value."""
    from ..models.types import EncryptedText

    out: list[Any] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, EncryptedText):
            # The same as EncryptedText.process_bind_param, without a lookup per value.
            encrypt = protector().encrypt
            out.append(lambda value, encrypt=encrypt: None if value is None else encrypt(value))
        elif isinstance(column_type, TypeDecorator):
            out.append(partial(column_type.process_bind_param, dialect=conn.dialect))
        else:
            out.append(None)
    return out


def copy_rows(
    conn: sa.Connection,
    table: sa.Table | str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """``COPY table (columns) FROM STDIN`` on PostgreSQL, in the connection's transaction.

    ``table`` may be a name (a temporary table); then values are written as given.
    """
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    if isinstance(table, sa.Table):
        name = quote(table.name)
        processors = _processors(conn, table, columns)
    else:
        name = quote(table)
        processors = [None] * len(columns)
    sql = f"COPY {name} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    driver = conn.connection.driver_connection
    assert driver is not None
    count = 0
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        if any(processors):
            for row in rows:
                copy.write_row(
                    [
                        value if p is None else p(value)
                        for p, value in zip(processors, row, strict=True)
                    ]
                )
                count += 1
        else:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def insert_rows(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    copy_threshold: int = COPY_THRESHOLD,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order); returns how many were written."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql" and len(rows) >= copy_threshold:
        return copy_rows(conn, table, columns, rows)
    statement = sa.insert(table)
    for batch in _batches(rows, BATCH):
        conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in batch])
    return len(rows)


def insert_stream(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    expected: int,
    copy_threshold: int = COPY_THRESHOLD,
) -> int:
    """Like ``insert_rows`` for rows produced on the fly; ``expected`` picks the method."""
    if conn.dialect.name == "postgresql" and expected >= copy_threshold:
        return copy_rows(conn, table, columns, rows)
    count = 0
    statement = sa.insert(table)
    for batch in _batches(rows, BATCH):
        conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in batch])
        count += len(batch)
    return count


def existing_keys(conn: sa.Connection, table: sa.Table, columns: Sequence[str]) -> set[tuple]:
    """The values of ``columns`` for every row of ``table``, as a set of tuples."""
    return {tuple(row) for row in conn.execute(sa.select(*(table.c[c] for c in columns)))}


def id_map(conn: sa.Connection, table: sa.Table, key: str, value: str = "id") -> dict[Any, Any]:
    """``{key: value}`` for every row of ``table``."""
    return dict(conn.execute(sa.select(table.c[key], table.c[value])).all())
