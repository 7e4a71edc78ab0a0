"""Form state for the pages: submitted values kept, errors placed next to their field.

A view builds ``FormState(request.form)``, calls a service, and on ``ServiceError`` calls
``state.fail(exc)``: the error goes beside the field the service named (``exc.field``) or, for
a field the form does not have, above the form. The page is rendered again with every value the
user typed. Service messages are English; known error codes get a translated sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..api.framework import MAX_INT_PARAM
from ..extensions import db
from ..services import reports_periods

ERRORS: dict[str, Any] = {
    "invalid:window": _l(
        "Check the evaluation window: it must be in the future and end after it starts."
    ),
    "invalid:deadline": _l("The bid deadline must be before the evaluation window."),
    "invalid:region": _l("Choose a known region."),
    "invalid:uscc": _l(
        "This is not a valid unified social credit code (18 characters, with a "
        "correct check character)."
    ),
    "invalid:id-number": _l(
        "This is not a valid identity number (17 digits and a correct check character)."
    ),
    "invalid:organisation": _l(
        "No organisation with this unified social credit code is registered."
    ),
    "invalid:bidders": _l("A bidder is listed twice."),
    "invalid:parties": _l(
        "The tenderer, the agency and the bidders must be different organisations: the "
        "tenderer and its agency do not bid, and the agency is not the tenderer itself."
    ),
    "invalid:drafters": _l("Enter the codes of registered experts, each once (50 at most)."),
    "invalid:project": _l("Use letters, digits, dot, hyphen or underscore only."),
    "invalid:stratum": _l(
        "Check this line: name in letters and digits, count 1 to 50, alternates 0 to 50."
    ),
    "invalid:specialty": _l("Choose a specialty from the code tree."),
    "invalid:separation": _l("Choose how members are separated."),
    "invalid:region_policy": _l("Choose a regional exclusion rule."),
    "forbidden:region-policy": _l(
        "Only an admin may choose a regional exclusion looser than the centre's rule."
    ),
    "invalid:max_per_group": _l("At most 1 to 10 members per employer."),
    "invalid:tenderer_representatives": _l("Enter the number of representatives, 0 to 10."),
    "committee:empty": _l("Add at least one stratum."),
    "committee:size": _l("A committee has five or more members."),
    "committee:odd": _l("A committee has an odd number of members."),
    "committee:experts": _l(
        "Technical and economic experts must be at least two thirds of the committee."
    ),
    "conflict:project": _l("A project with this code exists already."),
    "conflict:draw": _l("This project already has an announced or completed draw."),
    "conflict:draw-state": _l("The draw is not in a state that allows this."),
    "conflict:deadline": _l(
        "The deadline for this draw's randomness has passed: the draw has failed."
    ),
    "invalid:window-soon": _l(
        "The evaluation window starts in less than 10 minutes: the members could not answer "
        "their notices before it."
    ),
    "conflict:witness": _l("You have already entered your witness value for this draw."),
    "conflict:supplementary": _l("A supplementary draw of this committee is already waiting."),
    "conflict:evaluation-over": _l("The evaluation has ended: no place is filled any more."),
    "invalid:supplementary": _l("No place of this committee is open."),
    "forbidden:witness": _l("Only supervisors witness draws."),
    "invalid:witness": _l("Type a witness value of 1 to 200 characters."),
    "invalid:entropy": _l("Choose 1 to 9 witnesses."),
    "invalid:purpose": _l("State the purpose of opening the list (at most 300 characters)."),
    "invalid:purpose-personal": _l(
        "The purpose is kept in the ledger for ever: write no identity number, phone number or "
        "e-mail address."
    ),
    "invalid:personal-data": _l(
        "This is kept in the ledger for ever: write no identity number, phone number or e-mail "
        "address (not even your own)."
    ),
    "forbidden:list-sealed": _l("The list is still sealed."),
    "forbidden:list-venue": _l("No member of this draw sits at your venue."),
    "invalid:reason": _l("Choose a reason."),
    "invalid:conflict-with": _l(
        "To decline for a conflict, give the organisation's unified social credit code, so "
        "that later draws leave you out; otherwise choose another reason."
    ),
    "invalid:bidder-reason": _l(
        "Say why the bidder is added after the draw (at most 300 characters)."
    ),
    "forbidden:after-draw": _l(
        "The draw is requested: a bidder found now is added by a supervisor, with a reason "
        "kept in the ledger."
    ),
    "conflict:notice": _l("This notice can no longer be answered."),
    "conflict:notice-leave": _l(
        "You declared a leave over this evaluation: decline the notice, or cancel the leave first."
    ),
    "conflict:notice-late": _l(
        "The time to answer this notice has passed: another expert is being asked."
    ),
    "checkin:not-seated": _l("This code has no accepted, current seat."),
    "rate-limited:draw-requests": _l(
        "Five of your draw requests were refused today as not feasible: check the request with "
        "the dry run, or ask a supervisor."
    ),
    "rate-limited:declarations": _l(
        "At most 5 conflicts can be declared in a day. Ask the trading centre to record more."
    ),
    "checkin:time": _l("Check-in opens two hours before the evaluation window."),
    "checkin:closed": _l("Check-in for this seat has closed: the evaluation window has ended."),
    "not-found": _l("Not found."),
    "invalid:status": _l("Choose a status."),
    "conflict:status": _l("The expert already has this status."),
    "invalid:language": _l("Choose Chinese or English."),
    "auth:forbidden": _l("Your role may not do this."),
    "stale-data": _l(
        "Too many experts of a stratum have unconfirmed data; the draw may not proceed."
    ),
    "infeasible": _l(
        "The request cannot be met with the experts, venues and workstations available."
    ),
    "insufficient": _l("The draw could not find enough members or seats."),
    "invalid:leave": _l(
        "Check the period: it must end after it starts, not be over, and last at most a year."
    ),
    "conflict:leave": _l("This period overlaps a leave you have already declared."),
    "conflict:leave-offered": _l(
        "You are offered a seat during this period: decline that notice first (an alternate "
        "takes the seat), then declare the leave."
    ),
    "conflict:leave-begun": _l(
        "An evaluation you sit on has begun during this period: tell the trading centre."
    ),
    "conflict:leave-over": _l("This leave is already over."),
    "conflict:bidder": _l("This organisation is already a bidder of the project."),
    "entropy:lottery-mismatch": _l(
        "These numbers differ from those another supervisor entered. Both of you check them "
        "against the published results."
    ),
    "conflict:project-drawn": _l("This project has a draw: it can no longer be corrected."),
    "conflict:award-early": _l(
        "The award can be recorded only after the evaluation window has ended."
    ),
    "cosign:key": _l(
        "This is not a valid verifier key (name+key id+base64 Ed25519 key, as the verifier "
        "prints it)."
    ),
    "cosign:signature": _l(
        "This signature line does not verify under your key for the latest checkpoint."
    ),
    "cosign:backwards": _l("You have already cosigned a larger checkpoint."),
    "cosign:duplicate": _l("This key has already cosigned this checkpoint."),
    "cosign:inconsistent": _l(
        "This checkpoint does not extend the one you cosigned last. Do not sign it; report it."
    ),
    "conflict:alert": _l("This alert is already acknowledged."),
    "conflict:inspection-state": _l("The supervision sample is not in a state that allows this."),
    "conflict:inspection-period": _l(
        "A sample of an overlapping period exists already: one sample is drawn per period."
    ),
    "invalid:period": _l("The period must end on or after the day it starts."),
    "invalid:period-not-over": _l(
        "A sample is drawn once its period is over: choose days that have ended."
    ),
    "invalid:risk": _l(
        "Check the risk levels: only projects completed in the period, only levels that "
        "have a ratio."
    ),
    "infeasible:rfc3797:strata": _l(
        "RFC 3797 mode draws exactly one stratum, with public lottery numbers."
    ),
    "infeasible:no-projects": _l("No project had its committee drawn in this period."),
    "infeasible:inspectors": _l("There are fewer active supervisors than inspectors per project."),
    "infeasible:witnesses": _l(
        "There are fewer active supervisors than witnesses: each gives one value."
    ),
    "sampling:ratio": _l(
        "Write each ratio as n/d, at most 1 (for example 1/5), and above 0 for a level with "
        "projects."
    ),
    "sampling:plan": _l("Check the levels: each name once, each project in one level only."),
    "entropy:config": _l("The beacon certificate is not configured. Ask an administrator."),
    "entropy:lottery-count": _l("Enter the numbers of every announced source."),
    "entropy:lottery-empty": _l("Enter the numbers of every announced source."),
    "entropy:lottery-number": _l("Lottery numbers are whole numbers, 0 or more."),
    "entropy:lottery-reused": _l(
        "These are the numbers of an earlier draw of this project, public before this draw was "
        "announced. Enter the results of the lottery draws this draw names."
    ),
    "entropy:not-before": _l(
        "The awaited pulse time must be later than the announcement. Check the server clocks."
    ),
    "entropy:beacon-deadline": _l(
        "The awaited pulse would come after this draw's deadline: choose an earlier pulse time."
    ),
    "entropy:beacon-too-early": _l("This pulse is earlier than the awaited pulse time."),
    "entropy:beacon-not-first": _l("This is not the first pulse at or after the awaited time."),
    "entropy:beacon-signature": _l(
        "The pulse's signature does not verify with the beacon's certificate."
    ),
    "entropy:beacon-certificate": _l(
        "The pulse was not signed with the configured beacon certificate."
    ),
    "entropy:beacon-output": _l("The pulse's output value does not match its signature."),
    "entropy:beacon-format": _l("This is not a beacon pulse (JSON as the beacon serves it)."),
    "entropy": _l("The entropy value is not valid for this draw."),
    "user:username": _l(
        "Usernames are 2 to 64 letters, digits, dot, hyphen or underscore, and must be free."
    ),
    "user:password": _l("A password has 10 to 256 characters."),
    "user:password-same": _l("The new password is the same as the current one."),
    "user:role": _l("Choose a role."),
    "user:link": _l(
        "An expert user needs an existing expert code, venue staff a venue; other "
        "roles need neither."
    ),
    "user:expert-taken": _l("This expert already has a user account."),
    "user:expert-removed": _l("This expert was removed from the pool: their accounts stay closed."),
    "user:language": _l("Choose a language."),
    "user:self": _l("You cannot deactivate yourself or change your own role."),
    "invalid:place-id": _l("Use 1 to 64 letters, digits, dot, hyphen or underscore."),
    "conflict:place": _l("This id is taken already."),
    "conflict:service": _l("It is already in this state."),
    "invalid:name": _l("Enter the name (at most 100 characters)."),
    "invalid:room_name": _l("Enter the room's name."),
    "invalid:address": _l("Enter the address."),
    "invalid:title": _l("Enter the professional title (at most 50 characters)."),
    "invalid:expert-kind": _l("Choose technical or economic."),
    "invalid:email": _l("Enter an e-mail address, or leave it empty."),
    "invalid:phone": _l("Enter an 11-digit mobile number, or leave it empty."),
    "invalid:date": _l("Enter a date as YYYY-MM-DD."),
    "invalid:organisation-kind": _l("Choose the organisation's type."),
    "invalid:parent": _l(
        "The controlling organisation must be another registered organisation that this "
        "one does not control."
    ),
    "conflict:organisation": _l("An organisation with this code is registered already."),
    "invalid:report-period": _l(
        "Choose a day of a period that has ended, and that the ledger had begun by."
    ),
}


#: A form its author sends again within this time, every field the same, is the same form
#: sent twice (a double click on a slow link): the page lands on what the first one made.
SENT_TWICE_WITHIN = timedelta(minutes=2)


def message_for(code: str, detail: str = "") -> str:
    """A translated sentence for an error code (or its prefix), else the service's detail."""
    parts = code.split(":")
    if parts[0] == "infeasible" and len(parts) == 3 and parts[1] in ("candidates", "groups"):
        return _(
            "Stratum %(name)s has too few eligible experts (or employers) for its members.",
            name=parts[2],
        )
    for key in (code, ":".join(parts[:2]), parts[0]):
        if key in ERRORS:
            return str(ERRORS[key])
    return _("The request could not be completed: %(detail)s", detail=detail or code)


