"""Outside entropy in the draw room: public lottery numbers typed per announced source, and the
NIST beacon pulse (the awaited time, its status, the verified pulse once entered). Bad input
is refused beside its field and the draw stays announced."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from expertdraw import clock
from expertdraw.services import draws, ledger, projects

from ..integration import centre as c
from .conftest import project_spec
from .test_markup import check, data_strings

SOURCES = ["福彩3D 2027-02-21", "体彩排列5 2027-02-21"]
ANNOUNCED = datetime(2026, 8, 31, 19, 2, 10, tzinfo=UTC)
NOT_BEFORE = datetime(2026, 8, 31, 19, 3, 30, tzinfo=UTC)


def state_of(draw_id: str) -> str:
    return draws.get_draw(draw_id).state


@pytest.fixture
def lottery_draw(centre) -> str:
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draw = draws.announce(
        project, centre.users["pm"], {"kind": "public-lottery", "sources": SOURCES}
    )
    return draw.id


def test_lottery_numbers_are_entered_per_source_and_complete_the_draw(app, lottery_draw, login):
    client = login("sup1")
    room = client.get(f"/supervisor/draws/{lottery_draw}").get_data(as_text=True)
    assert 'name="numbers.0"' in room and 'name="numbers.1"' in room
    assert all(source in room for source in SOURCES)
    for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
        html = client.get(f"/supervisor/draws/{lottery_draw}?lang={lang}").get_data(as_text=True)
        check(html, f"lottery room [{lang}]", html_lang, data_strings() + SOURCES)
    path = f"/supervisor/draws/{lottery_draw}/lottery"
    bad = client.post(path, data={"numbers.0": "3 17 x", "numbers.1": ""})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert 'id="f-numbers-0-error"' in html and 'id="f-numbers-1-error"' in html
    assert 'value="3 17 x"' in html  # what was typed is kept
    negative = client.post(path, data={"numbers.0": "-1", "numbers.1": "4"})
    assert negative.status_code == 422 and state_of(lottery_draw) == "announced"
    assert login("pm").post(path, data={"numbers.0": "1", "numbers.1": "2"}).status_code == 403
    first = client.post(path, data={"numbers.0": "22, 3 17", "numbers.1": "5 1"})
    assert first.status_code == 302 and state_of(lottery_draw) == "announced"
    waiting = client.get(f"/supervisor/draws/{lottery_draw}").get_data(as_text=True)
    assert 'data-lottery-readings="1"' in waiting and "Your reading is recorded" in waiting
    second = login("sup2")
    other = second.post(path, data={"numbers.0": "3 17 23", "numbers.1": "1 5"})
    assert other.status_code == 409 and state_of(lottery_draw) == "announced"
    assert "与另一名监督人员输入的不一致" in other.get_data(as_text=True)
    done = second.post(path, data={"numbers.0": "3 17 22", "numbers.1": "1 5"})
    assert done.status_code == 302 and state_of(lottery_draw) == "completed"
    body = ledger.entry_body("draw.completed", lottery_draw)
    assert body["entropy_value"] == "3.17.22./1.5./"
    after = client.get(f"/supervisor/draws/{lottery_draw}").get_data(as_text=True)
    assert 'name="numbers.0"' not in after and "data-entropy-value>3.17.22./1.5./</code>" in after


def test_administrators_may_enter_lottery_numbers_as_in_the_api(app, lottery_draw, login):
    path = f"/supervisor/draws/{lottery_draw}/lottery"
    first = login("admin").post(path, data={"numbers.0": "1 2", "numbers.1": "3"})
    assert first.status_code == 302 and state_of(lottery_draw) == "announced"
    done = login("sup1").post(path, data={"numbers.0": "2 1", "numbers.1": "3"})
    assert done.status_code == 302 and state_of(lottery_draw) == "completed"


@pytest.fixture
def beacon_draw(app, frozen, shared_dir) -> str:
    """A beacon draw awaiting the pulse of the vectors (2026-08-31), in a centre whose log
    starts the day before: the announcement's ledger time must precede ``not_before``."""
    centre = c.build(log_created=ANNOUNCED - timedelta(days=1))
    app.config["BEACON_CERTIFICATE"] = str(
        shared_dir / "vectors/nist-beacon/certificate-528943a5.pem"
    )
    with clock.frozen(ANNOUNCED):
        project = projects.create_project(project_spec(centre), centre.users["pm"])
        draw = draws.announce(
            project, centre.users["pm"], {"kind": "beacon", "not_before": NOT_BEFORE}
        )
    return draw.id


def test_the_beacon_panel_shows_the_awaited_pulse_and_then_the_verified_one(
    app, beacon_draw, login, shared_dir
):
    pulses = shared_dir / "vectors/nist-beacon"
    client = login("sup1")
    path = f"/supervisor/draws/{beacon_draw}"
    with clock.frozen(ANNOUNCED + timedelta(seconds=5)):
        waiting = client.get(path).get_data(as_text=True)
        assert 'data-beacon="waiting"' in waiting
        assert "2026-08-31T19:03:30.000Z" in waiting
        assert f"<code data-pulse-ms>{int(NOT_BEFORE.timestamp() * 1000)}</code>" in waiting
    with clock.frozen(NOT_BEFORE + timedelta(minutes=1)):
        assert 'data-beacon="due"' in client.get(path).get_data(as_text=True)
        for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
            html = client.get(f"{path}?lang={lang}").get_data(as_text=True)
            check(html, f"beacon room [{lang}]", html_lang, data_strings())
        empty = client.post(f"{path}/beacon", data={"pulse": "  "})
        assert empty.status_code == 422 and 'id="f-pulse-error"' in empty.get_data(as_text=True)
        early = (pulses / "pulse-2-1921299.json").read_text()
        refused = client.post(f"{path}/beacon?lang=en", data={"pulse": early})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422 and 'id="f-pulse-error"' in html
        assert "earlier than the awaited pulse time" in html
        good = (pulses / "pulse-2-1921300.json").read_bytes()
        tampered = good.replace(b'"pulseIndex" : 1921300', b'"pulseIndex" : 1921301')
        assert client.post(f"{path}/beacon", data={"pulse": tampered.decode()}).status_code == 422
        assert state_of(beacon_draw) == "announced"
        upload = {"pulse": "", "pulse_file": (io.BytesIO(good), "pulse.json")}
        done = client.post(f"{path}/beacon", data=upload, content_type="multipart/form-data")
        assert done.status_code == 302 and state_of(beacon_draw) == "completed"
        taken = client.get(path).get_data(as_text=True)
    assert 'data-beacon="taken"' in taken and "<code>1921300</code>" in taken
    output = ledger.entry_body("draw.completed", beacon_draw)["entropy_value"]
    assert f'<code class="hash" data-pulse-output>{output}</code>' in taken
    assert 'name="pulse"' not in taken


def test_a_due_pulse_is_said_to_be_fetched_by_the_service_when_a_beacon_url_is_set(
    app, beacon_draw, login
):
    client = login("sup1")
    path = f"/supervisor/draws/{beacon_draw}?lang=en"
    with clock.frozen(NOT_BEFORE + timedelta(minutes=1)):
        manual = client.get(path).get_data(as_text=True)
        app.config["BEACON_URL"] = "https://beacon.example/beacon/2.0"
        fetched = client.get(path).get_data(as_text=True)
    assert "fetch the pulse from the beacon and enter it below" in manual
    assert "the service fetches the pulse within a minute" not in manual
    assert "the service fetches the pulse within a minute" in fetched
    assert 'name="pulse"' in fetched  # entering it by hand stays possible
