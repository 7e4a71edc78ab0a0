"""A conflict or a loss of standing found after the draw takes the member off the committee
(rules.md: "a later-found conflict triggers a replacement"), whoever records it; the leaver's
notice is withdrawn, accepted or not, so their schedule shows no seat. On both databases."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Notice, Organisation
from expertdraw.services import draws, experts, ledger, notices, projects

from . import centre as c


def _completed(centre: c.Centre, code: str = "P-LATER"):
    project = projects.create_project(c.project_spec(centre, code), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    return draws.add_witness(draw, centre.users["sup1"], "w")


def _first_member(draw_id: str) -> tuple[Member, Notice, str]:
    member = db.session.scalars(
        sa.select(Member)
        .where(Member.draw_id == draw_id, Member.state == "active")
        .order_by(Member.id)
    ).first()
    notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
    return member, notice, code


def test_a_suspended_member_who_had_accepted_leaves_and_is_told(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed(centre)
        member, notice, code = _first_member(draw.id)
        expert_user = c.expert_user(code)
        notices.answer(expert_user, notice.id, accept=True)
        experts.set_status(code, "suspended", "investigation", centre.users["admin"])
    db.session.refresh(member)
    assert member.state == "replaced" and member.left_reason == "ineligible"
    body = ledger.entry_bodies("draw.replaced", draw.id)[-1]
    assert body["out"] == code and body["reason"] == "ineligible" and body["in"] is not None
    assert db.session.get(Notice, notice.id).status == "withdrawn"
    mine = [n for n in notices.inbox(expert_user) if n["status"] == "accepted"]
    assert mine == []  # nothing left on the expert's schedule


def test_a_declared_conflict_with_a_bidder_takes_the_member_off(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed(centre)
        member, _, code = _first_member(draw.id)
        notices.declare_conflict(c.expert_user(code), centre.bidders[0])
    db.session.refresh(member)
    assert member.state == "replaced" and member.left_reason == "conflict"


def test_an_employer_corrected_to_a_bidder_takes_the_member_off(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed(centre)
        member, _, code = _first_member(draw.id)
        form = asdict(experts.editable(code))
        form["employer_uscc"] = centre.bidders[0]
        assert "employer" in experts.update_expert(code, form, centre.users["admin"])
    db.session.refresh(member)
    assert member.state == "replaced" and member.left_reason == "conflict"


def test_a_change_that_excludes_no_one_replaces_no_one(app):
    """Correcting a name, or suspending after the evaluation ended, leaves the committee."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed(centre)
        member, _, code = _first_member(draw.id)
        form = asdict(experts.editable(code))
        form["name"] = "改名"
        experts.update_expert(code, form, centre.users["admin"])
    with clock.frozen(c.WINDOW + timedelta(hours=9)):
        experts.set_status(code, "suspended", "investigation", centre.users["admin"])
    db.session.refresh(member)
    assert member.state == "active"
    assert ledger.entry_bodies("draw.replaced", draw.id) == []


