"""The project form: reading the submitted fields into a ``ProjectSpec``.

Strata are numbered rows (``strata.<n>.name``, ``.specialty``, ``.kind``, ``.count``,
``.alternates``); rows left blank are ignored. The service names a stratum by its position in
the spec, so ``row_of`` maps it back to the row the user sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from .. import clock
from ..domain.codes import CodeError, validate_id, validate_uscc
from ..services.projects import ProjectSpec, StratumSpec
from .forms import FormState, abandon, lines, local_input, message_for, parse_int, parse_local

_ROW = re.compile(r"strata\.([0-9]+)\.(name|specialty|kind|count|alternates)$")
TOP_FIELDS = (
    "code",
    "name",
    "tenderer",
    "agency",
    "authority",
    "bidders",
    "drafters",
    "region",
    "window_start",
    "window_end",
    "bid_deadline",
    "separation",
    "max_per_group",
    "region_policy",
    "tenderer_representatives",
    "strata",
)
STRATUM_FIELDS = ("name", "specialty", "kind", "count", "alternates")
MAX_ROWS = 10


@dataclass
class ParsedProject:
    """The spec (None when the form has errors) and the form row of each spec stratum."""

    spec: ProjectSpec | None
    row_of: list[int] = field(default_factory=list)


def stratum_rows(values: Mapping[str, Any]) -> list[int]:
    """Row numbers present in the submitted form, in order (at least two for a new form)."""
    rows = sorted({int(m.group(1)) for k in values if (m := _ROW.match(k))})
    return [r for r in rows if r < MAX_ROWS] or [0, 1, 2]


def all_fields(values: Mapping[str, Any]) -> set[str]:
    """Every field name the form shows, for placing errors."""
    names = set(TOP_FIELDS)
    for row in stratum_rows(values):
        names.update(f"strata.{row}.{f}" for f in STRATUM_FIELDS)
    return names


def _whole(state: FormState, name: str, default: int, message: str) -> int | None:
    """A whole number field: ``default`` when left empty; anything else that is not a number
    is an error beside the field (never quietly the default). The service checks the range."""
    text = str(state.get(name)).strip()
    if not text:
        return default
    value = parse_int(text)
    if value is None:
        state.add(name, message)
    return value


def _time(state: FormState, name: str, missing: str | None) -> datetime | None:
    text = state.get(name).strip()
    if not text:
        if missing:
            state.add(name, missing)
        return None
    value = parse_local(text)
    if value is None:
        state.add(name, _("Enter a date and time as YYYY-MM-DD HH:MM."))
    return value


def _strata(state: FormState) -> tuple[list[StratumSpec], list[int]]:
    specs: list[StratumSpec] = []
    rows: list[int] = []
    used: set[str] = set()
    for row in stratum_rows(state.values):
        cell = {f: str(state.get(f"strata.{row}.{f}")).strip() for f in STRATUM_FIELDS}
        if not (cell["specialty"] or cell["count"]):
            continue
        kind = cell["kind"] or "technical"
        name = cell["name"]
        if not name:
            name = kind if kind not in used else f"{kind}{row + 1}"
        used.add(name)
        count = parse_int(cell["count"])
        if count is None:
            state.add(f"strata.{row}.count", _("Enter the number of members."))
            count = 0
        alternates = parse_int(cell["alternates"]) if cell["alternates"] else None
        if cell["alternates"] and alternates is None:
            state.add(f"strata.{row}.alternates", _("Enter a whole number or leave it empty."))
        specs.append(StratumSpec(name, cell["specialty"], kind, count, alternates))
        rows.append(row)
    if not specs:
        state.add("strata", _("Add at least one stratum."))
    return specs, rows


def _check_without_database(state: FormState, start: Any, end: Any) -> None:
    """The service's checks that need no database, run here so that one submit lists every
    such error (the service stops at its first): the code's pattern, each credit code's check
    character, the window's order. The service checks them all again."""
    code = str(state.get("code")).strip()
    if code and "code" not in state.errors:
        try:
            validate_id(code, "project")
        except CodeError as exc:
            state.add("code", message_for(exc.code, str(exc)))
    for name in ("tenderer", "agency", "authority"):
        value = str(state.get(name)).strip()
        if value and name not in state.errors:
            try:
                validate_uscc(value)
            except CodeError as exc:
                state.add(name, message_for(exc.code, str(exc)))
    for number, value in enumerate(lines(state.get("bidders")), start=1):
        if "bidders" in state.errors:
            break
        try:
            validate_uscc(value)
        except CodeError as exc:
            message = message_for(exc.code, str(exc))
            state.add(
                "bidders", _("Bidder %(number)s: %(message)s", number=number, message=message)
            )
    if start is not None and "window_start" not in state.errors and start <= clock.now():
        state.add("window_start", message_for("invalid:window"))
    elif (
        start is not None and end is not None and "window_end" not in state.errors and end <= start
    ):
        state.add("window_end", message_for("invalid:window"))


