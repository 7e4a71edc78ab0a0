"""The draw request form: where the draw's outside randomness comes from (draw.md §3).

The manager chooses one kind (field ``entropy``): witnesses (``witnesses``, 1 to 9
supervisors), the NIST beacon (nothing to enter: the service sets the pulse time), public
lottery numbers (``sources``, one description per line), or none, offered only where the
project allows it. :func:`parse` turns the form into the entropy request that
:func:`expertdraw.services.draws.announce` takes, or places an error beside the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..models import Project
from ..services.errors import ServiceError
from .forms import FormState, abandon, parse_int

KINDS: tuple[str, ...] = ("witness", "beacon", "public-lottery", "none")
FIELDS = {"entropy", "witnesses", "sources"}
MAX_WITNESSES = 9
MAX_SOURCES = 10
MAX_SOURCE_CHARS = 200

MESSAGES: dict[str, Any] = {
    "kind": _l("Choose where the draw's randomness comes from."),
    "none": _l(
        "This project requires outside randomness: choose witnesses, the beacon or public "
        "lottery numbers."
    ),
    "witnesses-missing": _l("Enter the number of witnesses (1 to 9)."),
    "witnesses": _l("Choose 1 to 9 witnesses."),
    "sources": _l("Public lottery: enter at least one source, one per line."),
    "sources-many": _l("Public lottery: enter at most 10 sources."),
    "sources-long": _l("Public lottery: each source is at most 200 characters."),
}
# The service's ``invalid:entropy`` by the field it names: the form field and the message.
SERVICE_FIELDS: dict[str, tuple[str, str]] = {
    "entropy.witnesses": ("witnesses", "witnesses"),
    "entropy.sources": ("sources", "sources"),
    "entropy.kind": ("entropy", "none"),
}


def kinds(allow_no_entropy: bool) -> list[str]:
    """The kinds the form offers: ``none`` only for a project that allows it, ``beacon`` only
    where the beacon's certificate is configured (no pulse could be checked without it)."""
    beacon = bool(current_app.config.get("BEACON_CERTIFICATE"))
    return [k for k in KINDS if (k != "none" or allow_no_entropy) and (k != "beacon" or beacon)]


def sources_of(text: str) -> list[str]:
    """The lottery sources typed one per line, stripped, blank lines left out."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse(project: Project, form: Mapping[str, Any], state: FormState) -> dict[str, Any] | None:
    """The entropy request of the form, or None with the error placed beside its field.

    A form without ``entropy`` asks for witnesses, as the form did before it offered a choice.
    """
    kind = (form.get("entropy") or "witness").strip()
    if kind not in kinds(project.allow_no_entropy):
        state.add("entropy", str(MESSAGES["none" if kind == "none" else "kind"]))
        return None
    if kind == "witness":
        raw = (form.get("witnesses") or "").strip()
        witnesses = parse_int(raw)
        if not raw:
            state.add("witnesses", str(MESSAGES["witnesses-missing"]))
        elif witnesses is None or not 1 <= witnesses <= MAX_WITNESSES:
            state.add("witnesses", str(MESSAGES["witnesses"]))
        return {"kind": "witness", "witnesses": witnesses} if state.ok else None
    if kind == "public-lottery":
        sources = sources_of(form.get("sources", ""))
        if not sources:
            state.add("sources", str(MESSAGES["sources"]))
        elif len(sources) > MAX_SOURCES:
            state.add("sources", str(MESSAGES["sources-many"]))
        elif any(len(s) > MAX_SOURCE_CHARS for s in sources):
            state.add("sources", str(MESSAGES["sources-long"]))
        return {"kind": "public-lottery", "sources": sources} if state.ok else None
    return {"kind": kind}


def place_error(state: FormState, exc: ServiceError) -> None:
    """Place a service error of the draw request beside the form field it concerns."""
    target = SERVICE_FIELDS.get(exc.field or "") if exc.code == "invalid:entropy" else None
    if target is None:
        state.fail(exc, aliases={"entropy.sources": "sources", "entropy": "entropy"})
        return
    abandon()
    name, message = target
    state.add(name, str(MESSAGES[message]))
