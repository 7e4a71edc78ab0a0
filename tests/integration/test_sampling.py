"""Random supervision sampling (双随机、一公开): drawn by the draw engine's method, replayed
from its ledger entries alone, sensitive to every witness value, published without people."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import sampling as method
from expertdraw.domain.draw import commitment
from expertdraw.extensions import db
from expertdraw.models import Checkpoint, LedgerEntry
from expertdraw.services import sampling
from expertdraw.services.errors import Conflict, Forbidden, ServiceError
from expertdraw.services.users import create_user

from . import centre as c
from .inspection_helpers import SAMPLED, completed_project

RATIOS = {"high": "1/2", "medium": "1/5", "low": "1/10"}
HIGH = ["P2027-0101", "P2027-0102", "P2027-0103"]
MEDIUM = ["P2027-0201", "P2027-0202", "P2027-0203", "P2027-0204"]
LOW = [f"P2027-030{n}" for n in range(1, 6)]
DAY = c.NOW.date()


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        built = c.build()
        for name in ("sup3", "sup4"):
            built.users[name] = create_user(name, "correct horse battery", "supervisor")
        db.session.commit()
    for code in HIGH + MEDIUM + LOW:
        completed_project(code, c.NOW, built.tenderer)
    return built


def _announce(centre, at=SAMPLED + timedelta(hours=1), **overrides):
    values = dict(
        start=DAY,
        end=DAY,
        ratios=RATIOS,
        risk={**dict.fromkeys(HIGH, "high"), **dict.fromkeys(MEDIUM, "medium")},
        default_risk="low",
        witnesses=2,
    )
    values.update(overrides)
    with clock.frozen(at):
        return sampling.announce(centre.users["sup1"], **values)


def _drawn(centre, values=("alpha", "beta")):
    inspection = _announce(centre)
    with clock.frozen(SAMPLED + timedelta(hours=2)):
        sampling.add_witness(inspection, centre.users["sup1"], values[0])
        sampling.add_witness(inspection, centre.users["sup2"], values[1])
    return inspection


def _bodies(inspection_id: str) -> dict[str, dict]:
    """The two entries' bodies, read straight from the stored bundle lines."""
    found = {}
    for record in db.session.scalars(
        sa.select(LedgerEntry.record).where(LedgerEntry.type.like("inspection.%"))
    ):
        entry = json.loads(record)["entry"]
        if entry["body"]["inspection"] == inspection_id:
            found[entry["type"]] = entry["body"]
    return found


def test_the_announcement_commits_before_any_witness_value(centre):
    inspection = _announce(centre)
    body = _bodies(inspection.id)["inspection.announced"]
    assert body["commitment"] == commitment(inspection.id, bytes.fromhex(inspection.secret))
    assert body["plan_hash"] == method.plan_hash(body["plan"])
    assert body["entropy"] == {"kind": "witness", "witnesses": 2}
    assert [lv["projects"] for lv in body["plan"]["levels"]] == [HIGH, MEDIUM, LOW]
    assert len(body["plan"]["inspectors"]) == 4
    seq = db.session.scalar(
        sa.select(LedgerEntry.seq).where(LedgerEntry.type == "inspection.announced")
    )
    assert db.session.scalar(sa.select(sa.func.max(Checkpoint.size))) > seq
    assert "secret" not in body


def test_the_sample_takes_the_ratio_of_each_level_rounded_up(centre):
    inspection = _drawn(centre)
    assert inspection.state == "drawn"
    targets = {t["level"]: t["projects"] for t in inspection.result["targets"]}
    assert len(targets["high"]) == math.ceil(3 / 2) == 2
    assert len(targets["medium"]) == math.ceil(4 / 5) == 1
    assert len(targets["low"]) == math.ceil(5 / 10) == 1
    assert set(targets["high"]) <= set(HIGH) and set(targets["low"]) <= set(LOW)
    assigned = inspection.result["inspectors"]
    assert [a["project"] for a in assigned] == [p for ps in targets.values() for p in ps]
    assert all(len(set(a["inspectors"])) == 2 for a in assigned)


def test_the_sample_replays_from_its_ledger_entries_alone(centre):
    inspection = _drawn(centre)
    bodies = _bodies(inspection.id)
    announced, drawn = bodies["inspection.announced"], bodies["inspection.drawn"]
    assert method.replay_sample(announced, drawn) == []
    assert sampling.replay(inspection.id) == []
    assert drawn["entropy_value"] == ["alpha", "beta"]
    assert drawn["secret"] == inspection.secret
    assert set(drawn) >= {"inspection", "targets", "inspectors", "seed", "plan_hash"}


