"""A project is judged by one set of rules from registration to the end of its evaluation.

The region rule is the project's own at the draw, at every replacement and re-check and in
the supervisors' explanations; its default is the deployment's setting, and only an admin may
relax it. What changes while a draw awaits its entropy is judged when the draw completes. A
supplementary draw keeps the stale-data limit the main draw keeps.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Alternate, Draw, Expert, Member, Notice, Organisation
from expertdraw.services import draws, experts, export, ledger, notices, pool, projects
from expertdraw.services.errors import Forbidden, ServiceError, TooMany
from expertdraw.services.projects import strata_request
from tests.integration import centre as c
from tests.verifier import run_verifier


def _all_experts_local() -> None:
    """Every expert of the test centre lives in the project's own county (Zhaotong)."""
    db.session.execute(sa.update(Expert).values(home_region="530602"))
    db.session.commit()


def _register(centre: c.Centre, code: str, user: str = "pm", **overrides):
    return projects.create_project(c.project_spec(centre, code, **overrides), centre.users[user])


def _draw(centre: c.Centre, code: str, user: str = "pm", **overrides) -> Draw:
    project = _register(centre, code, user, **overrides)
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    return draws.add_witness(draw, centre.users["sup1"], "w")


def _suspend_alternates(centre: c.Centre, draw: Draw) -> None:
    """The draw's alternates leave the pool (suspended): a place then needs a new draw."""
    for alternate in db.session.scalars(sa.select(Alternate).where(Alternate.draw_id == draw.id)):
        experts.set_status(
            db.session.get(Expert, alternate.expert_id).code,
            "suspended",
            "investigation",
            centre.users["admin"],
        )


def _members(draw_id: str) -> list[tuple[Member, str]]:
    return list(
        db.session.execute(
            sa.select(Member, Expert.code)
            .join(Expert, Expert.id == Member.expert_id)
            .where(Member.draw_id == draw_id)
            .order_by(Member.id)
        ).all()
    )


def _active_codes(draw_id: str) -> list[str]:
    return [code for member, code in _members(draw_id) if member.state == "active"]


def test_a_recheck_judges_region_by_the_projects_own_policy(app):
    """A local committee (region rule ``none``, set by an admin) stays seated when one member
    declares a conflict with an organisation that is no party: the re-check judges the
    region rule as the draw did."""
    with clock.frozen(c.NOW):
        centre = c.build()
        _all_experts_local()
        draw = _draw(centre, "P-LOCAL", user="admin", region_policy="none")
        assert draw.state == "completed"
        seated = _active_codes(draw.id)
        notices.declare_conflict(c.expert_user(seated[0]), c.uscc(6 + 30))
    assert _active_codes(draw.id) == seated
    assert ledger.entry_bodies("draw.replaced", draw.id) == []
    # The announcement says which region rule its candidates were judged by.
    assert ledger.entry_body("draw.announced", draw.id)["region_policy"] == "none"


def test_a_local_alternate_takes_the_place_of_a_local_member(app):
    """At a decline, the alternates of a ``none`` project are judged by its rule: the first
    comes in instead of the place going to a supplementary draw."""
    with clock.frozen(c.NOW):
        centre = c.build()
        _all_experts_local()
        draw = _draw(centre, "P-ALT", user="admin", region_policy="none")
        member, code = _members(draw.id)[0]
        notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
        notices.answer(c.expert_user(code), notice.id, accept=False, reason="ill")
    body = ledger.entry_bodies("draw.replaced", draw.id)[-1]
    assert body["out"] == code and body["in"] is not None, body
    assert not body.get("supplementary") and not body.get("skipped"), body


def test_the_centres_region_policy_is_a_projects_default(app):
    """``[eligibility] region_policy`` decides the draws of projects that name no rule, and
    the project records the rule it was registered under."""
    app.config["ELIGIBILITY_RULES"] = {"region_policy": "none"}
    with clock.frozen(c.NOW):
        centre = c.build()
        _all_experts_local()
        project = _register(centre, "P-CONF")
        assert project.region_policy == "none"
        built = pool.build_pool(project, strata_request(project), draws.rules(), family="X")
    assert "region" not in built.excluded, built.excluded
    assert sum(len(s.ids) for s in built.strata) == 36


