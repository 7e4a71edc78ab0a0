"""User administration (admin only): list, create, revoke every token of a user."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..models.users import ROLES
from ..services import auth as auth_service
from .blueprint import bp
from .framework import api_route
from .pagination import Page, PageQuery, page_of
from .schemas import ApiModel, Code, Language, NewPassword, OutModel, Username

Role = Literal["admin", "project_manager", "supervisor", "expert", "venue_staff"]
assert set(Role.__args__) == set(ROLES), "Role must list models.users.ROLES"  # type: ignore[attr-defined]

ADMIN = {"admin"}


class UserQuery(PageQuery):
    """Filters of the user list."""

    role: Role | None = None
    active: bool | None = None


class UserOut(OutModel):
    """A user, without any password hash."""

    id: int
    username: str
    #: The user's name in ledger entries' actors. Null, as ``expert_code``, for an expert on a
    #: committee whose evaluation is on: the expert's own entries (``notice.answered``) carry
    #: it beside the expert's code and the committee.
    pseudonym: str | None
    role: str
    active: bool
    #: Null for an expert who sits on, or stands by for, a committee whose evaluation is on:
    #: the ledger names the committee by this code, and a username can name the person.
    expert_code: str | None = None
    venue_id: str | None
    language: str | None
    created_at: datetime


class UserIn(ApiModel):
    """A new user. Experts are linked by ``expert_code``, venue staff by ``venue_id``."""

    username: Username
    password: NewPassword
    role: Role
    expert_code: Code | None = Field(None, validate_default=True)
    venue_id: Code | None = Field(None, validate_default=True)
    language: Language | None = None

    @field_validator("expert_code")
    @classmethod
    def _expert_link(cls, value: str | None, info: ValidationInfo) -> str | None:
        role = info.data.get("role")
        if role == "expert" and value is None:
            raise ValueError("an expert user needs the expert's code")
        if role is not None and role != "expert" and value is not None:
            raise ValueError("only expert users are linked to an expert")
        return value

    @field_validator("venue_id")
    @classmethod
    def _venue_link(cls, value: str | None, info: ValidationInfo) -> str | None:
        role = info.data.get("role")
        if role == "venue_staff" and value is None:
            raise ValueError("a venue staff user needs a venue")
        if role is not None and role != "venue_staff" and value is not None:
            raise ValueError("only venue staff users are linked to a venue")
        return value


class RevokedOut(OutModel):
    """How many tokens were revoked."""

    user_id: int
    revoked: int


def _out(user: Any, expert_code: str | None) -> UserOut:
    """``expert_code`` ``""``: sealed (see :func:`auth_service.list_users`)."""
    out = UserOut.model_validate(user)
    out.expert_code = expert_code or None
    if expert_code == "":
        out.pseudonym = None
    return out


@api_route(
    bp,
    "GET",
    "/users",
    roles=ADMIN,
    query=UserQuery,
    response=Page[UserOut],
    summary="List users",
)
def list_users(query: UserQuery) -> dict[str, Any]:
    """Paginated, ordered by id."""
    rows, total = auth_service.list_users(
        page=query.page, per_page=query.per_page, role=query.role, active=query.active
    )
    return page_of([_out(user, code) for user, code in rows], total, query)


@api_route(
    bp,
    "POST",
    "/users",
    roles=ADMIN,
    body=UserIn,
    response=UserOut,
    status=201,
    summary="Create a user",
)
def create_user(body: UserIn) -> UserOut:
    """The password is stored as an Argon2id hash and never returned."""
    user = auth_service.create_account(
        body.username,
        body.password,
        body.role,
        expert_code=body.expert_code,
        venue_id=body.venue_id,
        language=body.language,
    )
    return _out(user, body.expert_code)


@api_route(
    bp,
    "POST",
    "/users/<int:user_id>/tokens/revoke-all",
    roles=ADMIN,
    response=RevokedOut,
    summary="Revoke every API token of a user",
)
def revoke_user_tokens(user_id: int) -> dict[str, int]:
    """For a lost device or a person leaving: their bearer tokens stop working at once."""
    return {"user_id": user_id, "revoked": auth_service.revoke_all_tokens(user_id)}
