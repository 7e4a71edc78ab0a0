"""The manager's draw request offers every entropy kind the project allows: witnesses (1 to 9),
the NIST beacon (the service sets the pulse time, shown once announced), public lottery sources,
and none only where the project allows it. A bad choice is refused beside its field and nothing
is announced."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Draw, LedgerEntry
from expertdraw.services import draws, ledger, projects

from ..integration import centre as c
from .conftest import PROJECT, project_spec
from .test_manager_pages import error_of
from .test_markup import check, data_strings

PATH = f"/manager/projects/{PROJECT}/draws"
SOURCES = ["福利彩票 双色球 2026-12-01 第2026138期", "体育彩票 大乐透 2026-12-01 第26138期"]


@pytest.fixture
def project(centre: c.Centre) -> Any:
    """The story's project; outside entropy required (the default)."""
    return projects.create_project(project_spec(centre), centre.users["pm"])


@pytest.fixture
def lenient(centre: c.Centre) -> Any:
    """The story's project, allowed to draw with the server's secret alone."""
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    return projects.permit_no_entropy(project, centre.users["admin"])


def _announced() -> list[Draw]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Draw)))


def _ledger_types() -> list[str]:
    return list(db.session.scalars(sa.select(LedgerEntry.type).order_by(LedgerEntry.seq)))


def _radios(html: str) -> list[str]:
    return [
        kind
        for kind in ("witness", "beacon", "public-lottery", "none")
        if f'id="f-entropy-{kind}" name="entropy" value="{kind}"' in html
    ]


def test_the_form_offers_witnesses_beacon_and_lottery_and_none_only_where_allowed(
    app, project, login
):
    client = login("pm")
    html = client.get(f"/manager/projects/{PROJECT}?lang=en").get_data(as_text=True)
    assert _radios(html) == ["witness", "beacon", "public-lottery"]
    assert 'value="witness" checked' in html  # witnesses stay the default
    assert 'name="witnesses"' in html and 'name="sources"' in html
    for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
        page = client.get(f"/manager/projects/{PROJECT}?lang={lang}").get_data(as_text=True)
        check(page, f"draw request [{lang}]", html_lang, data_strings())


def test_a_project_that_allows_it_also_offers_none(app, lenient, login):
    html = login("pm").get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    assert _radios(html) == ["witness", "beacon", "public-lottery", "none"]


def test_witnesses_are_announced_with_their_number(app, project, login):
    response = login("pm").post(PATH, data={"entropy": "witness", "witnesses": "3"})
    assert response.status_code == 302
    [draw] = _announced()
    assert response.location.endswith(f"/manager/draws/{draw.id}")
    assert draw.state == "announced"
    assert ledger.entry_body("draw.announced", draw.id)["entropy"] == {
        "kind": "witness",
        "witnesses": 3,
    }


def test_a_beacon_draw_gets_its_pulse_time_from_the_service_and_shows_it(app, project, login):
    client = login("pm")
    # what the other kinds' fields hold is not read for the beacon
    response = client.post(
        f"{PATH}?lang=en", data={"entropy": "beacon", "witnesses": "x", "sources": ""}
    )
    assert response.status_code == 302
    [draw] = _announced()
    # announced at 2027-02-20T02:00Z: the first whole minute at least a minute later
    entropy = ledger.entry_body("draw.announced", draw.id)["entropy"]
    assert entropy == {
        "kind": "beacon",
        "source": "nist-beacon-2.0",
        "not_before": "2027-02-20T02:01:00.000Z",
    }
    page = client.get(response.location).get_data(as_text=True)
    assert "It waits for the first beacon pulse at or after 2027-02-20 10:01:00." in page
    assert "<code data-pulse-time>2027-02-20T02:01:00.000Z</code>" in page
    assert "the first pulse at or after 2027-02-20 10:01:00" in page  # Beijing time
    assert "Waiting for the beacon pulse." in page
    project_page = client.get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    assert "<code data-pulse-time>2027-02-20T02:01:00.000Z</code>" in project_page
    assert 'name="entropy"' not in project_page  # one live draw: no second request
    for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
        for path in (response.location, f"/manager/projects/{PROJECT}"):
            html = client.get(f"{path}?lang={lang}").get_data(as_text=True)
            check(html, f"{path} [{lang}]", html_lang, data_strings())


