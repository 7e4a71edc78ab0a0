"""The HTTP bench's count of the HMACs draw.md prescribes (``bench/hmac_floor.py``), on the
worked draw of ``shared/vectors/draw-example.json``: every HMAC of the selection is recorded,
the selection is the vector's, and the cost is measured over exactly those messages."""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from bench import hmac_floor
from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_seed import keyed_hmac
from expertdraw.domain.draw_snapshot import SCORE


@pytest.fixture(scope="module")
def example(shared_dir: Path) -> dict[str, Any]:
    return json.loads((shared_dir / "vectors" / "draw-example.json").read_text("utf-8"))


def _tag(prefix: bytes) -> bytes:
    return prefix.split(b"\x00", 1)[0]


def test_every_hmac_of_the_worked_draw_is_recorded(example: dict[str, Any]) -> None:
    snapshot, seed = example["snapshot"], bytes.fromhex(example["intermediate"]["seed"])
    prefixes, selection = hmac_floor.record(snapshot, seed, SCORE)
    completed = example["completed"]
    assert selection == {"members": completed["members"], "alternates": completed["alternates"]}

    by_tag: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for prefix, messages in prefixes.items():
        by_tag.setdefault(_tag(prefix), []).extend((prefix, m) for m in messages)
    # §4: every candidate of every stratum is scored once per stratum it is in.
    scored = [m.decode() for _, m in by_tag[b"expertdraw/score/v1"]]
    candidates = [c["id"] for s in snapshot["strata"] for c in s["candidates"]]
    assert sorted(scored) == sorted(candidates)
    # §5: every venue ranked for every member, then the seats of the member's venue.
    venues = [v["id"] for v in snapshot["venues"]]
    ranked = by_tag[b"expertdraw/venue/v1"]
    assert len(ranked) == len(completed["members"]) * len(venues)
    for member in completed["members"]:
        prefix = b"expertdraw/venue/v1\x00" + member["expert"].encode() + b"\x00"
        assert sorted(m.decode() for p, m in ranked if p == prefix) == sorted(venues)
        seats = [
            m.decode() for p, m in by_tag[b"expertdraw/seat/v1"] if member["expert"].encode() in p
        ]
        assert member["workstation"] in seats
        assert {s.rsplit("-", 2)[0] for s in seats} == {member["venue"]}
    # The recorded digests are the HMACs draw.md defines (RFC 2104 over prefix || message).
    prefix, messages = next(iter(prefixes.items()))
    assert keyed_hmac(seed, prefix)(messages[0]) == hmac.digest(
        seed, prefix + messages[0], "sha256"
    )


def test_the_cost_counts_the_recorded_messages(example: dict[str, Any]) -> None:
    seed = bytes.fromhex(example["intermediate"]["seed"])
    prefixes, _ = hmac_floor.record(example["snapshot"], seed, SCORE)
    cost = hmac_floor.cost(seed, prefixes, repeat=2)
    assert cost["hmacs"] == sum(map(len, prefixes.values()))
    assert sum(cost["by_tag"].values()) == cost["hmacs"]
    assert set(cost["by_tag"]) == {
        "expertdraw/score/v1",
        "expertdraw/venue/v1",
        "expertdraw/seat/v1",
    }
    assert cost["selection_method_ms"] > 0 and cost["hmac_digest_ms"] > 0


def test_recording_leaves_the_domain_as_it_was(example: dict[str, Any]) -> None:
    from expertdraw.domain import draw_seats, draw_select

    seed = bytes.fromhex(example["intermediate"]["seed"])
    with pytest.raises(DrawError, match="snapshot"):
        hmac_floor.record({"draw": "bad"}, seed, SCORE)
    assert draw_select.keyed_hmac is keyed_hmac
    assert draw_seats.keyed_hmac is keyed_hmac
