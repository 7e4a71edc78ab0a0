"""Pagination of list endpoints: ``?page=1&per_page=50`` (at most 200 per page).

Why one shape: clients and the web pages walk every list the same way. Declare
``query=PageQuery`` (or a subclass with filters) and ``response=Page[ItemOut]``, have the
service return ``(items, total)`` via ``services.pagination.paginate``, and return
``page_of(items, total, query)`` from the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import Field

from .schemas import OutModel, QueryModel

T = TypeVar("T")
MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50


class PageQuery(QueryModel):
    """Which page of a list to return."""

    page: int = Field(1, ge=1, le=1_000_000, description="1-based page number")
    per_page: int = Field(
        DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE, description=f"items per page, ≤ {MAX_PER_PAGE}"
    )

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.page - 1) * self.per_page


class Page(OutModel, Generic[T]):
    """One page of a list, with the total number of items."""

    items: list[T]
    page: int
    per_page: int
    total: int


def page_of(items: Sequence[Any], total: int, query: PageQuery) -> dict[str, Any]:
    """The dict a ``Page[...]`` response model is built from."""
    return {"items": list(items), "page": query.page, "per_page": query.per_page, "total": total}
