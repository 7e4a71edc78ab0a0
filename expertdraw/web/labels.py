"""Words for codes: roles, states, reasons, kinds, in the glossary's terms (lazy, translated).

Templates call ``label("role", user.role)``; an unknown code is shown as itself.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

LABELS: dict[str, dict[str, Any]] = {
    "role": {
        "admin": _l("Administrator"),
        "project_manager": _l("Project manager"),
        "supervisor": _l("Supervisor"),
        "expert": _l("Expert"),
        "venue_staff": _l("Venue staff"),
    },
    "draw_state": {
        "announced": _l("Announced, waiting for entropy"),
        "completed": _l("Completed"),
        "failed": _l("Failed"),
    },
    "notice_status": {
        "pending": _l("Waiting for an answer"),
        "accepted": _l("Accepted"),
        "declined": _l("Declined"),
        "timeout": _l("No answer in time"),
        "withdrawn": _l("Withdrawn"),
    },
    "member_state": {"active": _l("Member"), "replaced": _l("Replaced")},
    "decline_reason": {
        "ill": _l("Ill"),
        "travel": _l("Travelling"),
        "conflict": _l("Conflict of interest"),
        "other": _l("Other reason"),
    },
    "kind": {"technical": _l("Technical"), "economic": _l("Economic")},
    # Stratum names are identifiers (they are in the ledger); the two the project form
    # suggests read as words on the pages and the record.
    "stratum": {"technical": _l("Technical experts"), "economic": _l("Economic experts")},
    "separation": {"venue": _l("Different venues"), "room": _l("Different rooms")},
    "region_policy": {
        "exclude-prefecture": _l("Exclude experts of the project's prefecture"),
        "exclude-county": _l("Exclude experts of the project's county"),
        "none": _l("No regional exclusion"),
    },
    "expert_status": {
        "active": _l("Active"),
        "suspended": _l("Suspended"),
        "retired": _l("Retired"),
        "removed": _l("Removed"),
    },
    "status_reason": {
        "penalty": _l("Penalty or blacklist"),
        "investigation": _l("Under investigation"),
        "own-request": _l("At the expert's request"),
        "qualification": _l("Qualification"),
        "review-cleared": _l("Review completed, cleared"),
        "other": _l("Other reason"),
    },
    "organisation_kind": {
        "tenderer": _l("Tenderer"),
        "agency": _l("Agency"),
        "bidder": _l("Bidder"),
        "authority": _l("Supervising authority"),
        "employer": _l("Employer"),
    },
    "place_kind": {"venue": _l("Venue"), "room": _l("Room"), "workstation": _l("Workstation")},
    "relation": {"relative": _l("Close relative works there"), "declared": _l("Declared conflict")},
    "entropy": {
        "witness": _l("Witness values"),
        "beacon": _l("Public randomness beacon"),
        "public-lottery": _l("Public lottery numbers"),
        "none": _l("Server secret only"),
    },
    "report_kind": {
        "daily": _l("Daily inspection"),
        "weekly": _l("Weekly summary"),
        "monthly": _l("Monthly report"),
    },
    "alert_kind": {
        "frequency": _l("Drawn often"),
        "consecutive": _l("Same tenderer in a row"),
        "refusal-rate": _l("Often declines or lets notices time out"),
        "no-show": _l("Accepted but did not check in"),
        "seated-conflict": _l("Declared a conflict while on a committee"),
    },
    "inspection_state": {
        "announced": _l("Announced, waiting for witnesses"),
        "drawn": _l("Drawn"),
    },
    "import_kind": {
        "experts": _l("Experts"),
        "organisations": _l("Organisations"),
        "venues": _l("Venues, rooms and workstations"),
    },
    "import_table": {
        "experts": _l("Experts"),
        "expert_specialties": _l("Expert specialties"),
        "employments": _l("Employments"),
        "organisations": _l("Organisations"),
        "venues": _l("Venues"),
        "rooms": _l("Rooms"),
        "workstations": _l("Workstations"),
    },
    "level": {
        "province": _l("Province"),
        "prefecture": _l("Prefecture"),
        "county": _l("County"),
    },
}

# Exclusion (回避) reason codes of rules.md, with what each means.
REASONS: dict[str, Any] = {
    "inactive": _l("Not active in the pool, or qualification expired"),
    "region": _l("Lives in the project's own region (remote evaluation rule)"),
    "party-employer": _l("Works for the tenderer, the agency or a bidder"),
    "party-former": _l("Worked for or advised a party in recent years"),
    "party-relative": _l("A close relative works for or leads a party"),
    "party-declared": _l("Declared a conflict with a party"),
    "authority": _l("Works for the supervising authority"),
    "penalty": _l("Penalty for bidding misconduct, or blacklisted"),
    "drafting": _l("Took part in drafting the project's documents"),
    "busy": _l("Already seated for an overlapping evaluation"),
    "unavailable": _l("Declared leave during the window"),
    "frequency": _l("A member too often of evaluations near this one"),
    "same-tenderer": _l("A member for the same tenderer near this evaluation"),
    "stale-data": _l("Employer and relations not confirmed recently"),
    "specialty": _l("Not qualified in the specialty"),
    "taken": _l("Already taken for this draw"),
    "group-full": _l("Employer already has the maximum number of members"),
    "group-limit": _l("Passed over: employer limit"),
    "timeout": _l("No answer in time"),
    "declined": _l("Declined"),
    "conflict": _l("Conflict found later"),
    "ineligible": _l("No longer eligible"),
}


def label(group: str, code: Any) -> Any:
    """The translated word for ``code`` in ``group``; the code itself when unknown."""
    if code is None:
        return ""
    return LABELS.get(group, {}).get(code, code)


def reason(code: str) -> Any:
    """What an exclusion or replacement reason code means; the code itself when unknown."""
    return REASONS.get(code, code)


FAILURES: dict[str, Any] = {
    "timeout:entropy": _l("No outside randomness was entered before the deadline"),
    "superseded": _l("Superseded: a later supplementary draw took its places"),
    "insufficient:seats": _l("Too few free workstations for the members"),
    "conflict:workstation-booked": _l("A drawn workstation was booked by another draw meanwhile"),
    "conflict:expert-booked": _l("A drawn expert was seated by another draw meanwhile"),
    "conflict:expert-drawn": _l(
        "A drawn expert was seated meanwhile on another committee that the rules count against "
        "this one"
    ),
    "conflict:workstation-closed": _l("A drawn workstation was taken out of service meanwhile"),
}


def failure(code: str | None) -> Any:
    """Why a draw failed, in words (``insufficient:<stratum>`` names the stratum); the code
    itself when unknown."""
    if not code:
        return ""
    if code in FAILURES:
        return FAILURES[code]
    kind, _, name = code.partition(":")
    if kind == "insufficient" and name:
        return _l("Too few candidates in stratum %(name)s", name=name)
    return code


def choices(group: str) -> list[tuple[str, Any]]:
    """``(code, word)`` pairs of a group, in declaration order, for select lists."""
    return list(LABELS[group].items())
