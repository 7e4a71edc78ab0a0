"""Whether a row's period meets a window, written as each database answers it best.

``overlapping(start, end, window_start, window_end)`` is true when the period
``[start, end)`` meets the window ``[window_start, window_end)``: ``start < window_end AND
end > window_start``. PostgreSQL gets it as ``tsrange(start, end) && tsrange(window_start,
window_end)``, the expression that the held bookings' GiST index (migration 0012) and the
bookings' overlap exclusion constraints are built on. With two comparisons, a B-tree index
can bound only one side of the period, so the database reads every booking that ends after
the window starts: the whole future of a centre's calendar. The range overlap finds the
bookings of one day among them from the index alone. SQLite gets the two comparisons.

The two forms agree for every period and window whose start is before its end (the
bookings' check constraint holds it for them, and a window is validated so). PostgreSQL
refuses a range whose start is after its end, where the comparisons would find nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class _Overlapping(FunctionElement[bool]):
    """``(start, end, window_start, window_end)``; see :func:`overlapping`."""

    type = sa.Boolean()
    inherit_cache = True
    name = "overlapping"


@compiles(_Overlapping)
def _compared(element: _Overlapping, compiler: SQLCompiler, **kw: Any) -> str:
    start, end, window_start, window_end = element.clauses
    return compiler.process(sa.and_(start < window_end, end > window_start), **kw)


@compiles(_Overlapping, "postgresql")
def _ranges(element: _Overlapping, compiler: SQLCompiler, **kw: Any) -> str:
    start, end, window_start, window_end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(tsrange({start}, {end}) && tsrange({window_start}, {window_end}))"


def overlapping(
    start: sa.ColumnElement[Any], end: sa.ColumnElement[Any], window_start: Any, window_end: Any
) -> sa.ColumnElement[bool]:
    """``start < window_end AND end > window_start`` (see the module's docstring).

    ``window_start`` and ``window_end`` are values, bound parameters or expressions; values
    and untyped parameters take the type of ``start``, so that they are converted as the
    column's own values are (an aware time to UTC, for ``UTCDateTime``).
    """
    kind = start.type
    return _Overlapping(start, end, _typed(window_start, kind), _typed(window_end, kind))


def _typed(value: Any, kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
    if isinstance(value, sa.BindParameter):
        if isinstance(value.type, sa.types.NullType) and value.value is None:
            return sa.bindparam(value.key, type_=kind)  # a named parameter, bound at execution
        return value
    if isinstance(value, sa.ColumnElement):
        return value
    return sa.literal(value, kind)
