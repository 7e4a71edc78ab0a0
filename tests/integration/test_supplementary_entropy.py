"""A supplementary draw announces fresh outside randomness, never values already public."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from expertdraw.domain import draw as engine
from expertdraw.domain import entropy as outside
from expertdraw.models import Draw
from expertdraw.services.replacements import supplementary_entropy

ROOT_ANNOUNCED = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 9, 30, 12, 345000, tzinfo=UTC)


def _root(entropy: dict, algorithm: str = engine.SCORE) -> Draw:
    return Draw(id="D2026-000001", entropy=entropy, algorithm=algorithm)


def test_a_beacon_draw_waits_for_a_pulse_after_the_supplementary_announcement():
    root = _root(
        outside.announce_beacon(
            datetime(2026, 12, 1, 1, 2, tzinfo=UTC), announced_at=ROOT_ANNOUNCED
        )
    )
    spec = supplementary_entropy(root, LATER)
    assert spec["kind"] == "beacon"
    assert outside.parse_time(spec["not_before"]) > LATER
    assert spec["not_before"] != root.entropy["not_before"]
    outside.check_announced(spec, LATER)


def test_a_lottery_draw_in_score_mode_takes_witness_values_instead_of_old_numbers():
    root = _root(outside.announce_public_lottery(["福利彩票 双色球 2026-12-01 第2026138期"]))
    assert supplementary_entropy(root, LATER) == {"kind": "witness", "witnesses": 2}


@pytest.mark.parametrize(
    "entropy",
    [{"kind": "witness", "witnesses": 3}, {"kind": "none"}],
)
def test_witness_and_none_draws_keep_their_kind(entropy):
    assert supplementary_entropy(_root(entropy), LATER) == entropy


def test_an_rfc3797_draw_takes_the_next_draws_of_the_same_lotteries():
    entropy = outside.announce_public_lottery(["体育彩票 排列5 2026-12-03", "福彩3D " + "x" * 193])
    spec = supplementary_entropy(_root(entropy, engine.RFC3797), LATER)
    after = " 同一彩票在 2026-12-02 17:30:12（UTC+08:00） 之后的首次开奖"  # local time
    assert spec["kind"] == "public-lottery"
    assert spec["sources"][0] == "体育彩票 排列5 2026-12-03" + after
    assert spec["sources"][1].startswith("福彩3D xx") and spec["sources"][1].endswith(after)
    assert len(spec["sources"][1]) == 200  # a request's limit
    outside.check_announced(spec)
