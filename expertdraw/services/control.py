"""Who controls whom: the chains of ``parent`` links between organisations.

rules.md's ``party-employer`` and ``authority`` count an employer that "controls / is
controlled by" a party. Control passes down a chain (a group controls its subsidiaries and
their units), so the rules follow ``parent`` links to any depth. The statements here walk
those links in the database (``WITH RECURSIVE``, on SQLite and PostgreSQL alike); a cycle,
which registration refuses, would end the walk rather than loop: the walks take each
``(id, parent)`` pair once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..models import Organisation


def upward(start: sa.Select[Any], name: str = "upward") -> sa.CTE:
    """``(id, parent_id)`` of the organisations ``start`` selects (one column of ids) and of
    every organisation above them."""
    above = sa.orm.aliased(Organisation)
    walk = (
        sa.select(Organisation.id, Organisation.parent_id)
        .where(Organisation.id.in_(start))
        .cte(name, recursive=True)
    )
    return walk.union(sa.select(above.id, above.parent_id).join(walk, above.id == walk.c.parent_id))


def downward(start: sa.Select[Any], name: str = "downward") -> sa.CTE:
    """``(id)`` of the organisations ``start`` selects and of every organisation below them."""
    below = sa.orm.aliased(Organisation)
    walk = sa.select(Organisation.id).where(Organisation.id.in_(start)).cte(name, recursive=True)
    return walk.union(sa.select(below.id).join(walk, below.parent_id == walk.c.id))


def chains(links: Mapping[int, tuple[str, int | None]]) -> dict[int, tuple[str, ...]]:
    """For each organisation of ``links`` (id -> its USCC and its parent's id), the USCCs of
    the organisations above it, its parent first, as far as ``links`` reaches."""
    found: dict[int, tuple[str, ...]] = {}
    for org_id in links:
        above: list[str] = []
        seen = {org_id}
        parent = links[org_id][1]
        while parent is not None and parent in links and parent not in seen:
            seen.add(parent)
            above.append(links[parent][0])
            parent = links[parent][1]
        found[org_id] = tuple(above)
    return found


def controllers(org_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """The USCCs of the organisations controlling each of ``org_ids``, nearest first, in one
    statement."""
    wanted = sorted(set(org_ids))
    if not wanted:
        return {}
    start = sa.select(Organisation.id).where(Organisation.id.in_(wanted))
    lineage = upward(start)
    rows = db.session.execute(
        sa.select(Organisation.id, Organisation.uscc, Organisation.parent_id).where(
            Organisation.id.in_(sa.select(lineage.c.id))
        )
    ).all()
    found = chains({row.id: (row.uscc, row.parent_id) for row in rows})
    return {org_id: found.get(org_id, ()) for org_id in wanted}


def moved_reach(moved: Sequence[int]) -> list[int]:
    """The organisations whose relations of control a change of the ``moved`` ones' parents
    may have added: the moved ones and all below them (they have new controllers), and their
    new parents and all above those (they control more)."""
    if not moved:
        return []
    start = sa.select(Organisation.id).where(Organisation.id.in_(list(moved)))
    parents = sa.select(Organisation.parent_id).where(
        Organisation.id.in_(list(moved)), Organisation.parent_id.is_not(None)
    )
    below = downward(start, "below")
    above = upward(parents, "above")
    return sorted(db.session.scalars(sa.union(sa.select(below.c.id), sa.select(above.c.id))).all())
