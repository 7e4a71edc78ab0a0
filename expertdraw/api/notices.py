"""Experts' notices and answers, declared conflicts, and venue check-in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from .. import auth
from ..services import notices
from .blueprint import bp
from .framework import api_route
from .pagination import Page, PageQuery, page_of
from .schemas import ApiModel, OutModel

Uscc = Annotated[str, StringConstraints(min_length=18, max_length=18, pattern=r"^[0-9A-Za-z]+$")]
CheckInCode = Annotated[
    str, StringConstraints(min_length=10, max_length=16, pattern=r"^[0-9A-Za-z -]+$")
]


class NoticeOut(OutModel):
    """What a notice says (rules.md): never project, parties or other members."""

    notice: str
    status: str
    window_start: datetime
    window_end: datetime
    venue: str
    venue_name: str
    venue_address: str
    room: str
    workstation: str
    check_in_code: str
    specialty: str | None
    due_at: datetime
    answered_at: datetime | None


class AnswerIn(ApiModel):
    answer: Literal["accept", "decline"]
    reason: Literal["ill", "travel", "conflict", "other"] | None = None
    conflict_with: Uscc | None = None


class AnswerOut(OutModel):
    notice: str
    status: str


class ConflictIn(ApiModel):
    uscc: Uscc


class CheckInIn(ApiModel):
    code: CheckInCode


class CheckInOut(OutModel):
    """``again``: the code was used before, and ``checked_in_at`` is that first time (is the
    person at the desk the one who checked in then?)."""

    again: bool
    workstation: str
    room: str
    window_start: datetime
    window_end: datetime
    checked_in_at: datetime


def _user() -> Any:
    user = auth.current_user()
    assert user is not None
    return user


@api_route(
    bp,
    "GET",
    "/notices",
    roles={"expert"},
    query=PageQuery,
    response=Page[NoticeOut],
    summary="My notices",
)
def inbox(query: PageQuery) -> dict[str, Any]:
    """The expert's own notices, newest first, a page at a time."""
    items, total = notices.inbox_page(_user(), page=query.page, per_page=query.per_page)
    return page_of(items, total, query)


@api_route(
    bp,
    "POST",
    "/notices/<notice_id>/answer",
    roles={"expert"},
    body=AnswerIn,
    response=AnswerOut,
    rate_limited=True,
    summary="Accept or decline a notice",
)
def answer(notice_id: str, body: AnswerIn) -> dict[str, Any]:
    """A decline (with a reason) brings in a replacement; ``conflict_with`` records a declared
    conflict for later draws, and a decline for ``conflict`` must give it (422
    ``invalid:conflict-with``)."""
    return notices.answer(
        _user(),
        notice_id,
        accept=body.answer == "accept",
        reason=body.reason,
        conflict_with=body.conflict_with,
    )


@api_route(
    bp,
    "POST",
    "/conflicts",
    roles={"expert"},
    body=ConflictIn,
    status=204,
    rate_limited=True,
    summary="Declare a conflict with an organisation",
)
def declare_conflict(body: ConflictIn) -> None:
    """Recorded on the expert (``pool.changed``) and excluded in later draws; a committee
    the expert sits on with that organisation as a party loses them at once. Five a day
    (429 ``rate-limited:declarations``); supervisors see those made while seated."""
    notices.declare_conflict(_user(), body.uscc)


@api_route(
    bp,
    "POST",
    "/checkin",
    roles={"venue_staff"},
    body=CheckInIn,
    response=CheckInOut,
    errors=(404,),
    summary="Check an expert in by code",
)
def check_in(body: CheckInIn) -> dict[str, Any]:
    """Confirms workstation and time at the staff member's own venue; says nothing of the
    project."""
    return notices.check_in(_user(), body.code)
