"""Plain data the exclusion rules (rules.md, "Exclusions") look at.

The rules in ``eligibility.py`` are pure functions of these frozen dataclasses, so services can
build them from any storage and tests can build them by hand. Constructors validate the shapes
that the rules rely on (six-digit region codes, known status and penalty kinds, periods that end
after they start, comparable datetimes) and raise :class:`EligibilityError` otherwise.

Conventions:
- calendar dates (``date``) are local dates at the trading centre (China Standard Time);
- instants (``datetime``) must all be timezone-aware, or all naive, for one evaluation: Python
  cannot compare the two kinds. Aware is recommended (the draw's window is UTC);
- organisations are identified by their code (unified social credit code, or any stable code the
  pool uses); experts by their pseudonymous expert code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Literal

ExpertStatus = Literal["active", "suspended", "retired", "removed"]
PenaltyKind = Literal["administrative", "criminal", "blacklist"]

EXPERT_STATUSES: tuple[str, ...] = ("active", "suspended", "retired", "removed")
PENALTY_KINDS: tuple[str, ...] = ("administrative", "criminal", "blacklist")
_REGION = re.compile(r"[1-9][0-9]{5}")


class EligibilityError(ValueError):
    """Invalid eligibility data or configuration.

    ``code`` is stable (for example ``eligibility:region-code``, ``rules:invalid``,
    ``stale-data:share``); the message is for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _require(condition: bool, code: str, message: str) -> None:
    if not condition:
        raise EligibilityError(code, message)


def check_region_code(value: str, what: str) -> None:
    """Check a GB/T 2260 administrative division code (six ASCII digits).

    Raises:
        EligibilityError: ``eligibility:region-code`` naming ``what``.
    """
    _require(
        isinstance(value, str) and _REGION.fullmatch(value) is not None,
        "eligibility:region-code",
        f"{what} must be a six-digit GB/T 2260 code, got {value!r}",
    )


@dataclass(frozen=True)
class Employment:
    """Employment by (or, in ``ExpertFacts.advising``, an advisory role for) an organisation.

    ``end`` is the last day, or None while it lasts.
    """

    org: str
    start: date
    end: date | None = None

    def __post_init__(self) -> None:
        _require(bool(self.org), "eligibility:employment", "employment needs an org code")
        _require(
            self.end is None or self.end >= self.start,
            "eligibility:employment",
            f"employment at {self.org} ends before it starts",
        )


@dataclass(frozen=True)
class Penalty:
    """A penalty for bidding misconduct: ``start`` is the decision date (first day in force),
    ``end`` the day it lapses (no longer in force on that day; unlike ``Employment.end``).

    For administrative and criminal penalties ``end`` may be None (a one-off penalty); for a
    blacklist entry None means "until further notice".
    """

    kind: PenaltyKind
    start: date
    end: date | None = None

    def __post_init__(self) -> None:
        _require(
            self.kind in PENALTY_KINDS,
            "eligibility:penalty",
            f"penalty kind must be one of {PENALTY_KINDS}, got {self.kind!r}",
        )
        _require(
            self.end is None or self.end >= self.start,
            "eligibility:penalty",
            "penalty ends before it starts",
        )


