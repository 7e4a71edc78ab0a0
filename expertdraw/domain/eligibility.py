"""Eligibility of experts for a project: the exclusions of rules.md and their reports.

The rules themselves are small pure functions in ``eligibility_rules`` (``check_*``, each taking
``(expert, project, rules)`` and returning its reason code or None), the plain data they read in
``eligibility_facts`` and the configurable limits in ``eligibility_config``; this module runs
them in rules.md's order and reports: :func:`exclusions`, :func:`first_exclusion`,
:func:`explain`, :func:`partition` / :func:`count_exclusions` and the stale-share check.

Boundary choices (all documented here so that a supervisor can explain any outcome):

- The *evaluation date* is the window start's calendar date at the trading centre
  (``rules.utc_offset``, +08:00 by default; a naive window start is taken as local time).
- "Within the last N years" of a date ``d`` means on or after ``d`` minus N calendar years; from
  29 February the year arithmetic lands on 28 February (the longer look-back).
- ``inactive``: status other than ``active``, or ``qualification_expiry`` earlier than the
  evaluation date (still qualified on the expiry day itself).
- ``party-employer`` / ``authority``: the employer *is* the party, an organisation controlling
  the employer is the party, or an organisation controlling the party is the employer, through
  any number of ``parent`` links (control passes down a chain; two subsidiaries of one group
  are not "control").
- ``party-former``: an employment or advising role at a party (tenderer, agency, bidder or
  authority) that lasts, or ended (last day) on or after the evaluation date minus N years.
- ``penalty``: an administrative or criminal penalty whose start (decision) date is within the
  last N years, or that is still running (``end``, the lapse day, after the evaluation date); a
  blacklist entry while in force: ``start <= evaluation date < end`` (``end`` None = indefinitely).
  Only penalties for bidding misconduct are expected in the data.
- ``busy``: a booking overlapping ``[window start - buffer, window end + buffer)``; touching
  ends do not overlap. ``unavailable``: leave overlapping ``[window start, window end)``.
- ``frequency``: at least ``frequency_limit`` memberships whose evaluations start at a
  ``time`` with ``window start - frequency_days < time < window start + frequency_days``
  (before or after: committees are drawn in no set order); ``same-tenderer``: one such
  membership with ``same_tenderer_days`` and the project's tenderer.
- ``stale-data``: never confirmed, or confirmed before the evaluation date minus ``stale_days``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from fractions import Fraction
from typing import Any

from expertdraw.domain.eligibility_config import REGION_POLICIES, Rules, RulesError
from expertdraw.domain.eligibility_facts import (
    EligibilityError,
    Employment,
    ExpertFacts,
    Membership,
    Penalty,
    Period,
    ProjectFacts,
)
from expertdraw.domain.eligibility_rules import (
    DEFAULT_RULES,
    REASON_CODES,
    RULES,
    busy_span,
    confirmation_is_stale,
    evaluation_date,
    former_role_cutoff,
    is_stale,
    penalty_cutoff,
    recent_span,
    stale_before,
    years_before,
)

__all__ = [
    "DEFAULT_RULES",
    "REASON_CODES",
    "REGION_POLICIES",
    "RULES",
    "EligibilityError",
    "Employment",
    "ExpertFacts",
    "Membership",
    "Penalty",
    "Period",
    "ProjectFacts",
    "Rules",
    "RulesError",
    "busy_span",
    "check_stale_share",
    "confirmation_is_stale",
    "count_exclusions",
    "evaluation_date",
    "exclusions",
    "explain",
    "first_exclusion",
    "former_role_cutoff",
    "is_stale",
    "partition",
    "penalty_cutoff",
    "recent_span",
    "stale_before",
    "stale_share",
    "years_before",
]


def _check_times(expert: ExpertFacts, project: ProjectFacts) -> None:
    aware = project.window_start.tzinfo is not None
    times = [p.start for p in (*expert.leave, *expert.bookings)]
    times += [m.time for m in expert.member_history]
    if any((t.tzinfo is not None) != aware for t in times):
        raise EligibilityError(
            "eligibility:datetime",
            f"expert {expert.code} has times that are not comparable with the project window "
            "(timezone-aware and naive mixed)",
        )


def exclusions(
    expert: ExpertFacts, project: ProjectFacts, rules: Rules = DEFAULT_RULES
) -> list[str]:
    """All reason codes that exclude ``expert`` from ``project``, in rules.md's order.

    Raises:
        EligibilityError: ``eligibility:datetime`` when the expert's times and the window mix
            timezone-aware and naive datetimes.
    """
    _check_times(expert, project)
    return [code for code, rule in RULES if rule(expert, project, rules) is not None]


def first_exclusion(
    expert: ExpertFacts, project: ProjectFacts, rules: Rules = DEFAULT_RULES
) -> str | None:
    """The first reason code (rules.md order) that excludes ``expert``, or None if eligible.

    Raises:
        EligibilityError: as :func:`exclusions`.
    """
    _check_times(expert, project)
    for _code, rule in RULES:
        reason = rule(expert, project, rules)
        if reason is not None:
            return reason
    return None


def explain(
    expert: ExpertFacts, project: ProjectFacts, rules: Rules = DEFAULT_RULES
) -> dict[str, Any]:
    """Why ``expert`` is or is not eligible: codes only, never the matched party or record.

    Returns ``{"expert", "project", "eligible", "reasons"}`` (a JSON value).

    Raises:
        EligibilityError: as :func:`exclusions`.
    """
    reasons = exclusions(expert, project, rules)
    return {
        "expert": expert.code,
        "project": project.code,
        "eligible": not reasons,
        "reasons": reasons,
    }


def partition(
    experts: Iterable[ExpertFacts], project: ProjectFacts, rules: Rules = DEFAULT_RULES
) -> tuple[list[ExpertFacts], dict[str, int]]:
    """Split experts into the eligible ones (input order) and per-reason counts.

    Each excluded expert is counted once, under the *first* reason that applies in rules.md's
    order (so the counts add up to the number excluded); the counts dict lists only reasons
    with a non-zero count, in rules.md's order. This is the announcement's ``excluded`` map.

    Raises:
        EligibilityError: ``eligibility:duplicate-expert`` if an expert code repeats; as
            :func:`exclusions` otherwise.
    """
    seen: set[str] = set()
    eligible: list[ExpertFacts] = []
    counts = dict.fromkeys(REASON_CODES, 0)
    for expert in experts:
        if expert.code in seen:
            raise EligibilityError(
                "eligibility:duplicate-expert", f"expert {expert.code} is listed twice"
            )
        seen.add(expert.code)
        reason = first_exclusion(expert, project, rules)
        if reason is None:
            eligible.append(expert)
        else:
            counts[reason] += 1
    return eligible, {code: n for code, n in counts.items() if n}


def count_exclusions(
    experts: Iterable[ExpertFacts], project: ProjectFacts, rules: Rules = DEFAULT_RULES
) -> dict[str, int]:
    """Per-reason exclusion counts, each expert under its first reason (see :func:`partition`).

    Raises:
        EligibilityError: as :func:`partition`.
    """
    return partition(experts, project, rules)[1]


def stale_share(experts: Sequence[ExpertFacts], rules: Rules, on: date) -> Fraction:
    """The share of ``experts`` whose data is stale on ``on`` (0 for an empty stratum).

    Pass one stratum's experts that no *other* rule excludes, so the share measures how much
    of the otherwise drawable stratum is lost to stale data.
    """
    if not experts:
        return Fraction(0)
    return Fraction(sum(1 for e in experts if is_stale(e, rules, on)), len(experts))


def check_stale_share(
    experts: Sequence[ExpertFacts], rules: Rules, on: date, stratum: str = ""
) -> Fraction:
    """Return the stratum's stale share if a draw may proceed, i.e. it is *below* the limit.

    Raises:
        EligibilityError: ``stale-data:share`` when the share is at or above
            ``rules.stale_share_limit``.
    """
    share = stale_share(experts, rules, on)
    if share >= rules.stale_share_limit:
        name = f" of stratum {stratum}" if stratum else ""
        raise EligibilityError(
            "stale-data:share",
            f"stale share{name} is {share}, not below the limit {rules.stale_share_limit}",
        )
    return share
