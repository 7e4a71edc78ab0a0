"""A project corrected, or a bidder added, while its draw is being requested.

An announcement reads the project (its bidders, its strata) before the ledger lock; a
correction or a bidder committed between that read and the announcement would give an outcome
no serial order gives (a draw from the old parties beside a project naming X as a bidder, X's
staff seated). The project's row orders them (projects.lock_project): whichever comes second
waits, then sees what the first committed.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Organisation, Project, ProjectBidder
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, pool, projects
from tests.integration import centre as c
from tests.integration.test_races import _threads


def _one_employer_for_technical() -> str:
    """Every technical expert works for one organisation X (not a party); returns X's USCC."""
    experts = db.session.scalars(sa.select(Expert).where(Expert.kind == "technical")).all()
    employer_id = experts[0].employer_id
    for expert in experts:
        expert.employer_id = employer_id
    db.session.commit()
    return db.session.get(Organisation, employer_id).uscc


def _body(centre: c.Centre, code: str, bidders: list[str]) -> dict[str, Any]:
    return {
        "code": code,
        "name": "并发修改项目",
        "tenderer": centre.tenderer,
        "agency": centre.agency,
        "bidders": bidders,
        "region": "530602",
        "window_start": c.WINDOW.isoformat(),
        "window_end": (c.WINDOW + timedelta(hours=8)).isoformat(),
        "max_per_group": 6,
        "allow_no_entropy": True,
        "strata": [
            {
                "name": "technical",
                "specialty": "A0101",
                "kind": "technical",
                "count": 4,
                "alternates": 2,
            },
            {
                "name": "economic",
                "specialty": "C0301",
                "kind": "economic",
                "count": 1,
                "alternates": 1,
            },
        ],
    }


def _seated_employed_by(uscc: str, project_code: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(Expert.code)
            .join(Member, Member.expert_id == Expert.id)
            .join(Organisation, Organisation.id == Expert.employer_id)
            .join(draws.Draw, draws.Draw.id == Member.draw_id)
            .join(Project, Project.id == draws.Draw.project_id)
            .where(
                Organisation.uscc == uscc,
                Project.code == project_code,
                Member.state == "active",
            )
        )
    )


def test_a_bidder_added_by_correcting_the_project_during_its_draw_request_is_ignored(
    pg_app, monkeypatch
):
    """A correction sent while the draw request builds its pool waits for the announcement,
    then finds the draw: refused, and the committee holds none of X's staff."""
    with clock.frozen(c.NOW):
        centre = c.build()
        x = _one_employer_for_technical()
        _, token = auth_service.issue_token(centre.users["admin"], label="t")
        headers = {"Authorization": f"Bearer {token}"}
        with pg_app.test_client() as client:
            created = client.post(
                "/api/v1/projects", json=_body(centre, "P-EDIT", centre.bidders), headers=headers
            )
            assert created.status_code == 201, created.get_json()
    db.session.remove()

    pool_built, corrected = threading.Event(), threading.Event()
    real = pool.build_pool

    def build_pool(*args: Any, **kwargs: Any) -> Any:
        built = real(*args, **kwargs)
        if threading.current_thread().name == "draw":
            pool_built.set()
            corrected.wait(3)  # the correction waits for this request's transaction
        return built

    monkeypatch.setattr(draws.pool, "build_pool", build_pool)
    answers: dict[str, Any] = {}

    def request_draw() -> None:
        with pg_app.test_client() as client:
            sent = client.post(
                "/api/v1/projects/P-EDIT/draws", json={"entropy": {"kind": "none"}}, headers=headers
            )
            answers["draw"] = (sent.status_code, sent.get_json())

    def correct() -> None:
        assert pool_built.wait(30)
        try:
            with pg_app.test_client() as client:
                sent = client.put(
                    "/api/v1/projects/P-EDIT",
                    json=_body(centre, "P-EDIT", [*centre.bidders, x]),
                    headers=headers,
                )
                answers["put"] = (sent.status_code, sent.get_json())
        finally:
            corrected.set()

    with clock.frozen(c.NOW):
        _threads(("draw", request_draw), ("put", correct))

    db.session.remove()
    project = db.session.scalar(sa.select(Project).where(Project.code == "P-EDIT"))
    bidders = {
        db.session.get(Organisation, b.organisation_id).uscc
        for b in db.session.scalars(
            sa.select(ProjectBidder).where(ProjectBidder.project_id == project.id)
        )
    }
    seated = _seated_employed_by(x, "P-EDIT")
    assert answers["put"][0] == 409 and answers["put"][1]["code"] == "conflict:project-drawn"
    assert answers["draw"][0] == 201 and answers["draw"][1]["state"] == "completed"
    assert not (x in bidders and seated), (
        f"answers {answers['put'][0]} (PUT) / {answers['draw'][0]} (draw): "
        f" (draw): X is a bidder of the project and its employees {seated} sit on its committee"
    )


def test_a_bidder_added_by_the_manager_while_the_draw_completes_is_never_rechecked(
    pg_app, monkeypatch
):
    """A draw requested while the manager's bidder is being added waits for it, then builds
    its pool with X among the bidders: none of X's staff is seated."""
    with clock.frozen(c.NOW):
        centre = c.build()
        x = _one_employer_for_technical()
        pm = centre.users["pm"]
        _, pm_token = auth_service.issue_token(pm, label="pm")
        _, admin_token = auth_service.issue_token(centre.users["admin"], label="admin")
        spec = c.project_spec(centre, "P-BID", max_per_group=6)
        project = projects.create_project(spec, pm)
        projects.permit_no_entropy(project, centre.users["admin"])
        db.session.commit()
    db.session.remove()

    checked, drawn = threading.Event(), threading.Event()
    real_add = projects.add_bidder

    def add_bidder(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "bidder":
            checked.set()  # live_root_draw() said None
            drawn.wait(3)  # the draw request waits for this transaction
        return real_add(*args, **kwargs)

    monkeypatch.setattr(projects, "add_bidder", add_bidder)
    answers: dict[str, Any] = {}

    def add() -> None:
        with pg_app.test_client() as client:
            sent = client.post(
                "/api/v1/projects/P-BID/bidders",
                json={"uscc": x},
                headers={"Authorization": f"Bearer {pm_token}"},
            )
            answers["bidder"] = (sent.status_code, sent.get_json())

    def request_draw() -> None:
        assert checked.wait(30)
        try:
            with pg_app.test_client() as client:
                sent = client.post(
                    "/api/v1/projects/P-BID/draws",
                    json={"entropy": {"kind": "none"}},
                    headers={"Authorization": f"Bearer {admin_token}"},
                )
                answers["draw"] = (sent.status_code, sent.get_json())
        finally:
            drawn.set()

    with clock.frozen(c.NOW):
        _threads(("bidder", add), ("draw", request_draw))

    db.session.remove()
    # Every technical expert works for X: with X a bidder, the pool has none (a refusal), as
    # it would for a request made after the bidder was added.
    assert answers["draw"][0] == 422, answers
    assert answers["draw"][1]["code"] == "infeasible:candidates:technical"
    entry = db.session.scalar(
        sa.select(LedgerEntry).where(LedgerEntry.type == "project.bidder_added")
    )
    seated = _seated_employed_by(x, "P-BID")
    assert answers["bidder"][0] == 201 and entry is not None  # the manager's addition went in
    assert seated == [], (
        f"bidder X added (entry seq {entry.seq}: {entry.record[:160]}) "
        f"with the draw; X's employees {seated} are seated"
    )
