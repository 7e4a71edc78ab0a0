"""Open places of a committee (draw.md §6.4): one supplementary draw at a time fills them, and
a leaver always leaves, even when no one can take the place. On both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, Expert, Member, Notice, Organisation, Project
from expertdraw.services import draws, export, ledger, notices, projects, sealed
from tests.verifier import run_verifier

from . import centre as c

FIVE_NO_ALTERNATES = [projects.StratumSpec("technical", "A0101", "technical", 5, 0)]


def _pending(draw_id: str) -> list[tuple[str, str]]:
    """``(notice id, expert code)`` of the draw's pending notices, in member order."""
    rows = db.session.execute(
        sa.select(Notice.id, Expert.code)
        .join(Expert, Expert.id == Notice.expert_id)
        .where(Notice.draw_id == draw_id, Notice.status == "pending")
        .order_by(Notice.member_id)
    )
    return [(notice, code) for notice, code in rows]


def _decline(draw_id: str) -> str:
    notice, code = _pending(draw_id)[0]
    notices.answer(c.expert_user(code), notice, accept=False, reason="ill")
    return code


def _active(draw_id: str) -> list[Member]:
    return list(
        db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw_id, Member.state == "active")
        )
    )


def _completed_draw(centre: c.Centre, code: str, **overrides) -> Draw:
    """A project's draw witnessed by one supervisor; five technical members, no alternate,
    unless ``overrides`` say otherwise."""
    spec = c.project_spec(centre, code, **{"strata": FIVE_NO_ALTERNATES, **overrides})
    project = projects.create_project(spec, centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    return draws.add_witness(draw, centre.users["sup1"], "a")


def test_a_second_leaver_supersedes_the_waiting_supplementary_draw(app, tmp_path):
    """Two members leave while D-R1 waits for its witness: D-R1 fails as superseded and D-R2
    fills both places; the committee ends with five members in five venues, and replays."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed_draw(centre, "P-OPEN")
        first = _decline(draw.id)
        r1 = draws.get_draw(f"{draw.id}-R1")
        assert r1.state == "announced"
        assert draws.snapshot_of(r1.id)["strata"][0]["count"] == 1
        second = _decline(draw.id)
        assert draws.get_draw(r1.id).state == "failed"
        assert ledger.entry_body("draw.failed", r1.id)["reason"] == "superseded"
        r2 = draws.get_draw(f"{draw.id}-R2")
        assert r2.state == "announced"
        assert draws.snapshot_of(r2.id)["strata"][0]["count"] == 2
        with pytest.raises(Exception):  # noqa: B017 - a failed draw takes no witness
            draws.add_witness(draws.get_draw(r1.id), centre.users["sup1"], "late")
        db.session.rollback()
        draws.add_witness(draws.get_draw(r2.id), centre.users["sup1"], "b")
    members = _active(draw.id)
    codes = db.session.scalars(
        sa.select(Expert.code).where(Expert.id.in_([m.expert_id for m in members]))
    ).all()
    assert len(members) == 5 and first not in codes and second not in codes
    assert len({m.venue_id for m in members}) == 5  # separation: venue
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--replay", "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_replacement_by_an_alternate_also_retries_the_waiting_supplementary_draw(app):
    """D-R1 waits for the first leaver's place; a second leaver is replaced by an alternate,
    whose seat D-R1's snapshot could not know of: D-R1 gives way to D-R2 for the open place."""
    with clock.frozen(c.NOW):
        centre = c.build()
        strata = [projects.StratumSpec("technical", "A0101", "technical", 4, 1)]
        strata.append(projects.StratumSpec("economic", "C0301", "economic", 1, 0))
        spec = c.project_spec(centre, "P-ALT", strata=strata)
        project = projects.create_project(spec, centre.users["pm"])
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        draws.add_witness(draw, centre.users["sup1"], "a")
        economic = db.session.scalar(
            sa.select(Notice.id)
            .join(Member, Member.id == Notice.member_id)
            .where(Notice.draw_id == draw.id, Member.stratum == "economic")
        )
        code = next(code for notice, code in _pending(draw.id) if notice == economic)
        notices.answer(c.expert_user(code), economic, accept=False, reason="ill")
        assert draws.get_draw(f"{draw.id}-R1").state == "announced"
        technical = next(notice for notice, _ in _pending(draw.id) if notice != economic)
        leaver = dict(_pending(draw.id))[technical]
        notices.answer(c.expert_user(leaver), technical, accept=False, reason="ill")
        body = ledger.entry_bodies("draw.replaced", draw.id)[-1]
        assert body["in"] is not None and "supplementary" not in body
        assert draws.get_draw(f"{draw.id}-R1").state == "failed"
        r2 = draws.get_draw(f"{draw.id}-R2")
        snapshot = draws.snapshot_of(r2.id)
        assert [(s["name"], s["count"]) for s in snapshot["strata"]] == [("economic", 1)]
        seated_rooms = {m.room_id for m in _active(draw.id)}
        offered = {r["id"] for v in snapshot["venues"] for r in v["rooms"]}
        assert not seated_rooms & offered  # the alternate's room included
        draws.add_witness(r2, centre.users["sup1"], "b")
    assert len(_active(draw.id)) == 5
    assert len({m.venue_id for m in _active(draw.id)}) == 5


def test_a_leaver_leaves_even_when_no_supplementary_draw_can_be_met(app, caplog):
    """Exactly five technical experts and no alternate: the decline is recorded, the seat
    released, the draw.replaced names D-R1, which is not announced (infeasible); the place
    stays open, and it is logged for the supervisors."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        draw = _completed_draw(centre, "P-SHORT")
        leaver = _decline(draw.id)
    body = ledger.entry_bodies("draw.replaced", draw.id)[-1]
    assert body["out"] == leaver and body["in"] is None
    assert body["supplementary"] == f"{draw.id}-R1"
    assert db.session.get(Draw, f"{draw.id}-R1") is None
    assert len(_active(draw.id)) == 4
    assert db.session.scalar(
        sa.select(Notice.status).join(Expert).where(Expert.code == leaver)
    ) == ("declined")
    logged = [r.getMessage() for r in caplog.records if "replacement.open_place" in r.getMessage()]
    assert logged and "infeasible:" in logged[0] and f"{draw.id}-R1" in logged[0]


def test_timeouts_go_on_past_a_place_no_one_can_take(app):
    """The timeout job records every overdue notice, of every project, although the first
    committee's places cannot be filled."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        short = _completed_draw(centre, "P-SHORT")
    start = c.WINDOW + timedelta(days=3)
    with clock.frozen(c.NOW + timedelta(minutes=5)):
        other = _completed_draw(
            centre,
            "P-OTHER",
            strata=[projects.StratumSpec("economic", "C0301", "economic", 5, 1)],
            window_start=start,
            window_end=start + timedelta(hours=8),
        )
    later = c.NOW + timedelta(days=2)
    with clock.frozen(later):
        assert notices.expire_overdue(later) == 10
    overdue = sa.select(sa.func.count()).where(Notice.status == "pending", Notice.due_at <= later)
    assert db.session.scalar(overdue) == 0  # only the alternate's new notice is pending
    assert len(ledger.entry_bodies("draw.replaced", short.id)) == 5
    assert len(ledger.entry_bodies("notice.answered", other.id)) == 5  # the other project's
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Project)) == 2


