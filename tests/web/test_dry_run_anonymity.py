"""A project manager's dry run does not move with who sits on other committees.

A manager chooses a project's parties and window. Counts that turned on other committees'
seats and memberships (``busy``, ``frequency``, ``same-tenderer``) would answer, one trial
bidder at a time, whether someone seated in that window works for it: ``party-employer`` is
counted before ``busy``. Supervisors and admins see every rule's count.
"""

from __future__ import annotations

import dataclasses
import json
import re

import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Organisation
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, projects
from tests.integration.centre import project_body
from tests.web.conftest import project_spec

REASON_ROW = re.compile(r'<code>([a-z-]+)</code></td><td>[^<]*</td><td class="num">(\d+)</td>')
ELIGIBLE = re.compile(r'data-eligible="technical">(\d+)<')


def _employers(seated: bool) -> list[str]:
    """Employers of technical experts who sit on the drawn committee (or who do not)."""
    members = sa.select(Member.expert_id).where(Member.state == "active")
    where = Expert.id.in_(members) if seated else Expert.id.not_in(members)
    return list(
        db.session.scalars(
            sa.select(Organisation.uscc)
            .join(Expert, Expert.employer_id == Organisation.id)
            .where(where, Expert.kind == "technical")
            .order_by(Organisation.uscc)
        )
    )


def _page_figures(client, code: str) -> tuple[int, dict[str, int], bool]:
    html = client.get(f"/manager/projects/{code}/dry-run?lang=en").get_data(as_text=True)
    eligible = int(ELIGIBLE.search(html).group(1))
    return eligible, dict(REASON_ROW.findall(html)), 'data-other-committees="no"' in html


def test_a_managers_dry_run_cannot_tell_a_seated_experts_employer(app, centre, completed, login):
    member_employer, outsider_employer = _employers(True)[0], _employers(False)[0]
    for code, bidders in (
        ("P2027-0101", ()),
        ("P2027-0102", (member_employer,)),
        ("P2027-0103", (outsider_employer,)),
    ):
        spec = dataclasses.replace(project_spec(centre, code), bidders=bidders)
        projects.create_project(spec, centre.users["pm"])
    pm = login("pm")
    base, base_reasons, note = _page_figures(pm, "P2027-0101")
    assert note and "busy" not in base_reasons and "same-tenderer" not in base_reasons
    with_member = _page_figures(pm, "P2027-0102")
    with_outsider = _page_figures(pm, "P2027-0103")
    assert with_member == with_outsider
    assert with_member[0] == base - 1 and with_member[1]["party-employer"] == "1"
    # A supervisor's dry run counts the committee's seats.
    seated = draws.dry_run(projects.get_project("P2027-0101"), user=centre.users["sup1"])
    members = db.session.scalar(sa.select(sa.func.count(Member.id)).where(Member.state == "active"))
    assert seated.other_committees and seated.excluded["busy"] == members == 5


def test_over_the_api_a_managers_probes_learn_nothing(app, centre, completed):
    """The same trial over the API, one project whose bidders are edited between dry runs:
    every organisation gives the figures any other gives."""
    _, token = auth_service.issue_token(centre.users["pm"], label="probe")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = project_body(centre, "P2027-0200")
    assert client.post("/api/v1/projects", json=body, headers=headers).status_code == 201
    before = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))

    def figures(bidders: list[str]) -> str:
        put = client.put(
            "/api/v1/projects/P2027-0200", json={**body, "bidders": bidders}, headers=headers
        )
        assert put.status_code == 200, put.get_data(as_text=True)
        run = client.post("/api/v1/projects/P2027-0200/dry-run", headers=headers).get_json()
        assert run["other_committees"] is False
        return json.dumps([run[k] for k in ("strata", "excluded", "feasible", "workstations")])

    seen = {figures([uscc]) for uscc in _employers(True)[:2] + _employers(False)[:2]}
    assert len(seen) == 1
    assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == before


def test_a_managers_dry_run_seat_figures_do_not_move_with_other_committees(app, centre, login):
    """Else a manager who moves the window and the region could map when, where and how
    large other committees are. A supervisor's dry run (and the draw itself) count them."""
    pm = login("pm")
    mine = projects.create_project(project_spec(centre, "P2027-0100"), centre.users["pm"])
    before = pm.post(f"/api/v1/projects/{mine.code}/dry-run").get_json()
    other = projects.create_project(project_spec(centre, "P2027-0200"), centre.users["admin"])
    draw = draws.announce(other, centre.users["admin"], {"kind": "witness", "witnesses": 2})
    draws.add_witness(draw, centre.users["sup1"], "31415")
    draws.add_witness(draw, centre.users["sup2"], "zt-2027")
    assert draw.state == "completed"
    after = pm.post(f"/api/v1/projects/{mine.code}/dry-run").get_json()
    assert after["other_committees"] is False
    assert (after["venues"], after["workstations"]) == (before["venues"], before["workstations"])
    seated = db.session.scalar(sa.select(sa.func.count(Member.id)).where(Member.draw_id == draw.id))
    counted = draws.dry_run(mine, user=centre.users["sup1"])
    assert counted.other_committees is True
    assert counted.workstations == before["workstations"] - seated