@dataclass
class FormState:
    """Submitted values and errors by field name; ``general`` holds errors above the form."""

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    fields: set[str] | None = None

    def get(self, name: str, default: Any = "") -> Any:
        """The submitted value of a field (or ``default``)."""
        value = self.values.get(name, default)
        return default if value is None else value

    def add(self, name: str | None, message: str) -> None:
        """An error beside ``name``, or above the form for a field it does not show."""
        if name and (self.fields is None or name in self.fields):
            self.errors.setdefault(name, message)
        else:
            self.general.append(message)

    def fail(self, exc: Exception, aliases: Mapping[str, str] | None = None) -> None:
        """Record a service error beside the field it names (``aliases`` maps field names).

        The failed service's unfinished changes are discarded first (see ``abandon``).
        """
        abandon()
        for problem in (exc, *getattr(exc, "more", ())):
            code = getattr(problem, "code", "error")
            name = getattr(problem, "field", None)
            if name and aliases:
                for prefix, target in aliases.items():
                    if name == prefix or name.startswith(prefix + "."):
                        name = target
                        break
            self.add(name, message_for(str(code), str(problem)))

    @property
    def ok(self) -> bool:
        """No errors recorded."""
        return not self.errors and not self.general


def abandon() -> None:
    """Discard what a failed service call left unfinished in this request's transaction.

    A service that raises may have changed rows before it noticed the problem; nothing was
    committed, but the page shown next must not read those changes. (The request's end would
    roll back anyway; this makes the re-rendered form show the state as it really is.)
    """
    db.session.rollback()