def parse(state: FormState) -> ParsedProject:
    """Read the form; missing or malformed fields are recorded in ``state``."""
    for name, message in (
        ("code", _("Enter the project code.")),
        ("name", _("Enter the project name.")),
        ("tenderer", _("Enter the tenderer's unified social credit code.")),
        ("region", _("Choose the project's region.")),
    ):
        if not str(state.get(name)).strip():
            state.add(name, message)
    start = _time(state, "window_start", _("Enter when the evaluation window starts."))
    end = _time(state, "window_end", _("Enter when the evaluation window ends."))
    deadline = _time(state, "bid_deadline", None)
    max_per_group = _whole(state, "max_per_group", 1, _("At most 1 to 10 members per employer."))
    representatives = _whole(
        state, "tenderer_representatives", 0, _("Enter the number of representatives, 0 to 10.")
    )
    strata, rows = _strata(state)
    _check_without_database(state, start, end)
    if not state.ok or start is None or end is None:
        return ParsedProject(None, rows)
    spec = ProjectSpec(
        code=state.get("code").strip(),
        name=state.get("name").strip(),
        tenderer=state.get("tenderer").strip(),
        agency=state.get("agency").strip() or None,
        authority=state.get("authority").strip() or None,
        bidders=tuple(lines(state.get("bidders"))),
        drafters=tuple(lines(state.get("drafters"))),
        region=state.get("region").strip(),
        window_start=start,
        window_end=end,
        bid_deadline=deadline,
        strata=strata,
        separation=state.get("separation") or "venue",
        max_per_group=max_per_group if max_per_group is not None else 1,
        region_policy=state.get("region_policy") or None,
        tenderer_representatives=representatives if representatives is not None else 0,
    )
    return ParsedProject(spec, rows)


def place_error(state: FormState, exc: Exception, row_of: list[int]) -> None:
    """Put a service error beside its field; ``strata.<i>.x`` goes to the form's row."""
    abandon()
    name = getattr(exc, "field", None) or ""
    match = re.match(r"strata\.([0-9]+)\.(\w+)$", name)
    if match and int(match.group(1)) < len(row_of):
        name = f"strata.{row_of[int(match.group(1))]}.{match.group(2)}"
    message = message_for(str(getattr(exc, "code", "error")), str(exc))
    if name.startswith("bidders."):
        number = (parse_int(name.split(".")[1]) or 0) + 1
        message = _("Bidder %(number)s: %(message)s", number=number, message=message)
        name = "bidders"
    elif name.startswith("drafters."):
        number = (parse_int(name.split(".")[1]) or 0) + 1
        message = _("Drafter %(number)s: %(message)s", number=number, message=message)
        name = "drafters"
    state.add(name or None, message)


def values_of(project: Any) -> dict[str, str]:
    """The form's fields filled in from a registered project (for correcting it)."""
    from ..services import projects

    summary = projects.summary(project)
    values = {
        "code": summary["code"],
        "name": summary["name"],
        "tenderer": summary["tenderer"] or "",
        "agency": summary["agency"] or "",
        "authority": summary["authority"] or "",
        "bidders": "\n".join(summary["bidders"]),
        "drafters": "\n".join(summary["drafters"]),
        "region": summary["region"],
        "window_start": local_input(summary["window_start"]),
        "window_end": local_input(summary["window_end"]),
        "bid_deadline": local_input(summary["bid_deadline"]),
        "separation": summary["separation"],
        "max_per_group": str(summary["max_per_group"]),
        "region_policy": summary["region_policy"],
        "tenderer_representatives": str(summary["tenderer_representatives"]),
    }
    for row, stratum in enumerate(summary["strata"]):
        for name in STRATUM_FIELDS:
            values[f"strata.{row}.{name}"] = str(stratum[name])
    return values
