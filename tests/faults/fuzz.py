"""Fuzzing the JSON API with schemathesis, from its own OpenAPI document, as every role.

``Fuzzer(app).run(...)`` loads ``/api/v1/openapi.json`` through WSGI (no network) and, for
every operation and every role (and anonymously), generates requests with Hypothesis:

- roles the operation allows (``x-roles``) get ``allowed`` valid and ``negative`` invalid
  cases (negative only where there is a parameter or a body to break);
- roles it does not allow get ``forbidden`` cases (the 403 must conform too);
- anonymous callers get ``allowed`` + ``negative`` cases of public operations and
  ``forbidden`` cases of the others (401); logged-in roles get ``forbidden`` cases of public
  operations.

Half of the cases take real ids for their path parameters (the seeded project, draw, notice,
expert, user, checkpoint), so that requests reach the services instead of stopping at 404.
Every case gets a fresh bearer token: fuzzed logouts and revocations must not blind the rest.

Each response must pass: not a server error, a documented status, a documented content type
and headers, and a body that conforms to the documented schema. Generation is derandomized,
so the same cases run every time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Checkpoint, Expert, Member, Notice, User
from expertdraw.services import auth as auth_service

from ..integration import centre as c
from .load import project_body

ANONYMOUS = "anonymous"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
USERNAMES = {
    "project_manager": "pm",
    "supervisor": "sup1",
    "admin": "admin",
    "venue_staff": "staff",
}


@dataclass(frozen=True)
class Known:
    """Real ids in the seeded database, by path parameter."""

    project: str
    draw: str
    expert: str
    notice: str
    user: int
    checkpoint: int

    def value(self, path: str, name: str) -> Any:
        """A real value for parameter ``name`` of ``path``, or None."""
        if name == "code":
            return self.expert if path.startswith("/api/v1/experts/") else self.project
        return {
            "draw_id": self.draw,
            "notice_id": self.notice,
            "user_id": self.user,
            "checkpoint_id": self.checkpoint,
            "seq": 1,
        }.get(name, 1)


def seed(app: Flask) -> tuple[Known, dict[str, int]]:
    """The centre, one completed draw, and a user per role; returns ids and user ids by role."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=24, economic=12, venues=6)
    # An admin registers it: only an admin allows draws without outside entropy.
    _, token = auth_service.issue_token(centre.users["admin"], label="seed")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    project = project_body(1, centre.tenderer)
    project["code"] = "P-FUZZ-00001"
    created = client.post("/api/v1/projects", json=project, headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    drawn = client.post(
        "/api/v1/projects/P-FUZZ-00001/draws", json={"entropy": {"kind": "none"}}, headers=headers
    )
    assert drawn.status_code == 201 and drawn.get_json()["state"] == "completed", drawn.get_json()
    draw_id = drawn.get_json()["id"]
    member = db.session.scalars(sa.select(Member).where(Member.draw_id == draw_id)).first()
    assert member is not None
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
    notice = db.session.scalar(sa.select(Notice.id).where(Notice.member_id == member.id))
    users = {role: centre.users[name].id for role, name in USERNAMES.items()}
    users["expert"] = c.expert_user(code).id
    known = Known(
        project="P-FUZZ-00001",
        draw=draw_id,
        expert=code,
        notice=notice or "N-none",
        user=users["project_manager"],
        checkpoint=db.session.scalar(sa.select(sa.func.max(Checkpoint.id))) or 1,
    )
    db.session.commit()
    return known, users


@dataclass
class Fuzzer:
    """Runs the cases; ``failures`` lists what broke, ``cases`` counts what ran."""

    app: Flask
    known: Known
    users: dict[str, int]
    failures: list[str] = field(default_factory=list)
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    stopped_early: bool = False

    def _headers(self, role: str) -> Callable[[], dict[str, str]]:
        def make() -> dict[str, str]:
            if role == ANONYMOUS:
                return {}
            user = db.session.get(User, self.users[role])
            assert user is not None
            _, token = auth_service.issue_token(user, label="fuzz")
            return {"Authorization": f"Bearer {token}"}

        return make

    def _checks(self) -> list[Any]:
        from schemathesis import checks  # checks are looked up by name in its registry

        return [getattr(checks, name) for name in CHECKS]

    def _one(self, operation: Any, role: str, mode: Any, examples: int) -> None:
        checks = self._checks()
        headers = self._headers(role)
        known = self.known
        label = f"{role} {mode.value} {operation.label}"

        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: each case writes
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
                HealthCheck.data_too_large,
            ],
        )
        @given(case=operation.as_strategy(generation_mode=mode), use_known=st.booleans())
        def fuzz(case: Any, use_known: bool) -> None:
            if use_known and case.path_parameters:
                for name in list(case.path_parameters):
                    case.path_parameters[name] = known.value(operation.path, name)
            response = case.call(headers=headers())
            db.session.remove()  # the app's request used this thread's session
            self.cases[label] += 1
            self.statuses[response.status_code] += 1
            case.validate_response(response, checks=checks)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a Base one
            self.failures.append(f"{label}:\n{exc}")

    def run(
        self, allowed: int, negative: int, forbidden: int, deadline: float | None = None
    ) -> None:
        """Fuzz every operation as every role (see the module docstring).

        ``deadline`` (``time.monotonic()``): start no operation after it.
        """
        import schemathesis
        from schemathesis import GenerationMode

        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", self.app)
        roles = [*sorted(self.users), ANONYMOUS]
        for result in schema.get_all_operations():
            if deadline is not None and time.monotonic() > deadline:
                self.stopped_early = True
                return
            operation = result.ok()
            raw = operation.definition.raw
            may = set(raw["x-roles"])
            breakable = bool(raw.get("parameters") or raw.get("requestBody"))
            for role in roles:
                if role in may or (role == ANONYMOUS and "public" in may):
                    self._one(operation, role, GenerationMode.POSITIVE, allowed)
                    if breakable and negative:
                        self._one(operation, role, GenerationMode.NEGATIVE, negative)
                elif forbidden:
                    self._one(operation, role, GenerationMode.POSITIVE, forbidden)