def zone() -> ZoneInfo:
    """The zone dates and times are typed and shown in: the centre's, the one its reports
    count days in (China Standard Time by default)."""
    return reports_periods.zone()


#: Dates a form may name: this century (as the API's ``Moment`` and ``Day``); the calendar's
#: edges would overflow date arithmetic, and nothing else is meant.
FIRST_YEAR, LAST_YEAR = 2000, 2099
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?")


def parse_local(text: str) -> datetime | None:
    """A ``datetime-local`` value (``YYYY-MM-DDTHH:MM``) in the local zone, as aware UTC;
    None when it is not one, or not in this century."""
    text = (text or "").strip()
    if not _LOCAL_TIME.fullmatch(text):  # a day alone would be taken as its midnight
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        return None
    if not FIRST_YEAR <= local.year <= LAST_YEAR:
        return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone())
    return local.astimezone(UTC)


def local_input(value: datetime | None) -> str:
    """An aware time as a ``datetime-local`` value in the local zone (``""`` for None)."""
    if value is None:
        return ""
    return value.astimezone(zone()).strftime("%Y-%m-%dT%H:%M")


def parse_day(text: str | None) -> date | None:
    """A ``YYYY-MM-DD`` date of this century, or None."""
    text = (text or "").strip()
    if not _DAY.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def parse_int(text: Any, default: int | None = None) -> int | None:
    """An integer from a form field, or ``default`` when empty, not a number, or beyond the
    database's integers (no count, id or sequence number of the service is that large)."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return default
    return value if -MAX_INT_PARAM <= value <= MAX_INT_PARAM else default


#: No list has more pages: a larger number would only overflow the database's integers.
MAX_PAGE = 100_000


def parse_page(text: Any) -> int:
    """The page number of a list's ``page`` parameter: 1 when missing or not a number, and
    within 1 to ``MAX_PAGE`` (past the last page, a list is empty)."""
    return min(max(1, parse_int(text, 1) or 1), MAX_PAGE)


def lines(text: str) -> list[str]:
    """Non-empty lines (or comma / space separated items) of a textarea, stripped."""
    return [item for item in re.split(r"[\s,;，；、]+", text or "") if item]
