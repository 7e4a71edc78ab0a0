"""Who controls whom: the chains of ``parent`` links between organisations.

rules.md's ``party-employer`` and ``authority`` count an employer that "controls / is
controlled by" a party. Control passes down a chain (a group controls its subsidiaries and
their units), so the rules follow ``parent`` links to any depth.

The links are walked a level at a time, each level one statement over the primary key
(upwards) and ``ix_organisations_parent_id`` (downwards): a recursive query would do it in
one, but PostgreSQL cannot tell how many rows a recursive walk yields, guesses millions and
reads the whole table at every level. Chains are short (a group, its subsidiaries, their
units), so a walk takes a few statements; a cycle, which registration refuses, ends the walk
rather than loops, as each organisation is taken once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from ..extensions import db
from ..models import Organisation


@dataclass(frozen=True)
class Link:
    """An organisation's code and the id of the organisation controlling it."""

    uscc: str
    parent_id: int | None


def walk(
    up_from: Iterable[int] = (),
    down_from: Iterable[int] = (),
    known: Mapping[int, Link] | None = None,
) -> dict[int, Link]:
    """The organisations ``up_from`` and every one above them, and ``down_from`` and every one
    below them, by id: a statement a level each way (the ``known`` links, read already, are
    not read again)."""
    found: dict[int, Link] = dict(known or {})

    def read(where: sa.ColumnElement[bool]) -> list[int]:
        rows = db.session.execute(
            sa.select(Organisation.id, Organisation.uscc, Organisation.parent_id).where(where)
        ).all()
        found.update((org_id, Link(uscc, parent_id)) for org_id, uscc, parent_id in rows)
        return [org_id for org_id, _, _ in rows]

    seen: set[int] = set()
    level = set(up_from)
    while level:  # upwards: these, then their parents
        seen |= level
        if level - found.keys():
            read(Organisation.id.in_(sorted(level - found.keys())))
        parents = {found[org_id].parent_id for org_id in level if org_id in found}
        level = {parent for parent in parents if parent is not None} - seen
    level = set(down_from)
    if level - found.keys():
        read(Organisation.id.in_(sorted(level - found.keys())))
    seen = set(level)
    while level:  # downwards: the units of these, then theirs
        units = set(read(Organisation.parent_id.in_(sorted(level))))
        level = units - seen
        seen |= units
    return found


def chains(links: Mapping[int, Link]) -> dict[int, tuple[str, ...]]:
    """For each organisation of ``links``, the USCCs of the organisations above it, its parent
    first, as far as ``links`` reaches."""
    above: dict[int, tuple[str, ...]] = {}
    for org_id in links:
        codes: list[str] = []
        seen = {org_id}
        parent = links[org_id].parent_id
        while parent is not None and parent in links and parent not in seen:
            seen.add(parent)
            codes.append(links[parent].uscc)
            parent = links[parent].parent_id
        above[org_id] = tuple(codes)
    return above


def controllers(org_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """The USCCs of the organisations controlling each of ``org_ids``, nearest first."""
    wanted = set(org_ids)
    if not wanted:
        return {}
    above = chains(walk(up_from=wanted))
    return {org_id: above.get(org_id, ()) for org_id in wanted}


def moved_reach(moved: Iterable[int]) -> list[int]:
    """The organisations whose relations of control a change of the ``moved`` ones' parents
    may have added: the moved ones and all below them (they have new controllers), and their
    new parents and all above those (they control more)."""
    moved = set(moved)
    if not moved:
        return []
    parents = db.session.scalars(
        sa.select(Organisation.parent_id).where(
            Organisation.id.in_(sorted(moved)), Organisation.parent_id.is_not(None)
        )
    ).all()
    below = walk(down_from=moved)
    above = walk(up_from=parents)
    return sorted(below.keys() | above.keys())
