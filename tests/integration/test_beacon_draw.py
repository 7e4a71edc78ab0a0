"""A draw whose entropy is a real NIST beacon pulse, end to end through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw
from expertdraw.services import draws, export, ledger, projects
from expertdraw.services.errors import ServiceError
from tests.verifier import run_verifier

from . import centre as c

ANNOUNCED = datetime(2026, 8, 31, 19, 2, 10, tzinfo=UTC)
NOT_BEFORE = datetime(2026, 8, 31, 19, 3, 30, tzinfo=UTC)
# The pulses of the vectors are of 2026-08-31: the log starts before the announcement,
# whose ledger time must precede not_before (draw.md §3.1).
LOG_CREATED = datetime(2026, 8, 30, tzinfo=UTC)


@pytest.fixture
def beacon_project(app, shared_dir):
    app.config["BEACON_CERTIFICATE"] = str(
        shared_dir / "vectors/nist-beacon/certificate-528943a5.pem"
    )
    with clock.frozen(c.NOW):
        centre = c.build(log_created=LOG_CREATED)
    spec = c.project_spec(centre, "P-BEACON", name="beacon", agency=None, bidders=())
    with clock.frozen(ANNOUNCED):
        project = projects.create_project(spec, centre.users["pm"])
    return centre, project


def test_the_first_pulse_after_not_before_completes_the_draw(beacon_project, shared_dir, tmp_path):
    centre, project = beacon_project
    pulses = shared_dir / "vectors/nist-beacon"
    with clock.frozen(ANNOUNCED):
        draw = draws.announce(
            project, centre.users["pm"], {"kind": "beacon", "not_before": NOT_BEFORE}
        )
        assert draw.entropy["not_before"] == "2026-08-31T19:03:30.000Z"
        early = (pulses / "pulse-2-1921299.json").read_text()
        with pytest.raises(ServiceError) as info:
            draws.supply_entropy(draw, centre.users["sup1"], pulse=early)
        assert info.value.code.startswith("entropy:")
        pulse = (pulses / "pulse-2-1921300.json").read_text()
        done = draws.supply_entropy(draw, centre.users["sup1"], pulse=pulse)
    assert done.state == "completed"
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    assert (bundle / "beacon" / f"{draw.id}.json").read_text() == pulse
    result = run_verifier(bundle, "--replay", "--beacon-cert", pulses / "certificate-528943a5.pem")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_tampered_pulse_is_refused_and_nothing_completes(beacon_project, shared_dir):
    centre, project = beacon_project
    pulse = (shared_dir / "vectors/nist-beacon/pulse-2-1921300.json").read_text()
    tampered = pulse.replace('"pulseIndex" : 1921300', '"pulseIndex" : 1921301')
    assert tampered != pulse
    with clock.frozen(ANNOUNCED):
        draw = draws.announce(
            project, centre.users["pm"], {"kind": "beacon", "not_before": NOT_BEFORE}
        )
        with pytest.raises(ServiceError):
            draws.supply_entropy(draw, centre.users["sup1"], pulse=tampered)
    assert draws.get_draw(draw.id).state == "announced"


def test_an_announcement_the_ledger_would_time_after_not_before_is_refused(beacon_project):
    """The ledger's last entry is later than this server's clock (another server's clock is
    ahead): the announcement would take that time, not before ``not_before``, so it is refused
    and nothing is written; with a later ``not_before`` it goes ahead."""
    centre, project = beacon_project
    ahead = NOT_BEFORE + timedelta(minutes=5)
    ledger.append(
        "pool.changed",
        {"expert": "E0000001", "field": "status", "from": "active", "to": "active", "reason": "t"},
        ledger.SYSTEM,
        now=ahead,
    )
    db.session.commit()
    before = ledger.head()
    with clock.frozen(ANNOUNCED), pytest.raises(ServiceError) as refused:
        draws.announce(project, centre.users["pm"], {"kind": "beacon", "not_before": NOT_BEFORE})
    assert refused.value.code == "entropy:not-before"
    assert refused.value.field == "entropy.not_before"
    assert "2026-08-31T19:08:30.000Z" in str(refused.value)  # the ledger's time, named
    assert ledger.head() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 0
    later = ahead + timedelta(minutes=1)
    with clock.frozen(ANNOUNCED):
        draw = draws.announce(project, centre.users["pm"], {"kind": "beacon", "not_before": later})
    announced = ledger.head()  # the announcement, at the ledger's time
    assert announced is not None and announced.seq == before.seq + 1
    assert announced.time == "2026-08-31T19:08:30.000Z"
    assert ledger.entry_body("draw.announced", draw.id)["entropy"]["not_before"] > announced.time


def test_a_pulse_time_the_deadline_would_not_wait_for_is_refused(app, beacon_project):
    """draw.md §2: a request the service can tell cannot be met is refused, announcing
    nothing. A pulse awaited after the draw's deadline (an hour after the announcement, by
    default) could only let the draw fail; one in time is announced."""
    centre, project = beacon_project
    deadline = ANNOUNCED + timedelta(minutes=app.config["ANNOUNCE_TIMEOUT_MINUTES"])
    with clock.frozen(ANNOUNCED):
        for late in (deadline, deadline - draws.BEACON_MARGIN + timedelta(seconds=1)):
            with pytest.raises(ServiceError) as refused:
                draws.announce(project, centre.users["pm"], {"kind": "beacon", "not_before": late})
            assert refused.value.code == "entropy:beacon-deadline"
            assert refused.value.field == "entropy.not_before"
        assert db.session.scalar(sa.select(sa.func.count(Draw.id))) == 0
        in_time = deadline - draws.BEACON_MARGIN
        draw = draws.announce(
            project, centre.users["pm"], {"kind": "beacon", "not_before": in_time}
        )
    assert draw.state == "announced" and draw.deadline_at == deadline