def test_without_a_setting_a_project_excludes_its_prefecture(app):
    with clock.frozen(c.NOW):
        centre = c.build()
        _all_experts_local()
        project = _register(centre, "P-DEFAULT")
        built = pool.build_pool(project, strata_request(project), draws.rules(), family="X")
    assert project.region_policy == "exclude-prefecture"
    assert built.excluded == {"region": 36}


def test_only_an_admin_relaxes_the_centres_region_rule(app):
    """A project manager may keep the centre's rule or a stricter one; a looser one is the
    admin's to set, and a manager's correction of such a project keeps it."""
    app.config["ELIGIBILITY_RULES"] = {"region_policy": "exclude-county"}
    with clock.frozen(c.NOW):
        centre = c.build()
        for loose in ("none",):
            try:
                _register(centre, f"P-{loose.upper()}", region_policy=loose)
            except Forbidden as exc:
                assert exc.code == "forbidden:region-policy" and exc.field == "region_policy"
            else:
                raise AssertionError(f"a project manager relaxed the rule to {loose}")
        strict = _register(centre, "P-STRICT", region_policy="exclude-prefecture")
        assert strict.region_policy == "exclude-prefecture"
        relaxed = _register(centre, "P-RELAXED", user="admin", region_policy="none")
        # An admin's project, handed over and corrected by a manager, keeps its rule.
        relaxed.created_by = centre.users["pm"].id
        db.session.commit()
        spec = c.project_spec(centre, "P-RELAXED", name="改名", region_policy="none")
        projects.update_project(relaxed, spec, centre.users["pm"])
        assert relaxed.region_policy == "none" and relaxed.name == "改名"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(projects.Project)) == 2


def test_a_supplementary_draw_keeps_the_stale_data_limit(app):
    """rules.md stale-data: a stratum is drawn only while its stale share is below the limit;
    the supplementary draw a decline calls for is refused like the main draw, and the place
    stays open for the supervisors."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _draw(centre, "P-STALE")
        member, code = _members(draw.id)[0]
        taken = set(
            db.session.scalars(sa.select(Member.expert_id).where(Member.draw_id == draw.id))
        ) | set(
            db.session.scalars(sa.select(Alternate.expert_id).where(Alternate.draw_id == draw.id))
        )
        technical = db.session.scalars(
            sa.select(Expert.id).where(Expert.kind == "technical").order_by(Expert.id)
        ).all()
        others = [e for e in technical if e not in taken]
        db.session.execute(
            sa.update(Expert)
            .where(Expert.id.in_(others[: len(others) // 2 + 1]))
            .values(data_confirmed_on=None)
        )
        db.session.commit()
        verdict = draws.dry_run(_register(centre, "P-STALE2"))
        assert verdict.reason == "stale-data:share:technical", verdict
        notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
        # The two technical alternates leave first, so that the place needs a new draw.
        _suspend_alternates(centre, draw)
        notices.answer(c.expert_user(code), notice.id, accept=False, reason="ill")
    body = ledger.entry_bodies("draw.replaced", draw.id)[-1]
    assert body["out"] == code and body["in"] is None, body
    assert db.session.scalars(sa.select(Draw.id).where(Draw.root_id == draw.id)).all() == []


def test_a_members_explanation_sets_aside_the_draws_own_seat(app):
    """Asked about a member right after the draw, the explanation does not cite the seat and
    the membership the draw itself gave (``busy``, ``same-tenderer``); it names the draw."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _draw(centre, "P-WHY")
        member, _code = _members(draw.id)[0]
        project = projects.get_project("P-WHY")
        expert = db.session.get(Expert, member.expert_id)
        why = pool.explain_expert(project, expert, draws.rules())
        # The same expert for another project of the same tenderer, in the same window, is
        # busy and has sat for that tenderer.
        other = pool.explain_expert(_register(centre, "P-OTHER"), expert, draws.rules())
    assert why == {
        "expert": expert.code,
        "project": "P-WHY",
        "eligible": True,
        "reasons": [],
        "draw": draw.id,
    }
    assert other["draw"] is None and {"busy", "same-tenderer"} <= set(other["reasons"])


