"""A supplementary draw keeps the whole committee within ``max_per_group`` (rules.md: "at most
max_per_group member per employer"). Its own walk counts only its own members against the
limit, so with ``max_per_group`` 2, one member of employer G staying and two places open, it
could take two more of G: the service leaves out as ``group-full`` every group with room for
fewer than the open places, and the verifier, rebuilding the snapshot by draw.md §6.4, finds
the service's candidates among its own."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, Expert, Member, Notice
from expertdraw.services import draws, export, ledger, notices, projects
from tests.verifier import run_verifier

from . import centre as c


def _active(draw_id: str) -> list[Member]:
    return list(
        db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw_id, Member.state == "active")
        )
    )


def _decline_one(draw_id: str, keep: int) -> None:
    """Decline the first pending notice whose member is not expert ``keep``."""
    notice, code = db.session.execute(
        sa.select(Notice.id, Expert.code)
        .join(Expert, Expert.id == Notice.expert_id)
        .where(Notice.draw_id == draw_id, Notice.status == "pending", Expert.id != keep)
        .order_by(Notice.member_id)
        .limit(1)
    ).one()
    notices.answer(c.expert_user(code), notice, accept=False, reason="ill")


def _two_per_group(code: str) -> tuple[c.Centre, Draw, Member, int]:
    """A completed committee of five technical members, no alternates, at most two per
    employer; one member who stays, and their employer's id."""
    centre = c.build(technical=5)
    spec = c.project_spec(
        centre,
        code,
        strata=[projects.StratumSpec("technical", "A0101", "technical", 5, 0)],
        max_per_group=2,
    )
    project = projects.create_project(spec, centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draw = draws.add_witness(draw, centre.users["sup1"], "a")
    staying = _active(draw.id)[0]
    return centre, draw, staying, db.session.get(Expert, staying.expert_id).employer_id


def test_a_supplementary_draw_keeps_the_committee_within_max_per_group(app, tmp_path):
    with clock.frozen(c.NOW):
        centre, draw, staying, employer = _two_per_group("P-GROUP")
        # The first leaver's place: nobody is left in the pool, D-R1 cannot be announced.
        _decline_one(draw.id, keep=staying.expert_id)
        # Four experts join the pool: two employed by the staying member's employer, two each
        # by an employer of their own.
        for n in (1, 2, 3, 4):
            code = c.add_technical_expert(n)
            if n <= 2:
                joined = db.session.scalar(sa.select(Expert).where(Expert.code == code))
                joined.employer_id = employer
        db.session.commit()
        # The second leaver: D-R2 is drawn for the two open places.
        _decline_one(draw.id, keep=staying.expert_id)
        sub = draws.get_draw(f"{draw.id}-R2")
        assert sub.state == "announced"
        draws.add_witness(sub, centre.users["sup1"], "b")
    assert ledger.entry_body("draw.announced", sub.id)["excluded"]["group-full"] == 2
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--replay")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    members = _active(draw.id)
    employers = Counter(db.session.get(Expert, m.expert_id).employer_id for m in members)
    assert len(members) == 5
    assert max(employers.values()) <= 2, (
        f"employer {employer} has {employers[employer]} members, max_per_group is 2"
    )


def test_a_group_with_room_for_one_still_fills_one_of_two_places(app):
    """G has room for one and one candidate, beside a candidate of another employer: both
    are offered and both places filled (G left out whole, a place stayed open)."""
    with clock.frozen(c.NOW):
        centre, draw, staying, employer = _two_per_group("P-ROOM1")
        _decline_one(draw.id, keep=staying.expert_id)  # nobody left: D-R1 not announced
        # Two experts join: one employed by the staying member's employer (it has room for
        # one more: 1 of max 2), one by an employer of their own.
        for n in (1, 2):
            code = c.add_technical_expert(n)
            if n == 1:
                joined = db.session.scalar(sa.select(Expert).where(Expert.code == code))
                joined.employer_id = employer
        db.session.commit()
        _decline_one(draw.id, keep=staying.expert_id)  # two places open now
        sub = db.session.get(Draw, f"{draw.id}-R2")  # a group with room for one is kept
        assert sub is not None and sub.state == "announced", (
            "D-R2 not announced although one expert of the staying member's employer and one "
            "other fill the two places within max_per_group 2"
        )
        draws.add_witness(sub, centre.users["sup1"], "b")
        members = _active(draw.id)
        employers = Counter(db.session.get(Expert, m.expert_id).employer_id for m in members)
    assert len(members) == 5
    assert max(employers.values()) <= 2
