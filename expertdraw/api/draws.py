"""Draws: status, witnesses, outside entropy, progress counts, the sealed list, replay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from .. import auth
from ..services import draws, replacements, sealed
from ..services import replay as replay_service
from .blueprint import bp
from .framework import api_route
from .projects import DrawOut, draw_out
from .schemas import ApiModel, OutModel, ShortText

VIEW = {"project_manager", "supervisor", "admin"}
SUPERVISE = {"supervisor", "admin"}
OPEN = {"project_manager", "supervisor", "admin", "venue_staff"}
WitnessValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class WitnessIn(ApiModel):
    value: WitnessValue


class EntropyValueIn(ApiModel):
    """Outside entropy: a beacon pulse exactly as received, or the public lottery numbers."""

    pulse: Annotated[str, StringConstraints(max_length=20000, strip_whitespace=False)] | None = None
    numbers: list[list[Annotated[int, Field(ge=0, le=10**12)]]] | None = Field(None, max_length=10)


class ProgressOut(OutModel):
    draw: str
    state: str
    members: int
    accepted: int
    pending: int
    declined: int
    timeout: int
    replaced: int
    open_places: int = Field(description="places of the committee no member holds now")
    waiting_supplementary: str | None = Field(
        description="the supplementary draw waiting for its entropy to fill them, if any"
    )


class OpenIn(ApiModel):
    purpose: ShortText = ""


class ListedMember(OutModel):
    """A member on the opened list; venue staff see who sits where and whether they checked
    in, not the stratum nor the answer (``null``)."""

    expert: str
    name: str
    stratum: str | None
    state: str
    venue: str
    room: str
    workstation: str
    answer: str | None
    checked_in_at: datetime | None


class SealedListOut(OutModel):
    draw: str
    members: list[ListedMember]


class ReplayOut(OutModel):
    draw: str
    state: str
    verdict: str
    difference: str | None
    replacements: int
    supplementary: int


def _user() -> Any:
    user = auth.current_user()
    assert user is not None
    return user


@api_route(bp, "GET", "/draws/<draw_id>", roles=VIEW, response=DrawOut, summary="A draw")
def get_draw(draw_id: str) -> DrawOut:
    """State, commitment, entropy and seed; never who was drawn."""
    return draw_out(draws.get_draw(draw_id, _user()))


@api_route(
    bp,
    "GET",
    "/draws/<draw_id>/progress",
    roles=VIEW,
    response=ProgressOut,
    summary="Counts of answers",
)
def progress(draw_id: str) -> dict[str, Any]:
    """Accepted, pending, declined, timed out and replaced: counts only."""
    return sealed.progress(draws.get_draw(draw_id, _user()))


@api_route(
    bp,
    "POST",
    "/draws/<draw_id>/witnesses",
    roles={"supervisor"},
    body=WitnessIn,
    response=DrawOut,
    status=201,
    summary="Enter a witness value",
)
def add_witness(draw_id: str, body: WitnessIn) -> DrawOut:
    """Each supervisor once, after seeing the commitment; the last value completes the draw."""
    return draw_out(draws.add_witness(draws.get_draw(draw_id, _user()), _user(), body.value))


@api_route(
    bp,
    "POST",
    "/draws/<draw_id>/entropy",
    roles=SUPERVISE,
    body=EntropyValueIn,
    response=DrawOut,
    summary="Supply a beacon pulse or lottery numbers",
)
def supply_entropy(draw_id: str, body: EntropyValueIn) -> DrawOut:
    """The announced outside entropy: completes the draw."""
    draw = draws.get_draw(draw_id, _user())
    return draw_out(draws.supply_entropy(draw, _user(), pulse=body.pulse, numbers=body.numbers))


@api_route(
    bp,
    "POST",
    "/draws/<draw_id>/supplementary",
    roles=SUPERVISE,
    response=DrawOut,
    status=201,
    errors=(422,),
    summary="Announce a supplementary draw for the open places",
)
def fill_open_places(draw_id: str) -> DrawOut:
    """For a committee whose open places the service left open (the pool could not fill them,
    or its retries failed), once the pool has changed: announces the supplementary draw, with
    the entropy the draw's kind calls for; refused (409 ``conflict:evaluation-over``) once the
    evaluation window has ended."""
    root = draws.get_draw(draw_id, _user())
    return draw_out(replacements.fill_open_places(root, _user()))


@api_route(
    bp,
    "POST",
    "/draws/<draw_id>/list",
    roles=OPEN,
    body=OpenIn,
    response=SealedListOut,
    summary="Open the sealed list",
)
def open_list(draw_id: str, body: OpenIn) -> dict[str, Any]:
    """Supervisors at any time with a purpose; project managers after the award; venue staff
    from the window start, their venue only. Every opening is a ``list.opened`` entry."""
    draw = draws.get_draw(draw_id, _user())
    return {"draw": draw.id, "members": sealed.open_list(draw, _user(), body.purpose)}


@api_route(
    bp,
    "GET",
    "/draws/<draw_id>/replay",
    roles=SUPERVISE,
    response=ReplayOut,
    errors=(409,),
    summary="Replay a draw from the ledger",
)
def replay(draw_id: str) -> dict[str, Any]:
    """Recomputes the draw, its supplementary draws and every replacement from the snapshots
    and the ledger bodies, as an independent verifier would."""
    return replay_service.replay_draw(draws.get_draw(draw_id, _user()))
