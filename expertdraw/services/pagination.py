"""Running a paginated SELECT: one page of rows and the total count.

Why a service helper: only services touch the session, and every list endpoint needs the same
two queries (the page, ordered; the count of the unpaginated, unordered statement).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..extensions import db


def paginate(
    stmt: sa.Select[Any], *, page: int, per_page: int, rows: bool = False
) -> tuple[list[Any], int]:
    """Rows ``(page-1)*per_page`` onwards of ``stmt`` (which must be ordered), and the total.

    ``stmt`` should select one entity or column, and the rows are its scalars; with ``rows``
    it may select several, and the rows are whole.
    """
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
    )
    page_of = stmt.limit(per_page).offset((page - 1) * per_page)
    found = db.session.execute(page_of).all() if rows else db.session.scalars(page_of).all()
    return list(found), int(total or 0)
