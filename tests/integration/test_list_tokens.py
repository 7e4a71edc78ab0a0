"""A purpose form's one-time token: the same form sent again, even twice at once, records one
opening of the sealed list; another page, purpose, user or a download records its own."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, LedgerEntry, User
from expertdraw.services import sealed

from . import centre as c
from .inspection_helpers import run_draw


def _openings() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == "list.opened")
    )


@pytest.fixture
def drawn(app):
    with clock.frozen(c.NOW):
        centre = c.build()
    return centre, run_draw(centre, "P2027-0001", c.NOW)


def test_the_same_token_shows_the_first_opening_again(drawn):
    centre, draw = drawn
    sup = centre.users["sup1"]
    at = c.NOW + timedelta(minutes=5)
    with clock.frozen(at):
        first, seq = sealed.open_list_logged(draw, sup, "audit", token="t" * 22, page="list")
        again, same = sealed.open_list_logged(draw, sup, "audit", token="t" * 22, page="list")
    assert (again, same) == (first, seq) and _openings() == 1
    with clock.frozen(at + timedelta(minutes=1)):
        sealed.open_list_logged(draw, sup, "audit", token="t" * 22, page="record")
        sealed.open_list_logged(draw, sup, "complaint", token="t" * 22, page="list")
        sealed.open_list_logged(draw, centre.users["sup2"], "audit", token="t" * 22, page="list")
    assert _openings() == 4
    with clock.frozen(at + sealed.SHOWN_AGAIN_FOR + timedelta(minutes=1)):
        _members, later = sealed.open_list_logged(draw, sup, "audit", token="t" * 22, page="list")
    assert later > seq and _openings() == 5  # too old to be the same look


def test_a_form_sent_twice_at_once_records_one_opening(app, drawn, backend):
    if backend != "postgresql":
        pytest.skip("SQLite serialises the two writers")
    centre, draw = drawn
    draw_id, sup_id = draw.id, centre.users["sup1"].id
    start = threading.Barrier(2)
    seqs: list[int] = []

    def send() -> None:
        with app.app_context():
            try:
                user = db.session.get(User, sup_id)
                found = db.session.get(Draw, draw_id)
                start.wait(10)
                opened = sealed.open_list_logged(found, user, "audit", token="x" * 22, page="list")
                seqs.append(opened[1])
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(2)]
    # Frozen here only: threads freezing the process's clock in turn could leave it frozen.
    with clock.frozen(c.NOW + timedelta(minutes=5)):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert len(seqs) == 2 and seqs[0] == seqs[1]
    assert _openings() == 1
