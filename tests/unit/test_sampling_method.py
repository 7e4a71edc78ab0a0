"""The supervision sampling method (domain.sampling), without the app."""

from __future__ import annotations

import hashlib
import hmac
from fractions import Fraction

import pytest

from expertdraw.domain import sampling as method

SECRET = bytes(range(32))
PLAN = {
    "inspection": "I2027-000001",
    "period": {"start": "2027-02-01", "end": "2027-02-28", "zone": "Asia/Shanghai"},
    "levels": [
        {"name": "high", "ratio": "1/2", "projects": ["P1", "P2", "P3"]},
        {"name": "low", "ratio": "1/10", "projects": [f"P{n}" for n in range(10, 21)]},
        {"name": "none", "ratio": "0/1", "projects": ["P9"]},
    ],
    "inspectors": ["U01", "U02", "U03", "U04"],
    "inspectors_per_project": 2,
}


def test_ratios_are_exact_fractions_written_n_over_d():
    assert method.parse_ratio("1/5") == Fraction(1, 5)
    for bad in ("0.2", "1/0", "3/2", "01/5", 0.2, "1 / 5"):
        with pytest.raises(method.SamplingError):
            method.parse_ratio(bad)


def test_each_level_takes_the_ceiling_of_ratio_times_its_projects():
    targets, inspectors = method.select_sample(PLAN, b"\x01" * 32)
    assert [len(t["projects"]) for t in targets] == [2, 2, 0]
    assert len(inspectors) == 4 and all(len(set(i["inspectors"])) == 2 for i in inspectors)


def test_projects_are_ordered_by_the_score_hmac_then_id():
    seed = b"\x02" * 32

    def score(x: str) -> bytes:
        return hmac.new(seed, b"expertdraw/score/v1\x00" + x.encode(), hashlib.sha256).digest()

    projects = PLAN["levels"][1]["projects"]
    assert method.ordered(seed, projects) == sorted(projects, key=lambda x: (score(x), x))
    targets, _ = method.select_sample(PLAN, seed)
    assert targets[1]["projects"] == sorted(projects, key=lambda x: (score(x), x))[:2]


def test_a_drawn_body_replays_and_a_wrong_secret_does_not():
    announced = method.announced_body(PLAN, SECRET, 2)
    drawn = method.drawn_body(PLAN, SECRET, ["a", "b"])
    assert method.replay_sample(announced, drawn) == []
    other = {**drawn, "secret": "00" * 32}
    assert any(p.startswith("commitment") for p in method.replay_sample(announced, other))
    assert method.replay_sample(announced, {"secret": "zz"}) != []


def test_a_plan_must_be_sorted_and_hold_each_project_once():
    twice = {**PLAN, "levels": [PLAN["levels"][0], {**PLAN["levels"][0], "name": "again"}]}
    unsorted = {**PLAN, "inspectors": ["U02", "U01"]}
    for plan in (twice, unsorted, {**PLAN, "inspectors_per_project": 5}):
        with pytest.raises(method.SamplingError):
            method.check_plan(plan)


def test_an_inspector_recused_for_a_project_is_never_sent_to_it():
    """回避: the plan's recusals leave inspectors out of a project's pool, whatever the seed;
    a plan without recusals draws as before (older samples still replay)."""
    out = {"P1": ["U01", "U02"], "P10": ["U03"]}
    plan = {**PLAN, "recusals": out}
    for n in range(50):
        seed = hashlib.sha256(f"seed {n}".encode()).digest()
        _targets, assigned = method.select_sample(plan, seed)
        for item in assigned:
            assert not set(item["inspectors"]) & set(out.get(item["project"], ()))
            assert len(item["inspectors"]) == 2
        same_targets, _ = method.select_sample(PLAN, seed)
        assert same_targets == _targets  # recusals change inspectors only


@pytest.mark.parametrize(
    ("recusals", "said"),
    [
        ({"P99": ["U01"]}, "not planned"),
        ({"P1": ["U09"]}, "must be inspectors"),
        ({"P1": ["U02", "U01"]}, "sorted and unique"),
        (["P1"], "recusals must be an object"),
    ],
)
def test_a_plans_recusals_are_checked(recusals, said):
    with pytest.raises(method.SamplingError, match=said):
        method.check_plan({**PLAN, "recusals": recusals})


def test_recused_inspectors_fill_the_places_the_others_cannot():
    """With too few others left, the recused ones fill the remaining places, in their own
    order: a small centre's two supervisors witness every draw and still inspect."""
    plan = {**PLAN, "recusals": {"P1": ["U01", "U02", "U03"]}}
    for n in range(50):
        seed = hashlib.sha256(f"seed {n}".encode()).digest()
        _targets, assigned = method.select_sample(plan, seed)
        for item in assigned:
            if item["project"] == "P1":
                assert item["inspectors"][0] == "U04" and len(item["inspectors"]) == 2
