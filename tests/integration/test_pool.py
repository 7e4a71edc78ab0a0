"""The pool the database narrows equals the pool the domain rules give on every expert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import eligibility as el
from expertdraw.extensions import db
from expertdraw.models import Expert, ExpertSpecialty, Organisation, Project, ProjectBidder, Stratum
from expertdraw.services import draws, pool, seed
from expertdraw.services.projects import strata_request

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def seeded_project(app):
    seed.seed(with_users=False)
    orgs = db.session.scalars(sa.select(Organisation).order_by(Organisation.id)).all()
    tenderer = next(o for o in orgs if o.kind == "tenderer")
    agency = next(o for o in orgs if o.kind == "agency")
    bidders = [o for o in orgs if o.kind == "bidder"][:6]
    window = NOW + timedelta(days=14)
    project = Project(
        code="P-POOL",
        name="pool",
        tenderer_id=tenderer.id,
        agency_id=agency.id,
        region_code="530602",
        window_start=window,
        window_end=window + timedelta(hours=8),
        created_at=NOW,
    )
    project.strata = [
        Stratum(
            position=0,
            name="technical",
            specialty_code="A01",
            kind="technical",
            count=4,
            alternates=2,
        ),
        Stratum(
            position=1,
            name="economic",
            specialty_code="C03",
            kind="economic",
            count=1,
            alternates=1,
        ),
    ]
    project.bidders = [ProjectBidder(organisation_id=b.id, added_at=NOW) for b in bidders]
    db.session.add(project)
    db.session.commit()
    return project


def _naive(project: Project) -> tuple[list[list[str]], dict[str, int]]:
    """Every expert of each stratum through the domain rules, no database narrowing."""
    rules = draws.rules()
    facts = pool.project_facts(project)
    per_stratum, everyone = [], set()
    for stratum in strata_request(project):
        codes = pool.specialty_codes_under(stratum["specialty"])
        ids = set(
            db.session.scalars(
                sa.select(ExpertSpecialty.expert_id).where(
                    ExpertSpecialty.specialty_code.in_(codes)
                )
            )
        )
        per_stratum.append(ids)
        everyone |= ids
    loaded = pool.load_facts(sorted(everyone), project, facts, rules)
    eligible, counts = el.partition(loaded.values(), facts, rules)
    ok = {f.code for f in eligible}
    code_of = dict(db.session.execute(sa.select(Expert.id, Expert.code)).all())
    return [sorted(code_of[i] for i in ids if code_of[i] in ok) for ids in per_stratum], counts


def test_database_narrowing_gives_exactly_the_domain_result(seeded_project):
    with clock.frozen(NOW):
        built = pool.build_pool(seeded_project, strata_request(seeded_project), draws.rules(), "F")
        expected, counts = _naive(seeded_project)
    assert [[c["id"] for c in s.candidates] for s in built.strata] == expected
    assert built.excluded == counts
    assert {"inactive", "region", "penalty", "stale-data"} <= set(counts)
    assert all(len(s.candidates) > 100 for s in built.strata)


def test_explanation_agrees_with_the_pool(seeded_project):
    with clock.frozen(NOW):
        built = pool.build_pool(seeded_project, strata_request(seeded_project), draws.rules(), "F")
        drawn = {c["id"] for s in built.strata for c in s.candidates}
        experts = db.session.scalars(sa.select(Expert).order_by(Expert.id).limit(60)).all()
        for expert in experts:
            answer = pool.explain_expert(seeded_project, expert, draws.rules())
            if expert.code in drawn:
                assert answer["eligible"], answer
