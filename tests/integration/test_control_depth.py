"""``party-employer`` and ``authority`` follow control to any depth.

rules.md counts an employer that "controls / is controlled by" a party. Control passes down
a chain of ``parent`` links: a holding controls its group's subsidiaries, and a bidder its
units' own units. A draw leaves out the employees of every organisation above or below a
party, whatever the depth; a new controlling organisation re-checks the seated experts it
may have put in conflict, however far up or down the chain they work; two organisations
under one holding are not related by that alone.
"""

from __future__ import annotations

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, Expert, Member, Organisation
from expertdraw.services import draws, ledger, places, pool, projects
from expertdraw.services.projects import strata_request
from tests.integration import centre as c


def _org(centre_number: int, parent: Organisation | None = None) -> Organisation:
    org = Organisation(
        uscc=c.uscc(centre_number),
        name=f"chain {centre_number}",
        kind="employer",
        parent_id=parent.id if parent else None,
    )
    db.session.add(org)
    db.session.flush()
    return org


def _org_of(uscc: str) -> Organisation:
    return db.session.scalar(sa.select(Organisation).where(Organisation.uscc == uscc))


def _employ(experts: list[Expert], org: Organisation) -> set[str]:
    for expert in experts:
        expert.employer_id = org.id
    return {expert.code for expert in experts}


def _candidates(project) -> set[str]:
    built = pool.build_pool(project, strata_request(project), draws.rules(), "F")
    return {candidate["id"] for stratum in built.strata for candidate in stratum.candidates}


def test_employees_above_or_below_a_party_at_any_depth_are_left_out(app):
    """Holding -> group -> bidder -> unit -> sub-unit: the holding's and the sub-unit's
    employees are as excluded as the group's and the unit's; a cousin of the bidder (under
    the holding through another group) is not."""
    with clock.frozen(c.NOW):
        centre = c.build()
        technical = db.session.scalars(
            sa.select(Expert).where(Expert.kind == "technical").order_by(Expert.id)
        ).all()
        bidder = _org_of(centre.bidders[0])
        holding = _org(9001)
        group = _org(9002, holding)
        bidder.parent_id = group.id
        unit = _org(9003, bidder)
        sub_unit = _org(9004, unit)
        cousin = _org(9006, _org(9005, holding))
        at_holding = _employ(technical[0:2], holding)
        at_group = _employ(technical[2:4], group)
        at_unit = _employ(technical[4:6], unit)
        at_sub_unit = _employ(technical[6:8], sub_unit)
        at_cousin = _employ(technical[8:10], cousin)
        db.session.commit()
        project = projects.create_project(c.project_spec(centre, "P-DEEP"), centre.users["pm"])
        candidates = _candidates(project)
        related = pool.project_facts(project).related_orgs
        loaded = pool.load_facts(
            [e.id for e in technical[:10]], project, pool.project_facts(project), draws.rules()
        )
    assert related[bidder.uscc] == (group.uscc, holding.uscc)
    assert not candidates & (at_holding | at_group | at_unit | at_sub_unit)
    assert at_cousin <= candidates
    # The facts a replacement reads name the whole chain, so it judges alike.
    chains = {facts.code: facts.employer_groups for facts in loaded.values()}
    assert {chains[code] for code in at_sub_unit} == {
        (unit.uscc, bidder.uscc, group.uscc, holding.uscc)
    }
    assert {chains[code] for code in at_cousin} == {(c.uscc(9005), holding.uscc)}


def _seated(centre: c.Centre, code: str) -> tuple[Draw, list[str]]:
    project = projects.create_project(c.project_spec(centre, code), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draw = draws.add_witness(draw, centre.users["sup1"], "w")
    seated = db.session.scalars(
        sa.select(Expert.code)
        .join(Member, Member.expert_id == Expert.id)
        .where(Member.draw_id == draw.id, Member.state == "active")
        .order_by(Member.id)
    ).all()
    return draw, list(seated)


def _move(centre: c.Centre, org: Organisation, parent: Organisation) -> None:
    """An admin puts ``org`` under ``parent`` (which re-checks the committees concerned)."""
    places.save_organisation(
        org.uscc,
        org.name,
        "employer",
        parent_uscc=parent.uscc,
        new=False,
        actor=draws.actor_of(centre.users["admin"]),
    )


def _replaced(draw: Draw) -> dict[str, str]:
    return {body["out"]: body["reason"] for body in ledger.entry_bodies("draw.replaced", draw.id)}


def test_an_organisation_moved_below_a_bidder_rechecks_the_staff_of_its_own_units(app):
    """A seated member works for a unit of an organisation that is then put under a unit of a
    bidder: the member now works three levels below a party and leaves the committee as a
    conflict."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw, seated = _seated(centre, "P-MOVE-DOWN")
        moved = _org(9101)
        employer = _org(9103, moved)
        _employ([db.session.scalar(sa.select(Expert).where(Expert.code == seated[0]))], employer)
        unit = _org(9102, _org_of(centre.bidders[0]))
        db.session.commit()
        _move(centre, moved, unit)
    assert _replaced(draw) == {seated[0]: "conflict"}


def test_a_holding_put_above_a_bidders_group_rechecks_the_holdings_staff(app):
    """The bidder's group gets a new holding above it, itself under a parent: a seated member
    who works for that parent now controls a party three levels down and leaves the
    committee; one who works for another group of the holding stays."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw, seated = _seated(centre, "P-MOVE-UP")
        top = _org(9200)
        holding = _org(9201, top)
        group = _org(9202)
        _org_of(centre.bidders[0]).parent_id = group.id
        other_group = _org(9203, holding)
        members = {
            code: db.session.scalar(sa.select(Expert).where(Expert.code == code))
            for code in seated[:2]
        }
        _employ([members[seated[0]]], top)
        _employ([members[seated[1]]], other_group)
        db.session.commit()
        _move(centre, group, holding)
    assert _replaced(draw) == {seated[0]: "conflict"}