def test_a_lottery_draw_names_its_sources_one_per_line(app, project, login):
    client = login("pm")
    typed = f"  {SOURCES[0]}  \r\n\r\n{SOURCES[1]}\r\n"
    response = client.post(f"{PATH}?lang=en", data={"entropy": "public-lottery", "sources": typed})
    assert response.status_code == 302
    [draw] = _announced()
    assert ledger.entry_body("draw.announced", draw.id)["entropy"] == {
        "kind": "public-lottery",
        "sources": SOURCES,
    }
    page = client.get(f"{response.location}?lang=en").get_data(as_text=True)
    assert f"<ol data-lottery><li>{SOURCES[0]}</li><li>{SOURCES[1]}</li></ol>" in page
    check(page, "lottery draw [en]", "en", data_strings() + SOURCES)
    project_page = client.get(f"/manager/projects/{PROJECT}?lang=en").get_data(as_text=True)
    assert "Waiting for the numbers of these public lottery sources:" in project_page
    check(project_page, "lottery project [en]", "en", data_strings() + SOURCES)


def test_none_where_allowed_completes_the_draw_with_the_server_secret(app, lenient, login):
    response = login("pm").post(f"{PATH}?lang=en", data={"entropy": "none"})
    assert response.status_code == 302
    [draw] = _announced()
    assert draw.state == "completed"
    assert ledger.entry_body("draw.announced", draw.id)["entropy"] == {"kind": "none"}
    assert ledger.entry_body("draw.completed", draw.id)["entropy_value"] == ""


TOO_MANY = "\n".join(f"体育彩票 排列5 2026-12-{day:02d}" for day in range(1, 12))


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"entropy": "witness", "witnesses": ""}, "witnesses", "Enter the number of witnesses"),
        ({"entropy": "witness", "witnesses": "0"}, "witnesses", "Choose 1 to 9 witnesses."),
        ({"entropy": "witness", "witnesses": "10"}, "witnesses", "Choose 1 to 9 witnesses."),
        ({"entropy": "witness", "witnesses": "two"}, "witnesses", "Choose 1 to 9 witnesses."),
        ({"entropy": "public-lottery", "sources": " \n "}, "sources", "at least one source"),
        ({"entropy": "public-lottery", "sources": TOO_MANY}, "sources", "at most 10 sources"),
        ({"entropy": "public-lottery", "sources": "彩" * 201}, "sources", "at most 200 characters"),
        (
            {"entropy": "public-lottery", "sources": "福利彩票 双色球 联系人 13812345678"},
            "sources",
            "kept in the ledger for ever",
        ),
        ({"entropy": "dice"}, "entropy", "Choose where the draw's randomness comes from."),
        ({"entropy": "none"}, "entropy", "This project requires outside randomness"),
    ],
)
def test_a_bad_request_is_refused_beside_its_field_and_nothing_is_announced(
    app, project, login, data, field, message
):
    before = _ledger_types()
    response = login("pm").post(f"{PATH}?lang=en", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in error_of(html, field).replace("&#39;", "'")
    assert 'id="error-summary"' in html and f'href="#f-{field}"' in html
    assert _announced() == []
    assert _ledger_types() == before
    if data.get("entropy") in ("witness", "public-lottery"):
        assert f'value="{data["entropy"]}" checked' in html  # the choice is kept
    typed = [line.strip() for line in data.get("sources", "").splitlines() if line.strip()]
    assert all(line in html for line in typed)  # what was typed is kept
    check(html, f"refused {data}", "en", data_strings() + typed)


def test_a_project_with_a_live_draw_refuses_a_second_request(app, project, login):
    client = login("pm")
    assert client.post(PATH, data={"entropy": "beacon"}).status_code == 302
    again = client.post(f"{PATH}?lang=en", data={"entropy": "public-lottery", "sources": "x"})
    assert again.status_code == 409
    assert "This project already has an announced or completed draw." in again.get_data(
        as_text=True
    )
    assert len(_announced()) == 1


def test_only_project_managers_and_administrators_request_draws(app, project, login):
    assert login("sup1").post(PATH, data={"entropy": "beacon"}).status_code == 403
    assert _announced() == []
    assert login("admin").post(PATH, data={"entropy": "beacon"}).status_code == 302
    assert draws.live_root_draw(project) is not None


def test_without_the_beacon_certificate_beacon_draws_are_neither_offered_nor_announced(
    app, centre, project, login
):
    """No pulse could be checked: the form leaves the beacon out, and a request for one (page
    or API) is refused before anything is announced (draw.md §2)."""
    app.config["BEACON_CERTIFICATE"] = None
    client = login("pm")
    html = client.get(f"/manager/projects/{PROJECT}").get_data(as_text=True)
    assert _radios(html) == ["witness", "public-lottery"]
    before = _ledger_types()
    page = client.post(PATH, data={"entropy": "beacon"})
    assert page.status_code == 422
    with pytest.raises(Exception) as refused:
        draws.announce(project, centre.users["pm"], {"kind": "beacon"})
    assert getattr(refused.value, "code", None) == "entropy:config"
    assert _announced() == [] and _ledger_types() == before
