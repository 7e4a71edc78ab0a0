"""One opening of the sealed list per form sent, however often the browser sends it.

The list is the answer to the purpose form's POST, so a reload (or back and forward) sends the
form again. Each purpose page carries a fresh one-time ``opening`` token; the first POST with
it opens the list (a ``list.opened`` entry) and keeps, in the session, which entry recorded
it, with which purpose and for which page (the session is a signed cookie, which browsers
take up to 4 KB and anyone holding it can read: it keeps a digest of the purpose, not the
purpose). The same token sent again to the same page
with the same purpose shows the list under that entry, for a short while
(``sealed.SHOWN_AGAIN_FOR``), instead of recording a second opening nobody asked for. A token
sent to another page (the record, its PDF) opens the list anew, and a copy taken away (the
PDF) is always a new opening: each copy of the list that leaves the page is recorded. The
session cannot see a form sent twice at once (a double click on a slow link): the token is
also recorded with the opening, under the ledger lock (migration 0022), where the second
request finds it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from flask import request, session

from ..models import Draw, User
from ..services import sealed
from ..services.errors import ServiceError

SESSION_KEY = "list_openings"
FIELD = "opening"
# Tokens remembered per session (the oldest is forgotten first): the cookie stays well
# within the 4 KB browsers accept.
KEPT = 12


def _digest(purpose: str) -> str:
    return hashlib.sha256(purpose.strip().encode()).hexdigest()[:16]


def new_token() -> str:
    """A one-time token for a purpose form."""
    return secrets.token_urlsafe(16)


def open_once(
    draw: Draw, user: User, purpose: str, page: str, *, copy: bool = False
) -> list[dict[str, Any]]:
    """The members: opened (and logged) for a new token, shown again for a token sent before
    to the same ``page``; always opened anew for a ``copy`` (a download).

    Raises:
        ServiceError: as ``sealed.open_list``.
    """
    token = request.form.get(FIELD, "")
    kept: dict[str, list[Any]] = dict(session.get(SESSION_KEY) or {})
    root = draw.root_id or draw.id
    earlier = kept.get(token) if token and not copy else None
    # Only the same form sent again to the same page: a purpose changed before sending (back,
    # edit, send) is a new opening, recorded with its own purpose.
    if earlier is not None and earlier[0] == root and earlier[2:] == [_digest(purpose), page]:
        try:
            return sealed.shown_again(draw, user, int(earlier[1]))
        except ServiceError:
            pass  # too old, or the rules no longer allow it: open anew, or say why not
    # The session misses a form sent twice at once; the token, recorded under the ledger
    # lock with the opening, does not (sealed.open_list_logged).
    usable = token if token and len(token) <= 64 and not copy else None
    members, seq = sealed.open_list_logged(draw, user, purpose, token=usable, page=page)
    if usable:
        kept[usable] = [root, seq, _digest(purpose), page]
        session[SESSION_KEY] = dict(list(kept.items())[-KEPT:])
    return members
