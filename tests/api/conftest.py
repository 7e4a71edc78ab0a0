"""API test fixtures: one user per role, bearer tokens, and a client that sends them.

- ``users``: ``{role: TestUser}`` for every role; the expert user is linked to a minimal expert,
  the venue staff user to a venue. All share ``PASSWORD``.
- ``token_for(role)``: a fresh bearer token for that role's user.
- ``api(role)``: a client whose requests carry that role's token (``api(None)``: anonymous).

Password hashes are made once per session with cheap Argon2 parameters (the hash carries its
parameters, so verification stays cheap); hashing on every test would dominate the run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from argon2 import PasswordHasher

from expertdraw.extensions import db
from expertdraw.models import ROLES, Expert, Region, User, Venue
from expertdraw.personal_data import protector
from expertdraw.services import auth as auth_service
from expertdraw.services.users import new_pseudonym

PASSWORD = "correct horse battery staple"
EXPERT_CODE = "E0000001"
VENUE_ID = "V-ZT-01"


@dataclass(frozen=True)
class TestUser:
    """What a test needs to know about a user (no ORM object that could go stale)."""

    __test__ = False  # not a test class for pytest

    id: int
    username: str
    role: str
    password: str = PASSWORD


@pytest.fixture(scope="session")
def password_hash() -> str:
    """An Argon2id hash of ``PASSWORD`` with cheap parameters."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def _reference_rows(now: datetime) -> tuple[Expert, Venue]:
    db.session.add(Region(code="530000", name="云南省", level="province"))
    db.session.add(Region(code="530600", name="昭通市", level="prefecture", parent_code="530000"))
    db.session.flush()
    id_number = "530602199001011234"
    expert = Expert(
        code=EXPERT_CODE,
        name="测试专家",
        id_number=id_number,
        id_number_hash=protector().lookup_hash(id_number),
        home_region="530600",
        title="高级工程师",
        kind="technical",
        status="active",
        data_confirmed_on=now.date(),
    )
    venue = Venue(id=VENUE_ID, name="昭通市公共资源交易中心", region_code="530600", address="昭通")
    db.session.add_all([expert, venue])
    db.session.flush()
    return expert, venue


@pytest.fixture
def users(app: Any, password_hash: str) -> dict[str, TestUser]:
    """One active user per role, committed."""
    now = datetime.now(UTC)
    expert, venue = _reference_rows(now)
    rows = {}
    for role in ROLES:
        rows[role] = User(
            username=f"{role}-user",
            pseudonym=new_pseudonym(),
            password_hash=password_hash,
            role=role,
            expert_id=expert.id if role == "expert" else None,
            venue_id=venue.id if role == "venue_staff" else None,
            active=True,
            created_at=now,
        )
    db.session.add_all(rows.values())
    db.session.commit()
    return {role: TestUser(u.id, u.username, role) for role, u in rows.items()}


@pytest.fixture
def token_for(users: dict[str, TestUser]) -> Callable[[str], str]:
    """``token_for(role)``: a fresh bearer token for that role's user."""

    def issue(role: str) -> str:
        user = db.session.get(User, users[role].id)
        assert user is not None
        _, token = auth_service.issue_token(user, label=f"test {role}")
        return token

    return issue


class ApiClient:
    """A test client that sends a bearer token (or none) with every request."""

    def __init__(self, client: Any, token: str | None) -> None:
        self.client = client
        self.token = token

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; ``json=``, ``data=``, ``headers=``, ``query_string=`` as Flask's."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.open("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.open("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.open("DELETE", path, **kwargs)


@pytest.fixture
def api(app: Any, token_for: Callable[[str], str]) -> Callable[[str | None], ApiClient]:
    """``api(role)``: a client authenticated as that role; ``api(None)`` is anonymous."""

    def make(role: str | None) -> ApiClient:
        return ApiClient(app.test_client(), token_for(role) if role else None)

    return make


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is problem+json with this status and code; returns the body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    assert body["title"] and isinstance(body["detail"], str)
    return body