def test_changing_one_witness_value_changes_the_sample(centre):
    inspection = _drawn(centre)
    bodies = _bodies(inspection.id)
    announced, drawn = bodies["inspection.announced"], bodies["inspection.drawn"]
    secret = bytes.fromhex(drawn["secret"])
    other = method.drawn_body(announced["plan"], secret, ["alpha", "beta!"])
    assert other["seed"] != drawn["seed"]
    assert (other["targets"], other["inspectors"]) != (drawn["targets"], drawn["inspectors"])
    tampered = {**drawn, "entropy_value": ["alpha", "beta!"]}
    assert "seed: recomputed seed differs" in method.replay_sample(announced, tampered)
    # Another project in place of one drawn (the other values' targets may happen to be the
    # same projects: the secret is random).
    targets = [dict(t, projects=list(t["projects"])) for t in drawn["targets"]]
    high = next(t for t in targets if t["level"] == "high")
    high["projects"][0] = next(p for p in HIGH if p not in high["projects"])
    forged = {**drawn, "targets": targets}
    assert method.replay_sample(announced, forged) == ["targets: recomputed projects differ"]


def test_only_supervisors_witness_once_each(centre):
    inspection = _announce(centre)
    with pytest.raises(Forbidden):
        sampling.add_witness(inspection, centre.users["pm"], "x")
    sampling.add_witness(inspection, centre.users["sup2"], "x")
    with pytest.raises(Conflict):
        sampling.add_witness(inspection, centre.users["sup2"], "y")


def test_a_plan_without_completed_projects_announces_nothing(centre):
    before = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))
    with pytest.raises(ServiceError) as info:
        _announce(centre, start=date(2026, 1, 1), end=date(2026, 1, 2), risk={})
    assert info.value.code == "infeasible:no-projects"
    with pytest.raises(ServiceError) as info:
        _announce(centre, risk={"P2027-0101": "extreme"})
    assert info.value.code == "invalid:risk"
    assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == before


def test_the_public_list_names_projects_and_roles_only(app, centre):
    inspection = _drawn(centre)
    client = app.test_client()
    url = f"/api/v1/public/inspections/{inspection.id}"
    assert client.get(url).status_code == 404  # not published yet
    with clock.frozen(SAMPLED + timedelta(hours=3)):
        sampling.publish(inspection, centre.users["sup1"])
    response = client.get(url)
    assert response.status_code == 200
    public = response.get_json()
    sampled = [a["project"] for a in inspection.result["inspectors"]]
    assert [t["project"] for t in public["targets"]] == sampled
    assert all(t["inspectors"] == ["supervisor", "supervisor"] for t in public["targets"])
    text = response.get_data(as_text=True)
    for user in centre.users.values():
        assert user.pseudonym not in text and user.username not in text
    listing = client.get("/api/v1/public/inspections").get_json()
    assert [item["inspection"] for item in listing["items"]] == [inspection.id]


def test_more_witnesses_than_supervisors_are_refused_before_anything_is_announced(centre):
    """Each supervisor gives one value: a sample waiting for more could never be drawn."""
    size = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))
    with pytest.raises(ServiceError) as refused:
        _announce(centre, witnesses=5)  # four supervisors
    assert refused.value.code == "infeasible:witnesses"
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == size
    assert _announce(centre, witnesses=4).state == "announced"


def test_the_offline_audit_replays_every_sample(centre, tmp_path, monkeypatch):
    """A supervisor's own tool (``expertdraw.verify --replay``) replays samples as it does
    draws: a drawn entry whose targets the seed does not give is a problem, and so is a
    second drawn entry of one sample."""
    from expertdraw.domain.bundle import audit_bundle
    from expertdraw.services import export, ledger

    _drawn(centre)
    export.write_bundle(tmp_path / "honest")
    assert audit_bundle(tmp_path / "honest", replay=True).ok
    # The forger's second sample of the period: the service's one-per-period rule set aside.
    monkeypatch.setattr(sampling, "_sampled", lambda start, end: None)
    forged = _announce(centre)
    body = method.drawn_body(
        _bodies(forged.id)["inspection.announced"]["plan"],
        bytes.fromhex(forged.secret),
        ["alpha", "beta"],
    )
    body["targets"] = [{**level, "projects": list(reversed(HIGH))} for level in body["targets"]]
    with clock.frozen(SAMPLED + timedelta(hours=3)):
        ledger.append("inspection.drawn", body, {"role": "supervisor", "id": "U0001"})
        ledger.append("inspection.drawn", body, {"role": "supervisor", "id": "U0001"})
        ledger.issue_checkpoint()
        db.session.commit()
    export.write_bundle(tmp_path / "forged")
    report = audit_bundle(tmp_path / "forged", replay=True)
    codes = [problem.code for problem in report.problems]
    assert codes == ["inspection:replay", "inspection:order"], report.problems