def test_a_conflict_declared_while_accepting_takes_the_member_off_at_once(app):
    """``conflict_with`` beside an acceptance is a later-found conflict like any other."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed(centre)
        member, notice, code = _first_member(draw.id)
        answer = notices.answer(
            c.expert_user(code), notice.id, accept=True, conflict_with=centre.bidders[1]
        )
    db.session.refresh(member)
    assert member.state == "replaced" and member.left_reason == "conflict"
    assert answer["status"] == "withdrawn"
    assert db.session.get(Notice, notice.id).status == "withdrawn"


def test_a_conflict_declared_while_declining_reaches_the_experts_other_committees(app):
    """Declining one notice for a conflict with a bidder takes the expert off another project
    that bidder is in, as ``POST /conflicts`` would."""
    from expertdraw.services.projects import StratumSpec

    with clock.frozen(c.NOW):
        centre = c.build(technical=7, economic=4, venues=10)
        first = _completed(centre, "P-FIRST")
        member, notice, code = _first_member(first.id)
        other = c.uscc(6)  # another tenderer: the same one would exclude the first draw's members
        spec = c.project_spec(
            centre,
            "P-SECOND",
            tenderer=other,
            window_start=c.WINDOW + timedelta(days=3),
            window_end=c.WINDOW + timedelta(days=3, hours=8),
            strata=[
                StratumSpec("technical", "A0101", "technical", 7, 1),  # every technical expert
                StratumSpec("economic", "C0301", "economic", 2, 1),
            ],
        )
        project = projects.create_project(spec, centre.users["pm"])
        second = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        second = draws.add_witness(second, centre.users["sup1"], "w2")
        seat = db.session.scalar(
            sa.select(Member).where(
                Member.draw_id == second.id, Member.expert_id == member.expert_id
            )
        )
        assert seat is not None and seat.state == "active"
        notices.answer(
            c.expert_user(code),
            notice.id,
            accept=False,
            reason="conflict",
            conflict_with=centre.bidders[2],
        )
    db.session.refresh(member)
    db.session.refresh(seat)
    assert member.state == "replaced" and member.left_reason == "declined"
    assert seat.state == "replaced" and seat.left_reason == "conflict"


def test_only_members_who_stayed_count_for_the_same_tenderer_and_frequency_rules(app):
    """rules.md counts times an expert "was a member": one who declined never sat, so the
    tenderer's next project may draw them; a member who stayed is excluded (same-tenderer)."""
    from expertdraw.services import pool
    from expertdraw.services.projects import strata_request

    with clock.frozen(c.NOW):
        centre = c.build()
        first = _completed(centre, "P-FIRST")
        _, notice, code = _first_member(first.id)
        notices.answer(c.expert_user(code), notice.id, accept=False, reason="ill")
        stayed = db.session.scalars(
            sa.select(Expert.code)
            .join(Member, Member.expert_id == Expert.id)
            .where(Member.draw_id == first.id, Member.state == "active")
        ).all()
        spec = c.project_spec(
            centre,
            "P-NEXT",
            window_start=c.WINDOW + timedelta(days=3),
            window_end=c.WINDOW + timedelta(days=3, hours=8),
        )
        project = projects.create_project(spec, centre.users["pm"])
        built = pool.build_pool(project, strata_request(project), draws.rules(), "P-NEXT")
    candidates = {cand["id"] for s in built.strata for cand in s.candidates}
    assert code in candidates
    assert not candidates & set(stayed)
    assert built.excluded.get("same-tenderer") == len(stayed)


def test_a_suspension_by_import_takes_the_member_off_and_is_on_record(app, tmp_path):
    """An import is recorded and acted on as the admin page is: the suspended member leaves."""
    import csv

    from expertdraw.personal_data import protector
    from expertdraw.services import imports

    from .test_import import EXPERT_HEADER, ID_1

    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed(centre)
        member, _, code = _first_member(draw.id)
        expert = db.session.get(Expert, member.expert_id)
        # The test centre's identity numbers are made up; an import checks their birth date.
        expert.id_number, expert.id_number_hash = ID_1, protector().lookup_hash(ID_1)
        db.session.commit()
        employer = db.session.get(Organisation, expert.employer_id).uscc
        row = [code, expert.name, expert.id_number, expert.phone, expert.home_region, employer,
               expert.title, expert.kind, "suspended", "", "A0101"]  # fmt: skip
        path = tmp_path / "experts.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([EXPERT_HEADER, row])
        assert imports.import_file("experts", path).ok
    db.session.refresh(member)
    assert member.state == "replaced" and member.left_reason == "ineligible"
    records = db.session.execute(
        sa.select(LedgerEntry.record, LedgerEntry.type).order_by(LedgerEntry.seq)
    ).all()
    kinds = [kind for _, kind in records]
    assert "pool.changed" in kinds and kinds.index("pool.changed") < kinds.index("draw.replaced")