def test_an_expert_suspended_while_the_draw_awaits_its_entropy_is_replaced(app):
    """rules.md: a later-found exclusion replaces the member; a suspension between the
    announcement and the entropy is judged when the draw completes."""
    with clock.frozen(c.NOW):
        centre = c.build()
        project = _register(centre, "P-GAP")
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        economic = db.session.scalars(sa.select(Expert.code).where(Expert.kind == "economic"))
        suspended = set(economic.all()[:6])
        for code in suspended:
            experts.set_status(code, "suspended", "investigation", centre.users["admin"])
        draws.add_witness(draw, centre.users["sup1"], "w")
    completed = ledger.entry_body("draw.completed", draw.id)
    drawn = {m["expert"] for m in completed["members"]}
    active = set(_active_codes(draw.id))
    assert not active & suspended
    for body in ledger.entry_bodies("draw.replaced", draw.id):
        assert body["out"] in drawn & suspended and body["reason"] == "ineligible", body
    assert {b["out"] for b in ledger.entry_bodies("draw.replaced", draw.id)} == drawn & suspended


def test_a_bidder_added_while_the_draw_awaits_its_entropy_is_checked_at_completion(app):
    """A bidder added (by a supervisor, with a reason) while the draw waits for its witness:
    the bidder's employees drawn are replaced as a conflict when the draw completes."""
    with clock.frozen(c.NOW):
        centre = c.build()
        economic = db.session.scalars(sa.select(Expert).where(Expert.kind == "economic")).all()
        employer = economic[0].employer_id
        for expert in economic:  # every economic expert works for one firm
            expert.employer_id = employer
        db.session.commit()
        firm = db.session.get(Organisation, employer).uscc
        project = _register(centre, "P-BID", max_per_group=1)
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        projects.add_bidder_and_recheck(project, firm, centre.users["sup1"], "late bid accepted")
        draws.add_witness(draw, centre.users["sup1"], "w")
    staff = {e.code for e in economic}
    assert not set(_active_codes(draw.id)) & staff
    replaced = ledger.entry_bodies("draw.replaced", draw.id)
    assert [(b["reason"], b["out"] in staff) for b in replaced] == [("conflict", True)]


FIVE_NO_ALTERNATES = [projects.StratumSpec("technical", "A0101", "technical", 5, 0)]


@pytest.mark.parametrize("other_process", [False, True])
def test_a_supplementary_draws_completion_judges_its_newcomers(app, tmp_path, other_process):
    """A candidate of ``D-R1`` suspended while ``D-R1`` awaits its witness is replaced when
    ``D-R1`` completes, whichever process completes it; the bundle still verifies."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _draw(centre, "P-SUB", strata=FIVE_NO_ALTERNATES)
        member, code = _members(draw.id)[0]
        notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
        notices.answer(c.expert_user(code), notice.id, accept=False, reason="ill")
        sub = draws.get_draw(f"{draw.id}-R1")
        assert sub.state == "announced"
        offered = {c["id"] for s in draws.snapshot_of(sub.id)["strata"] for c in s["candidates"]}
        for expert in offered:
            experts.set_status(expert, "suspended", "investigation", centre.users["admin"])
        if other_process:
            draws._ANNOUNCED.clear()
        draws.add_witness(draws.get_draw(sub.id), centre.users["sup1"], "b")
    assert not set(_active_codes(draw.id)) & offered
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--replay", "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_member_replaced_meanwhile_does_not_fail_the_completion(app, monkeypatch):
    """The completion is committed before its re-check: a member another request replaced
    meanwhile is passed over, the others are still judged, and the completion answers."""
    from expertdraw.services import replacements

    with clock.frozen(c.NOW):
        centre = c.build()
        project = _register(centre, "P-RACE")
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        snapshot = draws.snapshot_of(draw.id)
        for stratum in snapshot["strata"]:
            for candidate in stratum["candidates"]:
                experts.set_status(
                    candidate["id"], "suspended", "investigation", centre.users["admin"]
                )
        real, calls = replacements.replace_member, []

        def replaced_first_elsewhere(member, reason, actor, now=None):
            calls.append(member.id)
            if len(calls) == 1:
                real(member, "conflict", dict(ledger.SYSTEM), now)  # "another request"
            return real(member, reason, actor, now)

        monkeypatch.setattr(replacements, "replace_member", replaced_first_elsewhere)
        completed = draws.add_witness(draw, centre.users["sup1"], "w")
    assert completed.state == "completed"
    assert len(calls) == 5 and _active_codes(draw.id) == []


def test_a_managers_refused_request_names_the_rule_not_the_counts(app):
    """The refusal of a request the pool cannot meet would tell a manager how many experts
    other committees hold (the dry run leaves them out): it names the rule only, and after
    five refusals in a day the manager's requests wait (429)."""
    big = [projects.StratumSpec("technical", "A0101", "technical", 21, 1)]
    with clock.frozen(c.NOW):
        centre = c.build()
        _draw(centre, "P-SEATED")  # a committee in the same window
        project = _register(centre, "P-BIG", strata=big)
        for _attempt in range(draws.REFUSALS_PER_DAY):
            with pytest.raises(ServiceError) as refused:
                draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
            assert refused.value.code == "infeasible:candidates:technical"
            assert str(refused.value).endswith("infeasible:candidates:technical")
        with pytest.raises(TooMany) as waiting:
            draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        assert waiting.value.code == "rate-limited:draw-requests"
        assert 0 < int(waiting.value.headers["Retry-After"]) <= 86400
        # An admin's request is told the counts, and is not limited.
        with pytest.raises(ServiceError) as told:
            draws.announce(project, centre.users["admin"], {"kind": "witness", "witnesses": 1})
        assert "candidates for 21 members" in str(told.value)
    assert db.session.scalars(sa.select(Draw.id).where(Draw.project_id == project.id)).all() == []


