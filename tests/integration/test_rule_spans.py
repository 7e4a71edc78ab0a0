"""``frequency`` and ``same-tenderer`` count the evaluations a member sits on, within their
spans of the new window, before or after it, whenever the committees were drawn.

A draw may be made weeks before its window, and committees are drawn in no set order; dated
by the draw, or counting only earlier evaluations, the two rules would let an expert sit for
the same tenderer twice in 90 days, or five times in 30, depending on when the draws were
made (rules.md: "was a member for the same tenderer within the last N days", "already a
member N times in the last 30 days").
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, Organisation
from expertdraw.services import draws, pool, projects
from expertdraw.services.projects import StratumSpec, strata_request
from tests.integration import centre as c

STRATA = [
    StratumSpec("technical", "A0101", "technical", 4, 0),
    StratumSpec("economic", "C0301", "economic", 1, 0),
]


def _register(centre: c.Centre, code: str, days: int, **overrides):
    """A project of the test centre evaluated ``days`` after ``c.WINDOW``."""
    start = c.WINDOW + timedelta(days=days)
    spec = c.project_spec(
        centre, code, window_start=start, window_end=start + timedelta(hours=8), **overrides
    )
    return projects.create_project(spec, centre.users["pm"])


def _draw(centre: c.Centre, code: str, days: int, **overrides) -> set[str]:
    """The codes of the members of a completed draw of a new project (``_register``)."""
    project = _register(centre, code, days, **overrides)
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draw = draws.add_witness(draw, centre.users["sup1"], "w")
    assert draw.state == "completed", draw.reason
    return set(
        db.session.scalars(
            sa.select(Expert.code)
            .join(Member, Member.expert_id == Expert.id)
            .where(Member.draw_id == draw.id, Member.state == "active")
        )
    )


def _reasons(project, codes: set[str]) -> dict[str, list[str]]:
    experts = db.session.scalars(sa.select(Expert).where(Expert.code.in_(codes)))
    return {e.code: pool.explain_expert(project, e, draws.rules())["reasons"] for e in experts}


def _candidates(project) -> set[str]:
    built = pool.build_pool(project, strata_request(project), draws.rules(), "F")
    return {c["id"] for s in built.strata for c in s.candidates}


def _tenderers(n: int) -> list[str]:
    orgs = [
        Organisation(uscc=c.uscc(700 + i), name=f"招标人{i}", kind="tenderer") for i in range(n)
    ]
    db.session.add_all(orgs)
    db.session.commit()
    return [o.uscc for o in orgs]


def test_same_tenderer_counts_an_evaluation_within_90_days_drawn_long_before(app):
    """Drawn today for an evaluation in 9 days, the members are left out of the tenderer's
    next project evaluated 85 days later, though its draw comes more than 90 days after
    theirs would be counted from; 91 days later they are back."""
    with clock.frozen(c.NOW):
        centre = c.build()
        members = _draw(centre, "P-FIRST", 0)
        second = _register(centre, "P-SECOND", 85)
        third = _register(centre, "P-THIRD", 91)
        assert all("same-tenderer" in r for r in _reasons(second, members).values())
        assert not members & _candidates(second)
        assert not any("same-tenderer" in r for r in _reasons(third, members).values())
        assert members <= _candidates(third) | _busy_or_other(third, members)


def _busy_or_other(project, codes: set[str]) -> set[str]:
    """Of ``codes``, those some rule other than the two of this file leaves out."""
    return {code for code, r in _reasons(project, codes).items() if r}


def test_same_tenderer_counts_a_later_evaluation_drawn_first(app):
    """The tenderer's later evaluation is drawn first: its members are left out of the
    earlier one, 60 days before it, drawn afterwards."""
    with clock.frozen(c.NOW):
        centre = c.build()
        members = _draw(centre, "P-LATER", 60)
        earlier = _register(centre, "P-EARLIER", 0)
        assert all("same-tenderer" in r for r in _reasons(earlier, members).values())
        assert not members & _candidates(earlier)


def test_frequency_counts_evaluations_drawn_weeks_before_and_after(app):
    """Four technical experts sit on four committees drawn today, evaluated on four
    consecutive days from the window on (each for its own tenderer, so same-tenderer stays
    out of the way). A project evaluated 25 days after the first, or 5 days before it, has
    them four times within 30 days: frequency. One evaluated 34 days after the last does not."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=4, economic=4)
        tenderers = _tenderers(7)
        technical = {f"E{n:07d}" for n in range(1, 5)}
        for day in range(4):
            members = _draw(centre, f"P-F{day}", day, tenderer=tenderers[day], strata=STRATA)
            assert technical <= members
        for n, days in ((4, 25), (5, -5)):
            project = _register(centre, f"P-N{n}", days, tenderer=tenderers[n], strata=STRATA)
            assert all("frequency" in r for r in _reasons(project, technical).values())
            assert not technical & _candidates(project)
        free = _register(centre, "P-FREE", 3 + 31, tenderer=tenderers[6], strata=STRATA)
        assert not any("frequency" in r for r in _reasons(free, technical).values())
