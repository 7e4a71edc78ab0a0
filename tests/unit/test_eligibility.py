"""Every exclusion rule of rules.md excludes exactly the experts it should, at its boundaries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expertdraw.domain.eligibility import (
    REASON_CODES,
    RULES,
    Employment,
    ExpertFacts,
    Membership,
    Penalty,
    Period,
    ProjectFacts,
    Rules,
    count_exclusions,
    exclusions,
    explain,
    first_exclusion,
)

WS = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 09:00 at the trading centre (UTC+8)
WE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
DAY = date(2026, 12, 3)  # the evaluation date
H = timedelta(hours=1)
D = timedelta(days=1)
S = timedelta(seconds=1)

PROJECT = ProjectFacts(
    code="P2026-0456",
    region="530602",  # Zhaoyang district, Zhaotong prefecture (5306)
    tenderer="TENDERER",
    agency="AGENCY",
    bidders=("BIDDER-1", "BIDDER-2"),
    authorities=("AUTHORITY",),
    drafters=("E-DRAFTER",),
    window_start=WS,
    window_end=WE,
    related_orgs={"BIDDER-1": ("GROUP-1", "HOLDING-1")},
)
CLEAN = ExpertFacts(
    code="E0000001",
    status="active",
    home_region="530102",  # Kunming: another prefecture
    qualification_expiry=date(2027, 12, 31),
    employer="EMPLOYER",
    data_confirmed_on=date(2026, 6, 1),
)

LEAP_WS = datetime(2028, 2, 29, 1, 0, tzinfo=UTC)  # evaluation date 2028-02-29
LEAP_PROJECT = replace(PROJECT, window_start=LEAP_WS, window_end=LEAP_WS + 8 * H)
LEAP_CLEAN = replace(CLEAN, qualification_expiry=None, data_confirmed_on=date(2028, 1, 1))


def member(time: datetime, tenderer: str = "OTHER-TENDERER") -> Membership:
    return Membership(time=time, tenderer=tenderer)


DEFAULT = Rules()


def case(expected, name, project=PROJECT, rules=DEFAULT, base=CLEAN, **changes):
    return pytest.param(replace(base, **changes), project, rules, expected, id=name)


def leap(expected, name, **changes):
    return case(expected, name, project=LEAP_PROJECT, base=LEAP_CLEAN, **changes)


CASES = [
    case([], "clean expert"),
    # inactive
    case(["inactive"], "suspended", status="suspended"),
    case(["inactive"], "retired", status="retired"),
    case(["inactive"], "removed", status="removed"),
    case(["inactive"], "qualification expired the day before", qualification_expiry=DAY - D),
    case([], "qualification expires on the evaluation date", qualification_expiry=DAY),
    case([], "no qualification expiry recorded", qualification_expiry=None),
    case(
        ["inactive"],
        "evaluation date is the local date (00:30 UTC+8 on the next day)",
        project=replace(PROJECT, window_start=datetime(2026, 12, 2, 16, 30, tzinfo=UTC)),
        qualification_expiry=date(2026, 12, 2),
    ),
    case(
        [],
        "still the expiry day locally at 23:30 UTC+8",
        project=replace(PROJECT, window_start=datetime(2026, 12, 2, 15, 30, tzinfo=UTC)),
        qualification_expiry=date(2026, 12, 2),
    ),
    # region
    case(["region"], "same county", home_region="530602"),
    case(["region"], "same prefecture, other county", home_region="530621"),
    case([], "neighbouring prefecture", home_region="530702"),
    case(
        ["region"],
        "exclude-county: same county",
        rules=Rules(region_policy="exclude-county"),
        home_region="530602",
    ),
    case(
        [],
        "exclude-county: same prefecture is allowed",
        rules=Rules(region_policy="exclude-county"),
        home_region="530621",
    ),
    case(
        ["region"],
        "exclude-county with a prefecture-level project region",
        project=replace(PROJECT, region="530600"),
        rules=Rules(region_policy="exclude-county"),
        home_region="530621",
    ),
    case([], "region policy none", rules=Rules(region_policy="none"), home_region="530602"),
    # party-employer
    case(["party-employer"], "works for the tenderer", employer="TENDERER"),
    case(["party-employer"], "works for the agency", employer="AGENCY"),
    case(["party-employer"], "works for a bidder", employer="BIDDER-2"),
    case(["party-employer"], "employer controlled by a bidder", employer_groups=("BIDDER-1",)),
    case(["party-employer"], "employer controls a bidder", employer="GROUP-1"),
    case(
        ["party-employer"],
        "employer two levels below a bidder",
        employer_groups=("UNIT-9", "BIDDER-1"),
    ),
    case(["party-employer"], "employer controls a bidder two levels up", employer="HOLDING-1"),
    case([], "sibling of a bidder in one group", employer_groups=("GROUP-1",)),
    case([], "cousin of a bidder under one holding", employer_groups=("GROUP-2", "HOLDING-1")),
    case([], "no employer", employer=None),
    # party-former
    case(
        ["party-former"],
        "left a bidder exactly 3 years ago",
        employment_history=(Employment("BIDDER-1", date(2015, 1, 1), date(2023, 12, 3)),),
    ),
    case(
        [],
        "left a bidder 3 years and a day ago",
        employment_history=(Employment("BIDDER-1", date(2015, 1, 1), date(2023, 12, 2)),),
    ),
    case(
        ["party-former"],
        "ongoing second job at the agency",
        employment_history=(Employment("AGENCY", date(2015, 1, 1)),),
    ),
    case(
        ["party-former"],
        "advised the tenderer last year",
        advising=(Employment("TENDERER", date(2025, 1, 1), date(2025, 6, 30)),),
    ),
    case(
        ["party-former"],
        "worked for the authority two years ago",
        employment_history=(Employment("AUTHORITY", date(2010, 1, 1), date(2024, 12, 31)),),
    ),
    case(
        [],
        "former employer is no party",
        employment_history=(Employment("ELSEWHERE", date(2024, 1, 1)),),
    ),
    case(
        [],
        "former_employer_years=1: left two years ago",
        rules=Rules(former_employer_years=1),
        employment_history=(Employment("BIDDER-2", date(2015, 1, 1), date(2024, 12, 1)),),
    ),
    leap(
        ["party-former"],
        "29 Feb: left on 28 Feb three years before",
        employment_history=(Employment("BIDDER-1", date(2015, 1, 1), date(2025, 2, 28)),),
    ),
    leap(
        [],
        "29 Feb: left on 27 Feb three years before",
        employment_history=(Employment("BIDDER-1", date(2015, 1, 1), date(2025, 2, 27)),),
    ),
    # party-relative
    case(["party-relative"], "relative at a bidder", relatives_orgs=("BIDDER-2",)),
    case(["party-relative"], "relative at the agency", relatives_orgs=("AGENCY",)),
    case(["party-relative"], "relative at the authority", relatives_orgs=("AUTHORITY",)),
    case([], "relative elsewhere", relatives_orgs=("ELSEWHERE",)),
    # party-declared
    case(["party-declared"], "declared the tenderer", declared_conflicts=("TENDERER",)),
    case(["party-declared"], "declared a bidder", declared_conflicts=("BIDDER-1",)),
    case([], "declared another org", declared_conflicts=("ELSEWHERE",)),
    # authority
    case(["authority"], "works for the authority", employer="AUTHORITY"),
    case(["authority"], "works for a unit of the authority", employer_groups=("AUTHORITY",)),
    case(
        ["authority"],
        "works for a unit of a unit of the authority",
        employer_groups=("UNIT-9", "AUTHORITY"),
    ),
    # penalty
    case(
        ["penalty"],
        "administrative penalty exactly 3 years ago",
        penalties=(Penalty("administrative", date(2023, 12, 3)),),
    ),
    case(
        [],
        "administrative penalty 3 years and a day ago",
        penalties=(Penalty("administrative", date(2023, 12, 2)),),
    ),
    case(
        ["penalty"],
        "criminal penalty exactly 3 years ago",
        penalties=(Penalty("criminal", date(2023, 12, 3)),),
    ),
    case([], "old criminal penalty", penalties=(Penalty("criminal", date(2023, 12, 2)),)),
    case(
        ["penalty"],
        "old penalty still running",
        penalties=(Penalty("administrative", date(2020, 1, 1), date(2026, 12, 4)),),
    ),
    case(
        [],
        "old penalty lapsing on the evaluation date",
        penalties=(Penalty("administrative", date(2020, 1, 1), date(2026, 12, 3)),),
    ),
    case(
        ["penalty"],
        "indefinite blacklist",
        penalties=(Penalty("blacklist", date(2010, 1, 1)),),
    ),
    case(
        ["penalty"],
        "blacklist lapsing the day after",
        penalties=(Penalty("blacklist", date(2010, 1, 1), date(2026, 12, 4)),),
    ),
    case(
        [],
        "blacklist lapsing on the evaluation date",
        penalties=(Penalty("blacklist", date(2025, 1, 1), date(2026, 12, 3)),),
    ),
    case(
        ["penalty"],
        "blacklist starting on the evaluation date",
        penalties=(Penalty("blacklist", DAY),),
    ),
    case([], "blacklist starting the day after", penalties=(Penalty("blacklist", DAY + D),)),
    leap(
        ["penalty"],
        "29 Feb: penalty on 28 Feb three years before",
        penalties=(Penalty("administrative", date(2025, 2, 28)),),
    ),
    leap(
        [],
        "29 Feb: penalty on 27 Feb three years before",
        penalties=(Penalty("administrative", date(2025, 2, 27)),),
    ),
    # drafting
    case(["drafting"], "drafted the documents", code="E-DRAFTER"),
    # busy (travel buffer 2 h on both sides)
    case(["busy"], "seated during the window", bookings=(Period(WS + H, WS + 2 * H),)),
    case(["busy"], "seated around the window", bookings=(Period(WS - D, WE + D),)),
    case([], "seat ends where the buffer starts", bookings=(Period(WS - 6 * H, WS - 2 * H),)),
    case(["busy"], "seat ends inside the buffer", bookings=(Period(WS - 6 * H, WS - 2 * H + S),)),
    case([], "seat starts where the buffer ends", bookings=(Period(WE + 2 * H, WE + 6 * H),)),
    case(["busy"], "seat starts inside the buffer", bookings=(Period(WE + 2 * H - S, WE + D),)),
    case(
        [],
        "no buffer: adjacent seat",
        rules=Rules(travel_buffer=timedelta(0)),
        bookings=(Period(WS - H, WS),),
    ),
    # unavailable
    case(["unavailable"], "leave inside the window", leave=(Period(WS + H, WS + 2 * H),)),
    case([], "leave ends at the window start", leave=(Period(WS - D, WS),)),
    case(["unavailable"], "leave ends a second late", leave=(Period(WS - D, WS + S),)),
    case([], "leave starts at the window end", leave=(Period(WE, WE + D),)),
    case(["unavailable"], "leave starts a second early", leave=(Period(WE - S, WE + D),)),
    # frequency (4 on evaluations within 30 days of the window start, before or after)
    case(
        ["frequency"],
        "four memberships, the oldest a second less than 30 days back",
        member_history=(*(member(WS - d * D) for d in (1, 2, 3)), member(WS - 30 * D + S)),
    ),
    case(
        [],
        "four memberships, the oldest exactly 30 days back",
        member_history=tuple(member(WS - d * D) for d in (1, 2, 3, 30)),
    ),
    case([], "three memberships", member_history=tuple(member(WS - d * D) for d in (1, 2, 3))),
    case(
        ["frequency"],
        "four memberships, one a second less than 30 days after (already drawn)",
        member_history=(*(member(WS - d * D) for d in (1, 2, 3)), member(WS + 30 * D - S)),
    ),
    case(
        [],
        "four memberships, one exactly 30 days after",
        member_history=(*(member(WS - d * D) for d in (1, 2, 3)), member(WS + 30 * D)),
    ),
    case(
        ["frequency"],
        "four memberships, all on later evaluations",
        member_history=tuple(member(WS + d * D) for d in (1, 2, 3, 4)),
    ),
    case(
        ["frequency"],
        "frequency_limit=2",
        rules=Rules(frequency_limit=2),
        member_history=tuple(member(WS - d * D) for d in (1, 2)),
    ),
    # same-tenderer (an evaluation within 90 days, before or after)
    case(
        [],
        "same_tenderer_days=0 counts no one, the same start included",
        rules=Rules(same_tenderer_days=0),
        member_history=(member(WS, "TENDERER"),),
    ),
    case(
        ["same-tenderer"],
        "same tenderer a second less than 90 days back",
        member_history=(member(WS - 90 * D + S, "TENDERER"),),
    ),
    case(
        [],
        "same tenderer exactly 90 days back",
        member_history=(member(WS - 90 * D, "TENDERER"),),
    ),
    case(
        ["same-tenderer"],
        "same tenderer a second less than 90 days after (already drawn)",
        member_history=(member(WS + 90 * D - S, "TENDERER"),),
    ),
    case(
        [],
        "same tenderer exactly 90 days after",
        member_history=(member(WS + 90 * D, "TENDERER"),),
    ),
    case([], "another tenderer yesterday", member_history=(member(WS - D),)),
    # stale-data (365 days)
    case(["stale-data"], "never confirmed", data_confirmed_on=None),
    case([], "confirmed exactly 365 days before", data_confirmed_on=DAY - 365 * D),
    case(["stale-data"], "confirmed 366 days before", data_confirmed_on=DAY - 366 * D),
    case(
        ["stale-data"],
        "stale_days=30",
        rules=Rules(stale_days=30),
        data_confirmed_on=DAY - 31 * D,
    ),
]


@pytest.mark.parametrize(("expert", "project", "rules", "expected"), CASES)
def test_rule_excludes_exactly_the_experts_it_should(expert, project, rules, expected):
    assert exclusions(expert, project, rules) == expected
    assert first_exclusion(expert, project, rules) == (expected[0] if expected else None)
    assert explain(expert, project, rules)["eligible"] is (not expected)


@pytest.mark.parametrize(("expert", "project", "rules", "expected"), CASES)
def test_each_rule_function_answers_only_for_its_own_code(expert, project, rules, expected):
    for code, rule in RULES:
        assert rule(expert, project, rules) == (code if code in expected else None)


def test_every_reason_code_has_a_triggering_case():
    triggered = {code for param in CASES for code in param.values[3]}
    assert triggered == set(REASON_CODES)
    assert len(REASON_CODES) == 14


def test_the_codes_are_listed_in_rules_md_order():
    assert REASON_CODES == (
        "inactive",
        "region",
        "party-employer",
        "party-former",
        "party-relative",
        "party-declared",
        "authority",
        "penalty",
        "drafting",
        "busy",
        "unavailable",
        "frequency",
        "same-tenderer",
        "stale-data",
    )


def test_several_rules_are_listed_in_order_and_counted_under_the_first():
    expert = replace(
        CLEAN, data_confirmed_on=None, home_region="530621", relatives_orgs=("AGENCY",)
    )
    assert exclusions(expert, PROJECT) == ["region", "party-relative", "stale-data"]
    assert first_exclusion(expert, PROJECT) == "region"
    assert count_exclusions([expert, replace(CLEAN, code="E0000002")], PROJECT) == {"region": 1}


# ---------------------------------------------------------------- properties (hypothesis)

CLEAN_ORGS = ("ORG-A", "ORG-B", "ORG-C", "EMPLOYER")
ALL_ORGS = (*CLEAN_ORGS, "TENDERER", "AGENCY", "BIDDER-1", "BIDDER-2", "AUTHORITY", "GROUP-1")
CUTOFF = date(2023, 12, 3)  # three years before DAY


def _periods(before: datetime, after: datetime) -> st.SearchStrategy[Period]:
    """Periods entirely before ``before`` or entirely after ``after``."""
    length = st.integers(1, 72 * 60).map(lambda m: timedelta(minutes=m))
    gap = st.integers(0, 60 * 24 * 60).map(lambda m: timedelta(minutes=m))
    early = st.tuples(gap, length).map(lambda g: Period(before - g[0] - g[1], before - g[0]))
    late = st.tuples(gap, length).map(lambda g: Period(after + g[0], after + g[0] + g[1]))
    return early | late


LEAVE = _periods(WS, WE)  # leave is clean outside the bare window
BOOKINGS = _periods(WS - 2 * H, WE + 2 * H)  # seats are clean outside the buffered window


def _minutes_before(low: int, high: int) -> st.SearchStrategy[datetime]:
    return st.integers(low, high).map(lambda m: WS - timedelta(minutes=m))


MINUTES_PER_DAY = 24 * 60
HISTORY = st.one_of(
    st.builds(Employment, st.sampled_from(CLEAN_ORGS), st.dates(date(2000, 1, 1), DAY)),
    st.builds(
        Employment,
        st.sampled_from(ALL_ORGS),
        st.just(date(1999, 1, 1)),
        st.dates(date(2000, 1, 1), CUTOFF - D),
    ),
)
PENALTIES = st.one_of(
    st.builds(
        Penalty,
        st.sampled_from(["administrative", "criminal"]),
        st.dates(date(2000, 1, 1), CUTOFF - D),
        st.none() | st.dates(CUTOFF, DAY),
    ),
    st.builds(
        Penalty,
        st.just("blacklist"),
        st.dates(date(2000, 1, 1), date(2020, 1, 1)),
        st.dates(date(2020, 1, 1), DAY),
    ),
    st.builds(Penalty, st.just("blacklist"), st.dates(DAY + D, date(2030, 1, 1))),
)
RECENT = st.lists(st.builds(member, _minutes_before(1, 30 * MINUTES_PER_DAY)), max_size=3)
OLDER = st.lists(
    st.builds(
        member,
        _minutes_before(30 * MINUTES_PER_DAY + 1, 400 * MINUTES_PER_DAY),
        st.sampled_from(["OTHER-TENDERER", "T2"]),
    ),
    max_size=6,
)
SAME_TENDERER_LONG_AGO = st.lists(
    st.builds(
        member,
        _minutes_before(91 * MINUTES_PER_DAY, 400 * MINUTES_PER_DAY),
        st.just("TENDERER"),
    ),
    max_size=2,
)
BEYOND_THE_SPANS = st.lists(st.just(member(WS + 91 * D, "TENDERER")), max_size=2)


@st.composite
def clean_experts(draw: st.DrawFn) -> ExpertFacts:
    """Experts that no rule excludes from PROJECT under the default rules."""
    memberships = draw(RECENT) + draw(OLDER) + draw(SAME_TENDERER_LONG_AGO)
    memberships += draw(BEYOND_THE_SPANS)
    return ExpertFacts(
        code=draw(st.sampled_from(["E0000001", "E0000002", "E0099999"])),
        status="active",
        home_region=draw(st.sampled_from(["530102", "530702", "532301", "110101", "530400"])),
        qualification_expiry=draw(st.none() | st.dates(DAY, date(2035, 1, 1))),
        employer=draw(st.sampled_from(CLEAN_ORGS)),
        employer_groups=tuple(draw(st.lists(st.sampled_from(CLEAN_ORGS), max_size=2, unique=True))),
        employment_history=tuple(draw(st.lists(HISTORY, max_size=4))),
        advising=tuple(draw(st.lists(HISTORY, max_size=2))),
        relatives_orgs=tuple(draw(st.lists(st.sampled_from(CLEAN_ORGS), max_size=3))),
        declared_conflicts=tuple(draw(st.lists(st.sampled_from(CLEAN_ORGS), max_size=3))),
        penalties=tuple(draw(st.lists(PENALTIES, max_size=3))),
        leave=tuple(draw(st.lists(LEAVE, max_size=3))),
        bookings=tuple(draw(st.lists(BOOKINGS, max_size=3))),
        member_history=tuple(draw(st.permutations(memberships))),
        data_confirmed_on=draw(st.dates(DAY - 365 * D, DAY)),
        specialties=tuple(draw(st.lists(st.sampled_from(["A0101", "C0301"]), max_size=2))),
    )


def _add(expert: ExpertFacts, name: str, *items: object) -> ExpertFacts:
    return replace(expert, **{name: (*getattr(expert, name), *items)})


# One fact per rule that triggers that rule alone (and combines with the others).
TRIGGERS = {
    "inactive": lambda e: replace(e, qualification_expiry=DAY - D),
    "region": lambda e: replace(e, home_region="530621"),
    "party-employer": lambda e: replace(e, employer="BIDDER-2"),
    "party-former": lambda e: _add(e, "advising", Employment("BIDDER-1", date(2024, 1, 1))),
    "party-relative": lambda e: _add(e, "relatives_orgs", "AGENCY"),
    "party-declared": lambda e: _add(e, "declared_conflicts", "TENDERER"),
    "authority": lambda e: replace(e, employer_groups=("AUTHORITY",)),
    "penalty": lambda e: _add(e, "penalties", Penalty("blacklist", date(2020, 1, 1))),
    "drafting": lambda e: replace(e, code="E-DRAFTER"),
    "busy": lambda e: _add(e, "bookings", Period(WS + H, WS + 3 * H)),
    "unavailable": lambda e: _add(e, "leave", Period(WS - H, WS + H)),
    "frequency": lambda e: _add(e, "member_history", *(member(WS - d * H) for d in (1, 2, 3, 4))),
    "same-tenderer": lambda e: _add(e, "member_history", member(WS - 60 * D, "TENDERER")),
    "stale-data": lambda e: replace(e, data_confirmed_on=None),
}


def test_triggers_cover_every_reason_code():
    assert tuple(TRIGGERS) == REASON_CODES


@given(clean_experts())
def test_an_expert_built_clean_is_eligible(expert):
    assert exclusions(expert, PROJECT) == []
    assert explain(expert, PROJECT) == {
        "expert": expert.code,
        "project": PROJECT.code,
        "eligible": True,
        "reasons": [],
    }


@given(clean_experts(), st.sampled_from(REASON_CODES))
def test_adding_one_triggering_fact_adds_exactly_that_code(expert, code):
    assert exclusions(TRIGGERS[code](expert), PROJECT) == [code]


@given(clean_experts(), st.sets(st.sampled_from(REASON_CODES)))
def test_triggering_facts_add_their_codes_in_rules_md_order(expert, codes):
    for code in codes:
        expert = TRIGGERS[code](expert)
    result = exclusions(expert, PROJECT)
    assert result == [code for code in REASON_CODES if code in codes]
    assert first_exclusion(expert, PROJECT) == (result[0] if result else None)


TUPLE_FIELDS = (
    "employment_history",
    "advising",
    "relatives_orgs",
    "declared_conflicts",
    "penalties",
    "leave",
    "bookings",
    "member_history",
    "specialties",
)


@given(clean_experts(), st.sets(st.sampled_from(REASON_CODES)), st.data())
def test_exclusions_do_not_depend_on_the_order_of_facts(expert, codes, data):
    for code in codes:
        expert = TRIGGERS[code](expert)
    shuffled = replace(
        expert,
        **{name: tuple(data.draw(st.permutations(getattr(expert, name)))) for name in TUPLE_FIELDS},
    )
    assert exclusions(shuffled, PROJECT) == exclusions(expert, PROJECT)
