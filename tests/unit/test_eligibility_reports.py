"""Rules configuration, exclusion counts, explanations, the stale share, and fact validation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from expertdraw.domain.eligibility import (
    EligibilityError,
    Employment,
    ExpertFacts,
    Membership,
    Penalty,
    Period,
    ProjectFacts,
    Rules,
    RulesError,
    check_stale_share,
    count_exclusions,
    evaluation_date,
    explain,
    partition,
    stale_share,
    years_before,
)

WS = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
WE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
DAY = date(2026, 12, 3)
PROJECT = ProjectFacts(
    code="P2026-0456",
    region="530602",
    tenderer="TENDERER",
    agency="AGENCY",
    bidders=("BIDDER-1", "BIDDER-2"),
    authorities=("AUTHORITY",),
    window_start=WS,
    window_end=WE,
)
CLEAN = ExpertFacts(
    code="E0000001",
    status="active",
    home_region="530102",
    employer="EMPLOYER",
    data_confirmed_on=date(2026, 6, 1),
)


def expert(n: int, **changes: object) -> ExpertFacts:
    return replace(CLEAN, code=f"E{n:07d}", **changes)


# ------------------------------------------------------------------------- Rules


def test_rules_defaults_are_those_of_rules_md():
    rules = Rules()
    assert rules.former_employer_years == 3
    assert rules.penalty_years == 3
    assert rules.travel_buffer == timedelta(hours=2)
    assert rules.frequency_limit == 4
    assert rules.frequency_days == 30
    assert rules.same_tenderer_days == 90
    assert rules.stale_days == 365
    assert rules.stale_share_limit == Fraction(1, 5)
    assert rules.region_policy == "exclude-prefecture"
    assert rules.utc_offset == timedelta(hours=8)


def test_rules_round_trip_through_a_json_mapping_without_floats():
    rules = Rules(
        travel_buffer=timedelta(hours=1, minutes=30),
        stale_share_limit=Fraction(1, 3),
        region_policy="exclude-county",
        utc_offset=timedelta(hours=-3, minutes=-30),
    )
    mapping = rules.to_mapping()
    assert mapping["travel_buffer"] == "PT1H30M"
    assert mapping["stale_share_limit"] == "1/3"
    assert mapping["utc_offset"] == "-03:30"
    assert Rules.from_mapping(json.loads(json.dumps(mapping))) == rules
    assert Rules().to_mapping()["stale_share_limit"] == "0.2"
    assert Rules.from_mapping(Rules().to_mapping()) == Rules()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.2", Fraction(1, 5)),
        ("1/5", Fraction(1, 5)),
        (Decimal("0.25"), Fraction(1, 4)),
        (Fraction(1, 10), Fraction(1, 10)),
        (1, Fraction(1)),
    ],
)
def test_stale_share_limit_accepts_exact_numbers(value, expected):
    assert Rules.from_mapping({"stale_share_limit": value}).stale_share_limit == expected
    assert Rules(stale_share_limit=value) == Rules(stale_share_limit=expected)
    assert type(Rules(stale_share_limit=value).stale_share_limit) is Fraction


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("PT0S", timedelta(0)),
        ("P1DT1M", timedelta(days=1, minutes=1)),
    ],
)
def test_travel_buffer_accepts_iso_durations(value, expected):
    assert Rules.from_mapping({"travel_buffer": value}).travel_buffer == expected


@pytest.mark.parametrize(
    ("mapping", "key", "code"),
    [
        ({"frequency_limt": 4}, "frequency_limt", "rules:unknown-key"),
        ({"former_employer_years": -1}, "former_employer_years", "rules:invalid"),
        ({"penalty_years": "3"}, "penalty_years", "rules:invalid"),
        ({"frequency_limit": 0}, "frequency_limit", "rules:invalid"),
        ({"frequency_days": True}, "frequency_days", "rules:invalid"),
        ({"same_tenderer_days": 9.0}, "same_tenderer_days", "rules:invalid"),
        ({"stale_days": None}, "stale_days", "rules:invalid"),
        ({"stale_share_limit": 0.2}, "stale_share_limit", "rules:invalid"),
        ({"stale_share_limit": "0"}, "stale_share_limit", "rules:invalid"),
        ({"stale_share_limit": "1.5"}, "stale_share_limit", "rules:invalid"),
        ({"stale_share_limit": "a fifth"}, "stale_share_limit", "rules:invalid"),
        ({"stale_share_limit": Decimal("NaN")}, "stale_share_limit", "rules:invalid"),
        ({"travel_buffer": 120}, "travel_buffer", "rules:invalid"),
        ({"travel_buffer": "PT"}, "travel_buffer", "rules:invalid"),
        ({"travel_buffer": "2h"}, "travel_buffer", "rules:invalid"),
        ({"travel_buffer": timedelta(minutes=-1)}, "travel_buffer", "rules:invalid"),
        ({"region_policy": "exclude-province"}, "region_policy", "rules:invalid"),
        ({"utc_offset": "+8"}, "utc_offset", "rules:invalid"),
    ],
)
def test_a_bad_configuration_names_the_bad_key(mapping, key, code):
    with pytest.raises(RulesError) as caught:
        Rules.from_mapping(mapping)
    assert caught.value.key == key
    assert caught.value.code == code
    assert key in str(caught.value)


def test_a_configuration_must_be_a_mapping():
    with pytest.raises(RulesError) as caught:
        Rules.from_mapping([("stale_days", 3)])  # type: ignore[arg-type]
    assert caught.value.code == "rules:not-a-mapping"


# ------------------------------------------------------------- counts, explanations


def test_count_exclusions_counts_each_expert_under_its_first_reason_in_order():
    experts = [
        expert(1),
        expert(2, home_region="530621", data_confirmed_on=None),  # region first
        expert(3, data_confirmed_on=None),
        expert(4, employer="BIDDER-1"),
        expert(5, employer="BIDDER-2", home_region="530602"),  # region first
        expert(6, status="retired", employer="TENDERER"),  # inactive first
        expert(7),
    ]
    counts = count_exclusions(experts, PROJECT)
    assert counts == {"inactive": 1, "region": 2, "party-employer": 1, "stale-data": 1}
    assert list(counts) == ["inactive", "region", "party-employer", "stale-data"]
    eligible, same = partition(experts, PROJECT)
    assert [e.code for e in eligible] == ["E0000001", "E0000007"]
    assert same == counts
    assert sum(counts.values()) + len(eligible) == len(experts)


def test_count_exclusions_of_nobody_is_empty():
    assert count_exclusions([], PROJECT) == {}


def test_an_expert_listed_twice_is_refused():
    with pytest.raises(EligibilityError) as caught:
        count_exclusions([expert(1), expert(1)], PROJECT)
    assert caught.value.code == "eligibility:duplicate-expert"


def test_explain_gives_codes_only_never_the_other_partys_data():
    conflicted = expert(
        9,
        employer="BIDDER-2",
        relatives_orgs=("AGENCY",),
        declared_conflicts=("TENDERER",),
        employment_history=(Employment("BIDDER-1", date(2024, 1, 1)),),
        penalties=(Penalty("blacklist", date(2020, 1, 1)),),
    )
    answer = explain(conflicted, PROJECT)
    assert answer == {
        "expert": "E0000009",
        "project": "P2026-0456",
        "eligible": False,
        "reasons": [
            "party-employer",
            "party-former",
            "party-relative",
            "party-declared",
            "penalty",
        ],
    }
    text = json.dumps(answer)
    for private in ("BIDDER", "AGENCY", "TENDERER", "EMPLOYER", "blacklist", "2020"):
        assert private not in text


# ---------------------------------------------------------------------- stale share


def test_stale_share_of_a_stratum():
    stratum = [expert(n) for n in range(1, 9)] + [
        expert(9, data_confirmed_on=None),
        expert(10, data_confirmed_on=DAY - timedelta(days=366)),
    ]
    assert stale_share(stratum, Rules(), DAY) == Fraction(1, 5)
    assert stale_share(stratum, Rules(), DAY - timedelta(days=1)) == Fraction(1, 10)
    assert stale_share([], Rules(), DAY) == 0


def test_a_draw_proceeds_only_when_the_stale_share_is_below_the_limit():
    fresh = [expert(n) for n in range(1, 9)]
    stale = [expert(n, data_confirmed_on=None) for n in range(9, 11)]
    with pytest.raises(EligibilityError) as caught:
        check_stale_share(fresh + stale, Rules(), DAY, stratum="technical")  # exactly 1/5
    assert caught.value.code == "stale-data:share"
    assert "technical" in str(caught.value)
    assert check_stale_share(fresh + stale[:1], Rules(), DAY) == Fraction(1, 9)
    assert check_stale_share([], Rules(), DAY) == 0
    lenient = Rules(stale_share_limit=Fraction(1, 4))
    assert check_stale_share(fresh + stale, lenient, DAY) == Fraction(1, 5)
    with pytest.raises(EligibilityError):
        check_stale_share(stale, Rules(stale_share_limit=Fraction(1)), DAY)


# ------------------------------------------------------------------ dates and facts


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2026, 12, 3), 3, date(2023, 12, 3)),
        (date(2028, 2, 29), 3, date(2025, 2, 28)),
        (date(2028, 2, 29), 4, date(2024, 2, 29)),
        (date(2025, 3, 1), 1, date(2024, 3, 1)),
        (date(2026, 1, 1), 0, date(2026, 1, 1)),
    ],
)
def test_years_before_handles_29_february(day, years, expected):
    assert years_before(day, years) == expected


def test_the_evaluation_date_is_the_local_date_of_the_window_start():
    late = replace(PROJECT, window_start=datetime(2026, 12, 2, 17, 0, tzinfo=UTC))
    assert evaluation_date(late) == date(2026, 12, 3)
    assert evaluation_date(late, Rules(utc_offset=timedelta(0))) == date(2026, 12, 2)
    naive = replace(
        PROJECT, window_start=datetime(2026, 12, 2, 17), window_end=datetime(2026, 12, 3)
    )
    assert evaluation_date(naive) == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: replace(CLEAN, home_region="53060"), "eligibility:region-code"),
        (lambda: replace(CLEAN, home_region="053060"), "eligibility:region-code"),
        (lambda: replace(CLEAN, home_region="５３０６０２"), "eligibility:region-code"),
        (lambda: replace(CLEAN, status="dormant"), "eligibility:status"),
        (lambda: replace(CLEAN, code=""), "eligibility:expert"),
        (lambda: replace(CLEAN, relatives_orgs=["AGENCY"]), "eligibility:expert"),
        (lambda: replace(PROJECT, region="5306"), "eligibility:region-code"),
        (lambda: replace(PROJECT, window_end=WS), "eligibility:window"),
        (lambda: replace(PROJECT, window_end=datetime(2026, 12, 3, 9)), "eligibility:datetime"),
        (lambda: replace(PROJECT, tenderer=""), "eligibility:project"),
        (lambda: Period(WS, WS), "eligibility:period"),
        (lambda: Employment("ORG", date(2026, 1, 2), date(2026, 1, 1)), "eligibility:employment"),
        (lambda: Penalty("warning", date(2026, 1, 1)), "eligibility:penalty"),  # type: ignore[arg-type]
        (lambda: Penalty("blacklist", date(2026, 1, 2), date(2026, 1, 1)), "eligibility:penalty"),
    ],
)
def test_malformed_facts_are_refused_with_a_code(build, code):
    with pytest.raises(EligibilityError) as caught:
        build()
    assert caught.value.code == code


def test_times_that_cannot_be_compared_with_the_window_are_refused():
    naive_history = replace(CLEAN, member_history=(Membership(datetime(2026, 12, 1), "T"),))
    with pytest.raises(EligibilityError) as caught:
        explain(naive_history, PROJECT)
    assert caught.value.code == "eligibility:datetime"


def test_project_facts_are_read_only():
    related = {"BIDDER-1": ("GROUP-1",)}
    project = replace(PROJECT, related_orgs=related)
    related["BIDDER-2"] = ("GROUP-1",)
    assert dict(project.related_orgs) == {"BIDDER-1": ("GROUP-1",)}
    with pytest.raises(TypeError):
        project.related_orgs["X"] = "Y"  # type: ignore[index]
    assert hash(project) == hash(replace(project))
    assert project.parties == {"TENDERER", "AGENCY", "BIDDER-1", "BIDDER-2", "AUTHORITY"}
    assert project.interested_parties == {"TENDERER", "AGENCY", "BIDDER-1", "BIDDER-2"}
