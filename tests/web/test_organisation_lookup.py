"""Organisations by unified social credit code for the party fields: the registered name, or
why a code is not usable (check character, not registered); for project managers and
administrators only."""

from __future__ import annotations

from expertdraw.services import directory

from ..integration import centre as c


def test_codes_are_looked_up_with_their_names_or_problems(app, centre, login):
    wrong_check = centre.tenderer[:17] + ("0" if centre.tenderer[17] != "0" else "1")
    unknown = c.uscc(5000)
    response = login("pm").get(
        "/manager/organisations/lookup",
        query_string={"uscc": [centre.tenderer.lower(), wrong_check, unknown, " "], "lang": "en"},
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    found = response.get_json()["organisations"]
    assert [o["uscc"] for o in found] == [centre.tenderer, wrong_check, unknown]
    name = directory.organisation_names([centre.tenderer])[centre.tenderer]
    assert found[0] == {"uscc": centre.tenderer, "name": name, "kind": "Tenderer", "message": None}
    assert found[1]["name"] is None and "check character" in found[1]["message"]
    assert found[2]["name"] is None and "No organisation" in found[2]["message"]


def test_the_answer_is_in_the_user_language(app, centre, login):
    found = (
        login("pm")
        .get("/manager/organisations/lookup", query_string={"uscc": centre.agency})
        .get_json()["organisations"]
    )
    assert found[0]["kind"] == "招标代理机构"


def test_the_party_fields_and_the_employer_field_ask_for_the_look_up(app, centre, login):
    form = login("pm").get("/manager/projects/new").get_data(as_text=True)
    assert 'data-uscc-lookup="/manager/organisations/lookup"' in form
    expert = login("admin").get("/admin/experts/E0000001").get_data(as_text=True)
    assert 'data-uscc-lookup="/manager/organisations/lookup"' in expert


def test_only_managers_and_administrators_look_up(app, centre, login):
    path = f"/manager/organisations/lookup?uscc={centre.tenderer}"
    assert login("admin").get(path).status_code == 200
    for username in ("sup1", "staff"):
        assert login(username).get(path).status_code == 403
    assert app.test_client().get(path).status_code == 302