def test_one_sample_is_drawn_per_period(centre):
    """Drawing again could only serve to keep the convenient sample: a period overlapping an
    earlier sample's is refused, whatever that sample's state, and nothing is appended."""
    first = _drawn(centre)
    before = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))
    for start, end in ((DAY, DAY), (DAY - timedelta(days=3), DAY), (DAY, DAY + timedelta(days=2))):
        with pytest.raises(Conflict) as refused:
            _announce(centre, start=start, end=end, at=SAMPLED + timedelta(days=3))
        assert refused.value.code == "conflict:inspection-period"
        assert first.id in str(refused.value)
    assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == before


def test_a_period_is_sampled_once_it_is_over(centre):
    """A sample takes the projects completed in its period: drawn before the period ends, it
    would miss the rest of it, which could never be sampled again. Refused, nothing written."""
    before = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))
    for when in (c.NOW, SAMPLED - timedelta(hours=10, seconds=1)):  # 23:59:59 local
        with pytest.raises(ServiceError) as refused:
            _announce(centre, at=when)
        assert (refused.value.code, refused.value.field) == ("invalid:period-not-over", "end")
    with pytest.raises(ServiceError):
        _announce(centre, end=DAY + timedelta(days=30), at=SAMPLED)
    assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == before
    # At local midnight the day is over.
    assert _announce(centre, at=SAMPLED - timedelta(hours=10)).state == "announced"


def test_a_level_holding_projects_is_sampled_above_zero(centre):
    """A level at 0/1 would exempt the projects put in it from any chance of inspection."""
    with pytest.raises(ServiceError) as refused:
        _announce(centre, ratios={**RATIOS, "exempt": "0/1"}, risk={HIGH[0]: "exempt"})
    assert refused.value.code == "sampling:ratio" and "exempt" in str(refused.value)
    assert _announce(centre, ratios={**RATIOS, "unused": "0/1"}).state == "announced"


def test_the_witnesses_of_a_draw_do_not_inspect_it(centre):
    """回避: the supervisors who witnessed a project's draw are left out of its inspection
    (the plan records them as recusals, so the sample still replays from the ledger)."""
    from expertdraw.models import User, Witness

    from .inspection_helpers import run_draw

    draw = run_draw(centre, "P2027-0901", c.NOW)  # the centre has four supervisors
    witnessed = set(
        db.session.scalars(
            sa.select(User.pseudonym)
            .join(Witness, Witness.supervisor_id == User.id)
            .where(Witness.draw_id == draw.id)
        )
    )
    assert len(witnessed) == 2
    inspection = _announce(centre, ratios={"all": "1/1"}, risk={}, default_risk="all")
    with clock.frozen(SAMPLED + timedelta(hours=2)):
        sampling.add_witness(inspection, centre.users["sup1"], "alpha")
        sampling.add_witness(inspection, centre.users["sup2"], "beta")
    assert inspection.plan["recusals"]["P2027-0901"] == sorted(witnessed)
    assigned = {a["project"]: a["inspectors"] for a in inspection.result["inspectors"]}
    assert len(assigned["P2027-0901"]) == 2
    assert not witnessed & set(assigned["P2027-0901"])
    assert sampling.replay(inspection.id) == []


def test_a_centre_whose_only_supervisors_witnessed_the_draws_still_samples(app):
    """Two supervisors witness every draw of a small centre: recused as far as the pool
    allows, they still inspect, and the sample replays."""
    from .inspection_helpers import run_draw

    with clock.frozen(c.NOW):
        small = c.build()  # two supervisors
    run_draw(small, "P2027-0901", c.NOW)
    with clock.frozen(SAMPLED + timedelta(hours=1)):
        inspection = sampling.announce(
            small.users["sup1"], start=DAY, end=DAY, ratios={"all": "1/1"}, default_risk="all"
        )
    with clock.frozen(SAMPLED + timedelta(hours=2)):
        sampling.add_witness(inspection, small.users["sup1"], "alpha")
        sampling.add_witness(inspection, small.users["sup2"], "beta")
    assigned = {a["project"]: a["inspectors"] for a in inspection.result["inspectors"]}
    assert len(assigned["P2027-0901"]) == 2
    assert sampling.replay(inspection.id) == []
