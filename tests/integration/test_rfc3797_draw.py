"""An ``rfc3797`` draw end to end through the services (draw.md §7): announced with public
lottery sources and no secret, completed with the published numbers, a member replaced, and
the exported bundle replayed by the offline verifier, on both databases."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import draw as engine
from expertdraw.extensions import db
from expertdraw.models import Notice, Snapshot
from expertdraw.services import draws, export, ledger, notices, projects
from expertdraw.services.errors import ServiceError
from tests.verifier import run_verifier

from . import centre as c

SOURCES = ["福彩3D 2027-02-21", "体彩排列5 2027-02-21"]
NUMBERS = [[22, 3, 17], [5, 1]]
KEY = "3.17.22./1.5./"  # each source's numbers sorted, each ended by "." and the source by "/"


def rfc3797_order(key: str, n: int, picks: int) -> list[int]:
    """draw.md §7 by hand: the 0-based positions picked, in pick order, among ``n``."""
    remaining, order = list(range(n)), []
    for i in range(picks):
        block = i.to_bytes(2, "big")
        v = int.from_bytes(hashlib.md5(block + key.encode() + block).digest(), "big")
        order.append(remaining.pop(v % len(remaining)))
    return order


@pytest.fixture
def lottery_draw(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        spec = c.project_spec(
            centre,
            "P2027-3797",
            strata=[projects.StratumSpec("technical", "A0101", "technical", 5, 2)],
        )
        project = projects.create_project(spec, centre.users["pm"])
        draw = draws.announce(
            project,
            centre.users["pm"],
            {"kind": "public-lottery", "sources": SOURCES},
            algorithm=engine.RFC3797,
        )
    return centre, draw


def test_an_rfc3797_draw_has_no_secret_and_waits_for_the_numbers(lottery_draw):
    _, draw = lottery_draw
    announced = ledger.entry_body("draw.announced", draw.id)
    assert announced["algorithm"] == "rfc3797"
    assert announced["entropy"] == {"kind": "public-lottery", "sources": SOURCES}
    # §7: the commitment is section 3's with s empty, so anyone can recompute it now
    preimage = b"expertdraw/commit/v1\x00" + draw.id.encode() + b"\x00"
    assert announced["commitment"] == hashlib.sha256(preimage).hexdigest()
    assert draws.get_draw(draw.id).state == "announced"


def test_supervisors_enter_the_numbers_through_the_api(app, lottery_draw):
    from expertdraw.services import auth as auth_service

    centre, draw = lottery_draw
    answers = []
    with clock.frozen(c.NOW):
        for name in ("sup1", "sup2"):
            _, token = auth_service.issue_token(centre.users[name], label="numbers")
            answers.append(
                app.test_client().post(
                    f"/api/v1/draws/{draw.id}/entropy",
                    json={"numbers": NUMBERS},
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.get_json()["state"] for a in answers] == ["announced", "completed"]


def _confirmed(centre, draw, numbers):
    """The numbers entered by two supervisors (the second reading completes the draw)."""
    waiting = draws.supply_entropy(draw, centre.users["sup1"], numbers=numbers)
    assert waiting.state == "announced"
    return draws.supply_entropy(draw, centre.users["sup2"], numbers=numbers)


def test_the_numbers_pick_members_and_alternates_in_rfc3797_order(lottery_draw):
    centre, draw = lottery_draw
    with clock.frozen(c.NOW):
        done = _confirmed(centre, draw, NUMBERS)
    assert done.state == "completed"
    completed = ledger.entry_body("draw.completed", draw.id)
    assert completed["secret"] == "" and completed["entropy_value"] == KEY
    snapshot = json.loads(db.session.get(Snapshot, draw.id).canonical)
    candidates = [cand["id"] for cand in snapshot["strata"][0]["candidates"]]
    order = [candidates[i] for i in rfc3797_order(KEY, len(candidates), 7)]
    assert [m["expert"] for m in completed["members"]] == order[:5]
    assert completed["alternates"] == [{"stratum": "technical", "experts": order[5:]}]
    venues = {m["venue"] for m in completed["members"]}
    assert len(venues) == 5  # separated by venue, seated by section 5 with this seed


def test_a_declined_member_is_replaced_and_the_bundle_replays(lottery_draw, tmp_path):
    centre, draw = lottery_draw
    with clock.frozen(c.NOW):
        _confirmed(centre, draw, NUMBERS)
        code = _decline(draw.id)
    completed = ledger.entry_body("draw.completed", draw.id)
    replaced = ledger.entry_body("draw.replaced", draw.id)
    assert replaced["out"] == code
    assert replaced["in"] == completed["alternates"][0]["experts"][0]
    assert replaced["skipped"] == []
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--replay", "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def _decline(draw_id: str) -> str:
    """The draw's first pending notice (in member order) declined; its expert's code."""
    notice = db.session.scalars(
        sa.select(Notice)
        .where(Notice.draw_id == draw_id, Notice.status == "pending")
        .order_by(Notice.member_id)
        .limit(1)
    ).one()
    code = db.session.scalar(
        sa.text("SELECT code FROM experts WHERE id = :i"), {"i": notice.expert_id}
    )
    notices.answer(c.expert_user(code), notice.id, accept=False, reason="ill")
    return code


def test_without_alternates_left_a_supplementary_rfc3797_draw_runs(lottery_draw, tmp_path):
    centre, draw = lottery_draw
    with clock.frozen(c.NOW):
        _confirmed(centre, draw, NUMBERS)
        for _ in range(3):
            _decline(draw.id)
    bodies = ledger.entry_bodies("draw.replaced", draw.id)
    assert [b["in"] is None for b in bodies] == [False, False, True]
    supplementary = bodies[-1]["supplementary"]
    assert supplementary == f"{draw.id}-R1"
    extra = draws.get_draw(supplementary)
    assert extra.state == "announced" and extra.algorithm == "rfc3797"
    # the root's numbers are public: the supplementary draw names later draws of the lotteries
    assert extra.entropy["sources"] == [
        f"{source} 同一彩票在 2027-02-20 10:00:00（UTC+08:00） 之后的首次开奖" for source in SOURCES
    ]
    with clock.frozen(c.NOW), pytest.raises(ServiceError) as reused:
        draws.supply_entropy(extra, centre.users["sup1"], numbers=[[17, 22, 3], [1, 5]])
    assert reused.value.code == "entropy:lottery-reused" and reused.value.field == "numbers"
    assert draws.get_draw(supplementary).state == "announced"
    with clock.frozen(c.NOW):
        done = _confirmed(centre, extra, [[4, 8, 15], [16, 23]])
    assert done.state == "completed"
    completed = ledger.entry_body("draw.completed", supplementary)
    assert completed["entropy_value"] == "4.8.15./16.23./" and len(completed["members"]) == 1
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--replay", "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_one_supervisor_alone_cannot_choose_the_numbers(lottery_draw):
    """No secret in this mode: whoever types the numbers decides the committee. A second
    supervisor must enter the same numbers; a different reading completes nothing, and either
    may correct theirs."""
    centre, draw = lottery_draw
    with clock.frozen(c.NOW):
        first = draws.supply_entropy(draw, centre.users["sup1"], numbers=NUMBERS)
        assert first.state == "announced"
        again = draws.supply_entropy(draw, centre.users["sup1"], numbers=NUMBERS)
        assert again.state == "announced"  # the same person twice is still one reading
        with pytest.raises(ServiceError) as differ:
            draws.supply_entropy(draw, centre.users["sup2"], numbers=[[1, 2, 3], [4, 5]])
        assert differ.value.code == "entropy:lottery-mismatch"
        assert draws.get_draw(draw.id).state == "announced"
        assert ledger.entry_bodies("draw.completed", draw.id) == []
        done = draws.supply_entropy(draw, centre.users["sup1"], numbers=[[3, 2, 1], [5, 4]])
    assert done.state == "completed"  # sup1 corrected theirs to sup2's reading
    assert ledger.entry_body("draw.completed", draw.id)["entropy_value"] == "1.2.3./4.5./"


def test_a_lottery_draw_waits_for_the_results_not_an_hour(app, lottery_draw):
    """Lottery results come out once a day at most: a public-lottery draw's deadline is
    LOTTERY_TIMEOUT_HOURS away (not past the evaluation window's start), and ``fail_stale``
    leaves it alone before then."""
    from datetime import timedelta

    centre, draw = lottery_draw
    assert draw.deadline_at == c.NOW + timedelta(hours=48)  # the window starts later
    with clock.frozen(c.NOW + timedelta(hours=2)):
        draws.fail_stale()
    assert draws.get_draw(draw.id).state == "announced"
    app.config["LOTTERY_TIMEOUT_HOURS"] = 24 * 14
    with clock.frozen(c.NOW):
        spec = c.project_spec(
            centre,
            "P2027-3798",
            strata=[projects.StratumSpec("technical", "A0101", "technical", 5, 2)],
        )
        project = projects.create_project(spec, centre.users["pm"])
        later = draws.announce(
            project, centre.users["pm"], {"kind": "public-lottery", "sources": SOURCES}
        )
    assert later.deadline_at == c.WINDOW - timedelta(minutes=5)  # before the window's start
