"""The exclusion rules of rules.md, one small pure function per reason code.

Each ``check_*`` takes ``(expert, project, rules)`` and returns its reason code when the rule
excludes the expert, else None. ``RULES`` lists them in rules.md's order; the boundary choices
are documented in ``expertdraw.domain.eligibility``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from expertdraw.domain.eligibility_config import Rules
from expertdraw.domain.eligibility_facts import (
    ExpertFacts,
    Membership,
    Penalty,
    Period,
    ProjectFacts,
)

Rule = Callable[[ExpertFacts, ProjectFacts, Rules], str | None]
DEFAULT_RULES = Rules()


def evaluation_date(project: ProjectFacts, rules: Rules = DEFAULT_RULES) -> date:
    """The local calendar date of the window start (what date-based rules compare with)."""
    start = project.window_start
    if start.tzinfo is not None:
        start = start.astimezone(rules.zone)
    return start.date()


def years_before(day: date, years: int) -> date:
    """``day`` minus ``years`` calendar years; 29 February maps to 28 February."""
    year = max(day.year - years, 1)
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=year, day=28)


def _related(
    org: str, org_controllers: tuple[str, ...], party: str, party_controllers: tuple[str, ...]
) -> bool:
    """Same organisation, or one controls the other, directly or through any number of
    ``parent`` links (control passes down a chain: a group controls its subsidiaries'
    units). Two units of one group are not related by that alone."""
    return org == party or party in org_controllers or org in party_controllers


def former_role_cutoff(project: ProjectFacts, rules: Rules) -> date:
    """``party-former``: a role at a party counts if it lasts or ended on or after this day."""
    return years_before(evaluation_date(project, rules), rules.former_employer_years)


def penalty_cutoff(project: ProjectFacts, rules: Rules) -> date:
    """``penalty``: a non-blacklist penalty counts if it started on or after this day."""
    return years_before(evaluation_date(project, rules), rules.penalty_years)


def busy_span(project: ProjectFacts, rules: Rules) -> tuple[datetime, datetime]:
    """``busy``: the window widened by the travel buffer; a booking overlapping it excludes."""
    return project.window_start - rules.travel_buffer, project.window_end + rules.travel_buffer


def recent_span(start: datetime, days: int) -> tuple[datetime, datetime]:
    """``frequency`` / ``same-tenderer``: a membership counts when its evaluation starts
    strictly inside this span: less than ``days`` from ``start`` (this window's start), before
    or after it (so 0 days counts none).

    A membership is dated by the evaluation it sits on, not by its draw: a draw may be made
    weeks before its window, and dated by the draw a membership would fall outside the
    look-back of every window it could clash with. The span reaches after ``start`` too,
    because committees are drawn in no set order: an expert already drawn for an evaluation
    a week later has sat there by then as surely as one drawn for last week, and counting
    only earlier evaluations would let the order of the draws decide the rule.
    """
    reach = timedelta(days=days)
    return start - reach, start + reach


def stale_before(rules: Rules, on: date) -> date:
    """``stale-data``: a confirmation earlier than this day is stale."""
    return on - timedelta(days=rules.stale_days)


def _employer_related_to(expert: ExpertFacts, project: ProjectFacts, orgs: Iterable[str]) -> bool:
    employer = expert.employer
    if not employer:
        return False
    controllers = expert.employer_groups or project.related_orgs.get(employer, ())
    related = project.related_orgs
    return any(_related(employer, controllers, org, related.get(org, ())) for org in orgs)


def check_inactive(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``inactive``: not active, or qualification expired before the evaluation date."""
    if expert.status != "active":
        return "inactive"
    expiry = expert.qualification_expiry
    if expiry is not None and expiry < evaluation_date(project, rules):
        return "inactive"
    return None


def check_region(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``region``: home region inside the project's prefecture (first 4 digits of GB/T 2260)
    or, under ``exclude-county``, inside the project's own region (its code, or the
    prefecture / province that a ``XXYY00`` / ``XX0000`` code names)."""
    home, own = expert.home_region, project.region
    if rules.region_policy == "exclude-prefecture":
        inside = home[:4] == own[:4]
    elif rules.region_policy == "exclude-county":
        if own.endswith("0000"):
            inside = home[:2] == own[:2]
        elif own.endswith("00"):
            inside = home[:4] == own[:4]
        else:
            inside = home == own
    else:
        inside = False
    return "region" if inside else None


def check_party_employer(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``party-employer``: employer is (or controls / is controlled by) tenderer, agency or a
    bidder."""
    hit = _employer_related_to(expert, project, sorted(project.interested_parties))
    return "party-employer" if hit else None


def check_party_former(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``party-former``: employed by or advising a party within the last N years."""
    cutoff = former_role_cutoff(project, rules)
    parties = project.parties
    for role in (*expert.employment_history, *expert.advising):
        if role.org in parties and (role.end is None or role.end >= cutoff):
            return "party-former"
    return None


def check_party_relative(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``party-relative``: a declared close relative works for or leads a party."""
    return "party-relative" if project.parties.intersection(expert.relatives_orgs) else None


def check_party_declared(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``party-declared``: the expert declared a conflict with a party."""
    return "party-declared" if project.parties.intersection(expert.declared_conflicts) else None


def check_authority(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``authority``: works for (or for a unit controlled by) a supervising/approving body."""
    hit = _employer_related_to(expert, project, project.authorities)
    return "authority" if hit else None


def _penalty_applies(penalty: Penalty, on: date, cutoff: date) -> bool:
    running = penalty.end is None or penalty.end > on
    if penalty.kind == "blacklist":
        return penalty.start <= on and running
    return penalty.start >= cutoff or (penalty.end is not None and penalty.end > on)


def check_penalty(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``penalty``: a penalty within N years of its start, or a blacklist entry in force."""
    on = evaluation_date(project, rules)
    cutoff = penalty_cutoff(project, rules)
    hit = any(_penalty_applies(p, on, cutoff) for p in expert.penalties)
    return "penalty" if hit else None


def check_drafting(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``drafting``: took part in drafting or consulting on the project's documents."""
    return "drafting" if expert.code in project.drafters else None


def _overlaps(periods: Iterable[Period], start: datetime, end: datetime) -> bool:
    return any(p.start < end and p.end > start for p in periods)


def check_busy(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``busy``: seated elsewhere within the window widened by the travel buffer."""
    return "busy" if _overlaps(expert.bookings, *busy_span(project, rules)) else None


def check_unavailable(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``unavailable``: declared leave overlapping the window."""
    hit = _overlaps(expert.leave, project.window_start, project.window_end)
    return "unavailable" if hit else None


def _recent(history: Iterable[Membership], start: datetime, days: int) -> list[Membership]:
    since, until = recent_span(start, days)
    return [m for m in history if since < m.time < until]


def check_frequency(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``frequency``: already a member ``frequency_limit`` times of evaluations within N days
    of this one (:func:`recent_span`)."""
    recent = _recent(expert.member_history, project.window_start, rules.frequency_days)
    return "frequency" if len(recent) >= rules.frequency_limit else None


def check_same_tenderer(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``same-tenderer``: a member for this tenderer of an evaluation within N days of this
    one (:func:`recent_span`)."""
    recent = _recent(expert.member_history, project.window_start, rules.same_tenderer_days)
    return "same-tenderer" if any(m.tenderer == project.tenderer for m in recent) else None


def is_stale(expert: ExpertFacts, rules: Rules, on: date) -> bool:
    """True when the expert's data was never confirmed, or not within ``stale_days`` of ``on``."""
    return confirmation_is_stale(expert.data_confirmed_on, rules, on)


def confirmation_is_stale(confirmed: date | None, rules: Rules, on: date) -> bool:
    """The stale-data test on the confirmation date alone (for bulk checks)."""
    return confirmed is None or confirmed < stale_before(rules, on)


def check_stale_data(expert: ExpertFacts, project: ProjectFacts, rules: Rules) -> str | None:
    """``stale-data``: employer / declarations not confirmed within N days."""
    return "stale-data" if is_stale(expert, rules, evaluation_date(project, rules)) else None


RULES: tuple[tuple[str, Rule], ...] = (
    ("inactive", check_inactive),
    ("region", check_region),
    ("party-employer", check_party_employer),
    ("party-former", check_party_former),
    ("party-relative", check_party_relative),
    ("party-declared", check_party_declared),
    ("authority", check_authority),
    ("penalty", check_penalty),
    ("drafting", check_drafting),
    ("busy", check_busy),
    ("unavailable", check_unavailable),
    ("frequency", check_frequency),
    ("same-tenderer", check_same_tenderer),
    ("stale-data", check_stale_data),
)
REASON_CODES: tuple[str, ...] = tuple(code for code, _ in RULES)