def test_a_late_bidder_replaces_its_employee_even_with_no_one_to_take_the_place(app):
    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        draw = _completed_draw(centre, "P-BID")
        member = _active(draw.id)[0]
        employer = db.session.get(
            Organisation, db.session.get(Expert, member.expert_id).employer_id
        )
        project = db.session.get(Project, draw.project_id)
        _, replaced = projects.add_bidder_and_recheck(
            project, employer.uscc, centre.users["sup1"], "a late bidder"
        )
    assert replaced == 1
    assert db.session.get(Member, member.id).state == "replaced"
    body = ledger.entry_bodies("draw.replaced", draw.id)[-1]
    assert body["out"] == db.session.get(Expert, member.expert_id).code


def test_a_refused_timeout_is_left_for_the_next_run_and_holds_up_no_other(app, monkeypatch, caplog):
    """Fault injection: the first replacement the job asks for is refused. That notice stays
    pending with nothing written for it, and every other overdue notice times out."""
    from expertdraw.services import replacements
    from expertdraw.services.errors import ServiceError

    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed_draw(centre, "P-FAULT")
    real, refused = replacements.replace_member, []

    def refuse_first(member, *args, **kwargs):
        if not refused:
            refused.append(member.id)
            raise ServiceError("invalid:replacement", "injected")
        return real(member, *args, **kwargs)

    monkeypatch.setattr(replacements, "replace_member", refuse_first)
    later = c.NOW + timedelta(days=2)
    with clock.frozen(later):
        assert notices.expire_overdue(later) == 4
    left = db.session.scalars(sa.select(Notice).where(Notice.status == "pending")).all()
    assert [n.member_id for n in left if n.due_at <= later] == refused
    answered = ledger.entry_bodies("notice.answered", draw.id)
    assert len(answered) == 4 and left[0].id not in {b["notice"] for b in answered}
    assert any("notice.timeout_refused" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("configured", [None, 1])
def test_a_supplementary_draw_that_times_out_is_retried_until_the_limit(app, caplog, configured):
    """draw.md §6.4: a failed supplementary draw is retried as the next D-R<n>. Its witnesses
    never come: D-R1 and its retries (3 by default, or as the settings say) time out, then the
    place is left open (logged)."""
    retries = 3 if configured is None else configured
    if configured is not None:
        app.config["SUPPLEMENTARY_RETRIES"] = configured
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed_draw(centre, "P-RETRY")
        _decline(draw.id)
    when = c.NOW
    for n in range(1, retries + 2):
        sub = draws.get_draw(f"{draw.id}-R{n}")
        assert sub.state == "announced" and draws.snapshot_of(sub.id)["strata"][0]["count"] == 1
        when = sub.deadline_at
        with clock.frozen(when):
            assert draws.fail_stale(when) == 1
        assert draws.get_draw(sub.id).state == "failed"
    last = retries + 2
    assert db.session.get(Draw, f"{draw.id}-R{last}") is None
    logged = [r.getMessage() for r in caplog.records if "replacement.open_place" in r.getMessage()]
    assert logged and "error=retries" in logged[-1] and f"{draw.id}-R{last}" in logged[-1]
    assert len(_active(draw.id)) == 4


def test_a_retried_supplementary_draw_fills_the_place(app, tmp_path):
    """D-R1 is cancelled; D-R2, announced in its place, completes; the bundle replays."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed_draw(centre, "P-RETRIED")
        _decline(draw.id)
        draws.fail(draws.get_draw(f"{draw.id}-R1"), "cancelled", centre.users["sup1"])
        r2 = draws.get_draw(f"{draw.id}-R2")
        assert r2.state == "announced"
        draws.add_witness(r2, centre.users["sup1"], "b")
    assert draws.get_draw(r2.id).state == "completed"
    assert len(_active(draw.id)) == 5
    export.write_bundle(tmp_path / "bundle")
    verdict = run_verifier(tmp_path / "bundle", "--replay", "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_progress_counts_the_open_places_and_the_draw_waiting_for_them(app):
    """Counts only, for whoever may follow the draw: an open place and its waiting D-R1."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _completed_draw(centre, "P-PROGRESS")
        assert sealed.progress(draw)["open_places"] == 0
        _decline(draw.id)
    waiting = sealed.progress(draws.get_draw(draw.id))
    assert waiting["open_places"] == 1 and waiting["members"] == 4
    assert waiting["waiting_supplementary"] == f"{draw.id}-R1"
    assert sealed.progress(draws.get_draw(f"{draw.id}-R1"))["open_places"] == 1


def test_progress_shows_open_places_that_nothing_waits_to_fill(app):
    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        draw = _completed_draw(centre, "P-UNFILLED")
        _decline(draw.id)
        _decline(draw.id)
    counts = sealed.progress(draws.get_draw(draw.id))
    assert counts["open_places"] == 2 and counts["waiting_supplementary"] is None


def test_a_replacement_seats_no_one_on_a_place_out_of_service(app, tmp_path):
    """Every workstation no staying member holds is taken out of service (the leaver's too):
    the alternate finds no seat, the body lists them as unavailable and names it unseated,
    and the place stays open; the bundle replays."""
    from expertdraw.models import Workstation
    from expertdraw.services import places

    with clock.frozen(c.NOW):
        centre = c.build()
        strata = [projects.StratumSpec("technical", "A0101", "technical", 5, 1)]
        draw = _completed_draw(centre, "P-SERVICE", strata=strata)
        notice, leaver = _pending(draw.id)[0]
        staying = {m.workstation_id for m in _active(draw.id)} - {
            db.session.scalar(
                sa.select(Member.workstation_id).join(Notice).where(Notice.id == notice)
            )
        }
        for ws in db.session.scalars(sa.select(Workstation.id)).all():
            if ws not in staying:
                places.set_in_service("workstation", ws, False)
        notices.answer(c.expert_user(leaver), notice, accept=False, reason="ill")
    body = ledger.entry_bodies("draw.replaced", draw.id)[-1]
    alternate = ledger.entry_body("draw.completed", draw.id)["alternates"][0]["experts"][0]
    assert body["in"] is None and body["unseated"] == alternate
    assert body["supplementary"] is None
    assert not staying & set(body["unavailable"]) and len(body["unavailable"]) >= 1
    assert sealed.progress(draws.get_draw(draw.id))["open_places"] == 1
    export.write_bundle(tmp_path / "bundle")
    verdict = run_verifier(tmp_path / "bundle", "--replay", "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_supervisor_fills_open_places_once_the_pool_can(app):
    """The pool could not fill the place, so D-R1 was named and not announced. A supervisor's
    request is refused while the pool still cannot; once an expert joins it, D-R1 is announced
    through the API and fills the place, and a second request finds nothing open."""
    from expertdraw.services import auth as auth_service

    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        draw = _completed_draw(centre, "P-FILL")
        _decline(draw.id)
    _, token = auth_service.issue_token(centre.users["sup1"], label="fill")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/draws/{draw.id}/supplementary"
    with clock.frozen(c.NOW + timedelta(minutes=5)):
        refused = api.post(path, headers=headers)
        assert refused.status_code == 422
        assert refused.get_json()["code"].startswith("infeasible:")
        assert db.session.get(Draw, f"{draw.id}-R1") is None
        newcomer = c.add_technical_expert(1)
        announced = api.post(path, headers=headers)
        assert announced.status_code == 201, announced.get_json()
        assert announced.get_json()["id"] == f"{draw.id}-R1"  # the id the replacement named
        waiting = api.post(path, headers=headers)
        assert (waiting.status_code, waiting.get_json()["code"]) == (409, "conflict:supplementary")
        draws.add_witness(draws.get_draw(f"{draw.id}-R1"), centre.users["sup1"], "b")
    members = _active(draw.id)
    assert len(members) == 5
    assert (
        newcomer
        in db.session.scalars(
            sa.select(Expert.code).where(Expert.id.in_([m.expert_id for m in members]))
        ).all()
    )
    with clock.frozen(c.NOW + timedelta(minutes=10)):
        nothing = api.post(path, headers=headers)
    assert (nothing.status_code, nothing.get_json()["code"]) == (422, "invalid:supplementary")


def test_supplementary_draws_take_no_alternates_so_every_eligible_expert_is_asked(app):
    """Alternates of a ``D-R<n>`` would never be asked (draw.md §6.1 replaces from ``D``'s
    own) yet would be left out of every later ``D-R<k>``: with nine technical experts, four
    declines in turn are filled by four supplementary draws, asking all nine."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=9, economic=2)
        draw = _completed_draw(centre, "P-ASK-ALL")
        for n in range(1, 5):
            _decline(draw.id)
            sub = draws.get_draw(f"{draw.id}-R{n}")
            assert draws.snapshot_of(sub.id)["strata"][0]["alternates"] == 0
            draws.add_witness(sub, centre.users["sup1"], f"w{n}")
            assert draws.get_draw(sub.id).state == "completed"
    assert len(_active(draw.id)) == 5
    asked = db.session.scalars(
        sa.select(sa.func.count(sa.distinct(Notice.expert_id))).where(Notice.draw_id == draw.id)
    ).one()
    assert asked == 9