def test_a_lottery_source_names_its_issue_and_date(app):
    """draw.md §3.1: a source is "a description and a date"; an issue number beside a date
    is no identity number."""
    sources = ["福利彩票 双色球 2026138 2027-02-21", "超级大乐透 26021 2027-02-21 21:30"]
    with clock.frozen(c.NOW):
        centre = c.build()
        project = _register(centre, "P-LOTTO")
        draw = draws.announce(
            project, centre.users["pm"], {"kind": "public-lottery", "sources": sources}
        )
    assert ledger.entry_body("draw.announced", draw.id)["entropy"]["sources"] == sources


def test_an_immediate_draw_is_rechecked_only_when_something_changed(app, monkeypatch):
    """A draw completed in the request that announced it skips the re-check's dozen
    statements when no change was recorded since its pool was read; a suspension committed
    in between (another request's) is judged all the same."""
    with clock.frozen(c.NOW):
        centre = c.build()
        quiet = _register(centre, "P-QUIET", user="admin", allow_no_entropy=True)
        draw = draws.announce(quiet, centre.users["pm"], {"kind": "none"})
        assert draws.needs_recheck(draw) is False
        busy = _register(centre, "P-BUSY", user="admin", allow_no_entropy=True)
        real = pool.build_pool
        suspended: list[str] = []

        def built_then_suspended(*args, **kwargs):
            built = real(*args, **kwargs)
            if not suspended:  # "another request" suspends the economic candidates
                for code in built.strata[1].ids:
                    experts.set_status(code, "suspended", "investigation", centre.users["admin"])
                    suspended.append(code)
            return built

        monkeypatch.setattr(pool, "build_pool", built_then_suspended)
        draw = draws.announce(busy, centre.users["pm"], {"kind": "none"})
        assert draws.needs_recheck(draw) is True
        draws.complete(draw, "", centre.users["pm"], recheck=draws.needs_recheck(draw))
    assert suspended and not set(_active_codes(draw.id)) & set(suspended)
    assert {b["reason"] for b in ledger.entry_bodies("draw.replaced", draw.id)} == {"ineligible"}


def test_each_announcement_records_its_strata_stale_share_and_the_limit(app):
    """rules.md stale-data: "a draw may proceed only if the stale share of the stratum is
    below a set limit, and the announcement records it": each stratum's share and the limit
    are in draw.announced, of the main draw and of a supplementary draw (its open strata)."""
    with clock.frozen(c.NOW):
        centre = c.build()  # 24 technical experts, 12 economic
        db.session.execute(
            sa.update(Expert)
            .where(Expert.code.in_(["E0000001", "E0000002"]))
            .values(data_confirmed_on=None)
        )
        db.session.commit()
        draw = _draw(centre, "P-SHARE")
        body = ledger.entry_body("draw.announced", draw.id)
        assert body["stale_share"] == {"technical": "1/12", "economic": "0/1"}
        assert body["stale_share_limit"] == "1/5"
        member, code = next((m, code) for m, code in _members(draw.id) if m.stratum == "technical")
        _suspend_alternates(centre, draw)
        notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
        notices.answer(c.expert_user(code), notice.id, accept=False, reason="ill")
    sub = db.session.scalar(sa.select(Draw.id).where(Draw.root_id == draw.id))
    assert sub is not None
    body = ledger.entry_body("draw.announced", sub)
    assert set(body["stale_share"]) == {"technical"}
    assert body["stale_share_limit"] == "1/5"
