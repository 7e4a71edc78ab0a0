"""After the evaluation window has ended no place is filled any more (a supervisor's request is
refused with ``conflict:evaluation-over``): the draw room offers no supplementary draw and says
the places stay open."""

from __future__ import annotations

from datetime import timedelta

from expertdraw import clock

from ..integration import centre as c
from .test_manager_pages import _decline_one, _one_stratum_draw


def test_the_room_offers_no_supplementary_draw_after_the_evaluation_ended(app, frozen, login):
    draw = _one_stratum_draw(c.build(technical=5))
    _decline_one(draw)  # the pool cannot fill the place
    late = c.WINDOW + timedelta(hours=9)  # the eight-hour window ended an hour ago
    with clock.frozen(late):
        client = login("sup1")
        room = client.get(f"/supervisor/draws/{draw}?lang=en").get_data(as_text=True)
        refused = client.post(f"/supervisor/draws/{draw}/supplementary?lang=en")
    assert refused.status_code == 409  # the action is always refused now ...
    assert "data-fill" not in room, "the room still offers a supplementary draw"  # ... yet offered
    assert "the pool cannot fill the open places now" not in room
    assert 'data-open-places="over"' in room
