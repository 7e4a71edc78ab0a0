"""Lists from SQL: the values of a column over a group as one list, on both engines.

A row object per value costs far more in Python than one list per column: pool building
reads tens of thousands of experts and seats this way.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class list_of(FunctionElement[Any]):
    """The values of an expression over a group, as one list: ``array_agg`` on PostgreSQL
    (which psycopg reads as a list), ``json_group_array`` on SQLite (JSON text). Both keep
    NULLs, and several of them over one group list its rows in the same order."""

    name = "list_of"
    inherit_cache = True


@compiles(list_of)
def list_of_default(element: list_of, compiler: Any, **kw: Any) -> str:
    return f"array_agg({compiler.process(element.clauses, **kw)})"


@compiles(list_of, "sqlite")
def list_of_sqlite(element: list_of, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


def as_list(value: Any) -> list[Any]:
    """A ``list_of`` value as a list; PostgreSQL gives NULL for no rows, SQLite ``[]``."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else value
