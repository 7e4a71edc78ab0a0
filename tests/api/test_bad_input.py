"""Bad input to the workflow endpoints: a 4xx problem naming the field, and nothing written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, LedgerEntry, Project
from expertdraw.services import auth as auth_service

from ..integration import centre as c
from .conftest import ApiClient


@pytest.fixture
def pm(app):
    with clock.frozen(c.NOW):
        centre = c.build(technical=8, economic=4, venues=6)
    _, token = auth_service.issue_token(centre.users["pm"], label="bad input")
    return centre, ApiClient(app.test_client(), token)


def _project(centre: c.Centre, **changes):
    return c.project_body(centre, "P-BAD-1", **{"name": "项目", **changes})


def _counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count(Project.id))),
        db.session.scalar(sa.select(sa.func.count(Draw.id))),
        db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))),
    )


CASES = [
    (
        "count is a string",
        {"strata": [{"name": "t", "specialty": "A0101", "kind": "technical", "count": "5"}]},
        "strata.0.count",
    ),
    ("unknown field", {"colour": "red"}, "colour"),
    ("huge name", {"name": "项" * 5000}, "name"),
    ("bad USCC check digit", {"tenderer": "91530600000000001A"}, "tenderer"),
    ("bad region", {"region": "999"}, "region"),
    (
        "unknown specialty",
        {"strata": [{"name": "t", "specialty": "Z99", "kind": "technical", "count": 5}]},
        "strata.0.specialty",
    ),
    (
        "window in the past",
        {"window_start": "2020-01-01T01:00:00+00:00", "window_end": "2020-01-01T09:00:00+00:00"},
        "window_start",
    ),
    ("naive time", {"window_start": "2027-03-01T01:00:00"}, "window_start"),
    (
        "even committee",
        {"strata": [{"name": "t", "specialty": "A0101", "kind": "technical", "count": 6}]},
        "strata",
    ),
    (
        "too small committee",
        {"strata": [{"name": "t", "specialty": "A0101", "kind": "technical", "count": 3}]},
        "strata",
    ),
    ("NUL in the name", {"name": "教学\u0000楼"}, "name"),
    ("lone surrogate in the name", {"name": "楼\ud800"}, "name"),
    ("escape in a bidder", {"bidders": ["\u001b[31m"]}, "bidders.0"),
    (
        "the calendar's last day",
        {"window_start": "9999-12-31T20:00:00-14:00", "window_end": "9999-12-31T23:00:00-14:00"},
        "window_start",
    ),
    ("the calendar's first day", {"bid_deadline": "0001-01-01T00:00:00+14:00"}, "bid_deadline"),
    (
        "next century",
        {"window_start": "2100-01-01T01:00:00+00:00", "window_end": "2100-01-01T09:00:00+00:00"},
        "window_start",
    ),
    (
        "bad stratum name",
        {"strata": [{"name": "技术 组", "specialty": "A0101", "kind": "technical", "count": 5}]},
        "strata.0.name",
    ),
]


@pytest.mark.parametrize(("label", "changes", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_project_is_refused_naming_the_field(pm, label, changes, field):
    centre, client = pm
    before = _counts()
    with clock.frozen(c.NOW):
        response = client.post("/api/v1/projects", json=_project(centre, **changes))
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    fields = [e["field"] for e in problem.get("errors") or []]
    assert field in fields, (label, problem)
    assert _counts() == before


def test_malformed_json_is_refused(pm):
    _, client = pm
    response = client.post(
        "/api/v1/projects", data=b'{"code": "P1",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid:json"


def test_impossible_request_is_refused_before_any_announcement(pm):
    centre, client = pm
    body = _project(
        centre,
        strata=[
            {"name": "technical", "specialty": "A0101", "kind": "technical", "count": 4},
            {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 5},
        ],
    )
    with clock.frozen(c.NOW):
        assert client.post("/api/v1/projects", json=body).status_code == 201
        before = _counts()
        response = client.post(
            "/api/v1/projects/P-BAD-1/draws", json={"entropy": {"kind": "witness"}}
        )
    assert response.status_code == 422
    assert response.get_json()["code"].startswith("infeasible:")
    assert _counts() == before


def test_no_entropy_is_refused_unless_the_project_allows_it(pm):
    centre, client = pm
    with clock.frozen(c.NOW):
        client.post("/api/v1/projects", json=_project(centre))
        before = _counts()
        response = client.post("/api/v1/projects/P-BAD-1/draws", json={"entropy": {"kind": "none"}})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "entropy.kind"
    assert _counts() == before


def test_control_characters_anywhere_are_refused_naming_the_field(app, pm):
    """A NUL would be a server error on PostgreSQL and unreadable text on SQLite: refused
    everywhere, the anonymous token request and query strings included."""
    _, client = pm
    anonymous = app.test_client()
    token = anonymous.post("/api/v1/auth/token", json={"username": "pm\u0000", "password": "x"})
    assert token.status_code == 422 and token.get_json()["errors"][0]["field"] == "username"
    labelled = anonymous.post(
        "/api/v1/auth/token",
        json={"username": "pm", "password": "correct horse battery", "label": "l\u0000"},
    )
    assert labelled.status_code == 422 and labelled.get_json()["errors"][0]["field"] == "label"
    listed = client.get("/api/v1/projects", query_string={"page": "1\u0000"})
    assert listed.status_code == 422 and listed.get_json()["errors"][0]["field"] == "page"


@pytest.mark.parametrize(
    "body",
    [
        {"start": "9999-12-31", "end": "9999-12-31", "ratios": {"low": "1/10"}},
        {"start": "0001-01-01", "end": "2027-01-31", "ratios": {"low": "1/10"}},
    ],
)
def test_inspection_periods_are_dates_of_this_century(app, pm, body):
    centre, _ = pm
    _, token = auth_service.issue_token(centre.users["sup1"], label="t")
    sup = ApiClient(app.test_client(), token)
    with clock.frozen(c.NOW):
        answer = sup.post("/api/v1/inspections", json=body)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["code"] == "invalid:body"


def test_a_beacon_not_before_at_the_end_of_the_calendar_is_refused(pm):
    centre, client = pm
    with clock.frozen(c.NOW):
        client.post("/api/v1/projects", json=_project(centre))
        before = _counts()
        entropy = {"kind": "beacon", "not_before": "9999-12-31T23:59:59-14:00"}
        answer = client.post("/api/v1/projects/P-BAD-1/draws", json={"entropy": entropy})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.get_json()["errors"]] == ["entropy.not_before"]
    assert _counts() == before


@pytest.mark.parametrize(
    ("entropy", "field"),
    [
        ({"kind": "witness", "sources": ["双色球 2027-03-01"]}, "entropy.sources"),
        ({"kind": "witness", "not_before": "2027-03-01T00:00:00Z"}, "entropy.not_before"),
        ({"kind": "public-lottery", "sources": ["x"], "witnesses": 2}, "entropy.witnesses"),
    ],
)
def test_an_entropy_member_of_another_kind_is_refused_not_dropped(pm, entropy, field):
    centre, client = pm
    with clock.frozen(c.NOW):
        client.post("/api/v1/projects", json=_project(centre))
        before = _counts()
        answer = client.post("/api/v1/projects/P-BAD-1/draws", json={"entropy": entropy})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.get_json()["errors"]] == [field]
    assert _counts() == before


@pytest.mark.parametrize(
    "value", ["\u200b", "\u202eabc", "  \u3000 ", "13812345678", "530102 198001011234"]
)
def test_a_witness_value_must_be_visible_text_without_personal_data(app, pm, value):
    """People read witness values out and check them against the ledger: zero-width,
    direction-override or blank values are refused and nothing is recorded."""
    centre, client = pm
    _, token = auth_service.issue_token(centre.users["sup1"], label="w")
    sup = ApiClient(app.test_client(), token)
    with clock.frozen(c.NOW):
        client.post("/api/v1/projects", json=_project(centre))
        draw = client.post("/api/v1/projects/P-BAD-1/draws", json={"entropy": {"kind": "witness"}})
        before = _counts()
        answer = sup.post(f"/api/v1/draws/{draw.get_json()['id']}/witnesses", json={"value": value})
    assert answer.status_code == 422, answer.get_json()
    assert _counts() == before


@pytest.mark.parametrize(
    "purpose",
    [
        "复核 530102196107061196 的情况",
        "电话13987012345核实",
        "mail a@b.cn please",
        # however it is written (the check reads what a person would read)
        "核查 张三（+8613812345678）的座位",
        "核查张三 138 1234 5678",
        "核查 138-1234-5678",
        "身份证 530102 19800101 123X 核查",
        "核查１３８１２３４５６７８",
        "核查 zhang.san@163。com",
    ],
)
def test_a_purpose_with_personal_data_is_refused_and_opens_nothing(app, pm, purpose):
    """The purpose goes into the ledger for ever, which holds no personal data."""
    from expertdraw.services import draws

    centre, client = pm
    _, token = auth_service.issue_token(centre.users["sup1"], label="p")
    sup = ApiClient(app.test_client(), token)
    with clock.frozen(c.NOW):
        client.post("/api/v1/projects", json=_project(centre))
        draw_id = client.post(
            "/api/v1/projects/P-BAD-1/draws", json={"entropy": {"kind": "witness", "witnesses": 1}}
        ).get_json()["id"]
        draws.add_witness(draws.get_draw(draw_id), centre.users["sup1"], "w")
        before = _counts()
        answer = sup.post(f"/api/v1/draws/{draw_id}/list", json={"purpose": purpose})
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "invalid:purpose-personal"
    assert _counts() == before
