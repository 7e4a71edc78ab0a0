"""Base classes and shared types for the API's pydantic v2 models.

Why: every request model must refuse unknown fields and unbounded strings, and every response
model must emit only the fields it declares. Deriving from these bases gives that for free;
``api_route`` refuses, at registration, an input model with a string that has no length bound.

- ``ApiModel``: JSON request bodies. Strict types (``"5"`` is not an integer), unknown fields
  rejected, surrounding whitespace stripped.
- ``QueryModel``: query strings. Like ``ApiModel`` but lax, since every query value is text
  (``?page=2`` becomes ``2``).
- ``OutModel``: responses. Built from dicts or ORM objects (``from_attributes``); fields not
  declared are dropped, never echoed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from ..services.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# Shared string types: declare fields with these (or another bounded ``StringConstraints``).
Username = Annotated[
    str, StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
]
Password = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH, strip_whitespace=False),
]
#: The pages' rule (``services.users.check_new_password``): one account, one password policy.
NewPassword = Annotated[
    str,
    StringConstraints(
        min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH, strip_whitespace=False
    ),
]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Label = Annotated[str, StringConstraints(max_length=100)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=2000)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(_[A-Z]{2})?$", max_length=8)]

#: Dates and times a trading centre deals in: this century. Beyond it nothing is meant, and
#: the calendar's edges (year 1 or 9999, shifted by an offset) overflow date arithmetic.
FIRST_YEAR, LAST_YEAR = 2000, 2099


def _moment_in_range(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = value.year
    if not FIRST_YEAR <= year <= LAST_YEAR or not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be a time in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


def _day_in_range(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be a date in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


#: A time with its offset, in this century (request bodies and queries).
Moment = Annotated[AwareDatetime, AfterValidator(_moment_in_range)]
#: A calendar date in this century.
Day = Annotated[date, AfterValidator(_day_in_range)]


class ApiModel(BaseModel):
    """Base of JSON request bodies: strict, closed (extra fields are errors), stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class QueryModel(BaseModel):
    """Base of query-string models: closed and stripped, values coerced from text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutModel(BaseModel):
    """Base of response models: read from dicts or ORM objects; undeclared fields dropped."""

    model_config = ConfigDict(from_attributes=True)


class FieldError(OutModel):
    """One invalid input: where it is and what is wrong with it."""

    field: str = Field(description="dotted path, e.g. `strata.0.count`; `$` is the whole input")
    location: str = Field(
        serialization_alias="in", description="`body`, `query`, `header` or `path`"
    )
    message: str
    type: str = Field(description="machine-readable reason, e.g. `missing`, `string_too_long`")


class Problem(OutModel):
    """RFC 9457 problem details with a stable ``code`` (the thing clients switch on)."""

    type: str = Field(description="URI naming the problem kind: `urn:expertdraw:problem:<code>`")
    title: str
    status: int
    code: str = Field(description="stable machine-readable code, e.g. `invalid:body`")
    detail: str
    errors: list[FieldError] | None = None
