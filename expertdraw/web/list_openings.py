"""One opening of the sealed list per form sent, however often the browser sends it.

The list is the answer to the purpose form's POST, so a reload (or back and forward) sends the
form again. Each purpose page carries a fresh one-time ``opening`` token; the first POST with
it opens the list (a ``list.opened`` entry) and keeps, in the server-side session, which entry
recorded it and with which purpose. The same token sent again with the same purpose shows the
list under that entry, for a short while (``sealed.SHOWN_AGAIN_FOR``), instead of recording a
second opening nobody asked for.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import request, session

from ..models import Draw, User
from ..services import sealed
from ..services.errors import ServiceError

SESSION_KEY = "list_openings"
FIELD = "opening"
# Tokens remembered per session (the oldest is forgotten first).
KEPT = 20


def new_token() -> str:
    """A one-time token for a purpose form."""
    return secrets.token_urlsafe(16)


def open_once(draw: Draw, user: User, purpose: str) -> list[dict[str, Any]]:
    """The members: opened (and logged) for a new token, shown again for a token sent before.

    Raises:
        ServiceError: as ``sealed.open_list``.
    """
    token = request.form.get(FIELD, "")
    kept: dict[str, list[Any]] = dict(session.get(SESSION_KEY) or {})
    root = draw.root_id or draw.id
    earlier = kept.get(token) if token else None
    # Only the same form sent again: a purpose changed before sending (back, edit, send) is
    # a new opening, recorded with its own purpose.
    if earlier is not None and earlier[0] == root and earlier[2:] == [purpose.strip()]:
        try:
            return sealed.shown_again(draw, user, int(earlier[1]))
        except ServiceError:
            pass  # too old, or the rules no longer allow it: open anew, or say why not
    members, seq = sealed.open_list_logged(draw, user, purpose)
    if token and len(token) <= 64:
        kept[token] = [root, seq, purpose.strip()]
        session[SESSION_KEY] = dict(list(kept.items())[-KEPT:])
    return members