@dataclass(frozen=True)
class Period:
    """A half-open span of time ``[start, end)`` (leave, or a seat at another evaluation)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _check_comparable(self.start, self.end, "period")
        _require(self.end > self.start, "eligibility:period", "period must end after it starts")


@dataclass(frozen=True)
class Membership:
    """A seat the expert holds on a completed draw's committee: when that evaluation starts
    (its project's window start), and for whom."""

    time: datetime
    tenderer: str


@dataclass(frozen=True)
class ExpertFacts:
    """What the rules know about one expert. Only ``code``, ``status`` and ``home_region``
    are required; every tuple defaults to empty.

    - ``employer_groups``: the codes of the organisations that control the employer, its
      parent first, then the parent's parent, and so on up the chain;
    - ``employment_history``: past and present employments (a current one may be listed too);
    - ``advising``: advisory or consulting roles for organisations, same shape;
    - ``relatives_orgs``: organisations where a declared close relative works or is a principal;
    - ``declared_conflicts``: organisations the expert declared a conflict with;
    - ``bookings``: seats at other evaluations; ``leave``: declared unavailability;
    - ``member_history``: completed draws where the expert was a member;
    - ``data_confirmed_on``: when the expert last confirmed employer and declarations.
    """

    code: str
    status: ExpertStatus
    home_region: str
    qualification_expiry: date | None = None
    employer: str | None = None
    employer_groups: tuple[str, ...] = ()
    employment_history: tuple[Employment, ...] = ()
    advising: tuple[Employment, ...] = ()
    relatives_orgs: tuple[str, ...] = ()
    declared_conflicts: tuple[str, ...] = ()
    penalties: tuple[Penalty, ...] = ()
    leave: tuple[Period, ...] = ()
    bookings: tuple[Period, ...] = ()
    member_history: tuple[Membership, ...] = ()
    data_confirmed_on: date | None = None
    specialties: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(bool(self.code), "eligibility:expert", "expert code must not be empty")
        _require(
            self.status in EXPERT_STATUSES,
            "eligibility:status",
            f"status must be one of {EXPERT_STATUSES}, got {self.status!r}",
        )
        check_region_code(self.home_region, f"home_region of {self.code}")
        for name in (
            "employer_groups",
            "employment_history",
            "advising",
            "relatives_orgs",
            "declared_conflicts",
            "penalties",
            "leave",
            "bookings",
            "member_history",
            "specialties",
        ):
            _require(
                isinstance(getattr(self, name), tuple),
                "eligibility:expert",
                f"{name} must be a tuple",
            )


@dataclass(frozen=True)
class ProjectFacts:
    """What the rules know about the project and its evaluation window ``[start, end)``.

    - ``region``: the project's GB/T 2260 code (county, or prefecture ``XXYY00``);
    - ``bidders``, ``authorities`` (supervising / approving), ``drafters`` (expert codes who
      drafted or consulted on the documents);
    - ``related_orgs``: for the parties, org code -> the codes of the organisations that
      control it, its parent first and up the chain, used for "controls or is controlled by"
      (stored as a read-only mapping).
    """

    code: str
    region: str
    tenderer: str
    window_start: datetime
    window_end: datetime
    agency: str | None = None
    bidders: tuple[str, ...] = ()
    authorities: tuple[str, ...] = ()
    drafters: tuple[str, ...] = ()
    related_orgs: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _require(bool(self.code), "eligibility:project", "project code must not be empty")
        _require(bool(self.tenderer), "eligibility:project", "project needs a tenderer")
        check_region_code(self.region, f"region of project {self.code}")
        _check_comparable(self.window_start, self.window_end, "window")
        _require(
            self.window_end > self.window_start,
            "eligibility:window",
            "the evaluation window must end after it starts",
        )
        _require(
            all(isinstance(chain, tuple) for chain in self.related_orgs.values()),
            "eligibility:project",
            "related_orgs maps each organisation to a tuple of the codes controlling it",
        )
        object.__setattr__(self, "related_orgs", MappingProxyType(dict(self.related_orgs)))

    @property
    def parties(self) -> frozenset[str]:
        """Tenderer, agency, bidders and authorities (the glossary's "party")."""
        orgs = {self.tenderer, *self.bidders, *self.authorities}
        if self.agency:
            orgs.add(self.agency)
        return frozenset(orgs)

    @property
    def interested_parties(self) -> frozenset[str]:
        """Tenderer, agency and bidders: the parties of the ``party-employer`` rule."""
        orgs = {self.tenderer, *self.bidders}
        if self.agency:
            orgs.add(self.agency)
        return frozenset(orgs)


def _check_comparable(start: datetime, end: datetime, what: str) -> None:
    _require(
        isinstance(start, datetime) and isinstance(end, datetime),
        "eligibility:datetime",
        f"{what} bounds must be datetimes",
    )
    _require(
        (start.tzinfo is None) == (end.tzinfo is None),
        "eligibility:datetime",
        f"{what} mixes timezone-aware and naive datetimes",
    )
