"""Loading the demo trading centre: idempotent, the article's venues, encrypted personal data."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import (
    Employment,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    Leave,
    Organisation,
    Penalty,
    Region,
    Room,
    Specialty,
    User,
    Venue,
    Workstation,
)
from expertdraw.personal_data import protector
from expertdraw.services import seed, users

SEED_DATA = Path(__file__).resolve().parents[2] / "seed_data"
TABLES = {
    Region: "regions",
    Specialty: "specialties",
    Organisation: "organisations",
    Venue: "venues",
    Room: "rooms",
    Workstation: "workstations",
    Expert: "experts",
    ExpertSpecialty: "expert_specialties",
    Employment: "employments",
    ExpertRelation: "relations",
    Penalty: "penalties",
    Leave: "leaves",
    User: "users",
}


def _csv(name: str) -> list[dict[str, str]]:
    with (SEED_DATA / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _counts() -> dict[str, int]:
    return {
        model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in TABLES
    }


def _zhaotong_rooms_and_workstations() -> tuple[int, int]:
    rooms = db.session.scalar(
        sa.select(sa.func.count(Room.id))
        .join(Venue, Room.venue_id == Venue.id)
        .where(Venue.region_code.like("5306%"))
    )
    workstations = db.session.scalar(
        sa.select(sa.func.count(Workstation.id))
        .join(Room, Workstation.room_id == Room.id)
        .join(Venue, Room.venue_id == Venue.id)
        .where(Venue.region_code.like("5306%"))
    )
    return rooms, workstations


def test_seed_loads_every_csv_row_and_a_second_run_changes_nothing(app):
    first = seed.seed()
    counts = _counts()
    assert counts == {model.__tablename__: len(_csv(name)) for model, name in TABLES.items()}
    assert first.inserted["experts"] == 3000

    second = seed.seed()
    assert set(second.inserted.values()) == {0}
    assert _counts() == counts


def test_seeded_zhaotong_has_the_articles_23_rooms_and_107_workstations(app):
    seed.seed(with_users=False)
    assert _zhaotong_rooms_and_workstations() == (23, 107)
    main = db.session.get(Venue, "V530602")
    assert main.name == "昭通市公共资源交易中心"
    assert main.region_code == "530602"
    assert main.rooms[0].workstations[0].id == "V530602-R01-W01"


def test_seeded_organisation_parents_and_expert_facts_are_linked(app):
    seed.seed(with_users=False)
    by_uscc = {o.uscc: o for o in db.session.scalars(sa.select(Organisation))}
    rows = _csv("organisations")
    with_parent = [r for r in rows if r["parent_uscc"]]
    assert with_parent
    for row in with_parent:
        assert by_uscc[row["uscc"]].parent_id == by_uscc[row["parent_uscc"]].id
    first = _csv("experts")[2]
    expert = db.session.scalars(sa.select(Expert).where(Expert.code == first["code"])).one()
    assert expert.name == first["name"]
    assert (expert.employer_id is None) == (first["employer_uscc"] == "")
    held = {
        s["specialty_code"] for s in _csv("expert_specialties") if s["expert_code"] == first["code"]
    }
    assert {s.specialty_code for s in expert.specialties} == held


def test_seeded_personal_data_round_trips_and_the_table_holds_no_plaintext(app):
    seed.seed(with_users=False)
    rows = {r["code"]: r for r in _csv("experts")}
    db.session.expire_all()
    sample = db.session.scalars(sa.select(Expert).order_by(Expert.code).limit(25)).all()
    for expert in sample:
        assert expert.id_number == rows[expert.code]["id_number"]
        assert expert.phone == rows[expert.code]["phone"]
        assert expert.id_number_hash == protector().lookup_hash(expert.id_number)
    raw = db.session.execute(sa.text("SELECT code, id_number, phone, email FROM experts")).all()
    assert len(raw) == 3000
    for code, id_blob, phone_blob, email in raw:
        id_bytes, phone_bytes = bytes(id_blob), bytes(phone_blob)
        assert rows[code]["id_number"].encode() not in id_bytes
        assert rows[code]["phone"].encode() not in phone_bytes
        assert len(id_bytes) == 12 + 18 + 16  # nonce, ciphertext, tag
        assert "@" not in (email or "")  # e-mail addresses are encrypted too
    emails = {e.code: e.email for e in sample}
    assert emails == {code: rows[code]["email"] or None for code in emails}


def test_the_demo_pool_is_confirmed_as_of_the_seeding_day(app):
    """Seeded on any day, the demo pool keeps its shape: the newest confirmations are of that
    day, and about one in twenty is stale, so most strata can be drawn."""
    from datetime import date, timedelta

    from expertdraw import clock

    with clock.frozen(clock.now() + timedelta(days=400)):
        seed.seed(with_users=False)
        today = clock.now().date()
    dates = db.session.scalars(sa.select(Expert.data_confirmed_on)).all()
    assert max(dates) == today
    stale = sum(d < today - timedelta(days=365) for d in dates) / len(dates)
    assert 0.02 < stale < 0.08, stale
    assert all(isinstance(d, date) for d in dates)


def test_demo_users_are_created_under_test_and_their_passwords_verify(app):
    seed.seed()
    admin = users.verify_password("admin", "admin-demo-2026")
    assert admin is not None and admin.role == "admin"
    assert re.fullmatch(r"U[A-Z2-7]{10}", admin.pseudonym)
    assert users.verify_password("admin", "admin-demo-2025") is None
    assert users.verify_password("nobody", "admin-demo-2026") is None
    expert = users.verify_password("expert1", "expert1-demo-2026")
    assert db.session.get(Expert, expert.expert_id).code == "E0000001"
    staff = users.verify_password("venue1", "venue1-demo-2026")
    assert staff.venue_id == "V530602"
    supervisors = db.session.scalars(sa.select(User).where(User.role == "supervisor")).all()
    assert len(supervisors) >= 3
    pseudonyms = db.session.scalars(sa.select(User.pseudonym)).all()
    assert len(set(pseudonyms)) == len(pseudonyms)


def test_no_demo_users_outside_demo_mode_and_tests(app):
    app.config.update(TESTING=False, DEMO=False)
    report = seed.seed()
    assert "users" not in report.inserted
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_extra_experts_and_conflicts_are_deterministic_and_idempotent(app):
    report = seed.seed(with_users=False, extra_experts=40, conflicts=2500)
    codes = db.session.scalars(sa.select(Expert.code).order_by(Expert.code)).all()
    assert len(codes) == 3040
    assert codes[-1] == "E0003040"
    # A few of the sampled relations may coincide with seed relations and are skipped.
    assert 2400 < report.inserted["conflicts"] <= 2500
    extra = db.session.scalars(sa.select(Expert).where(Expert.code == "E0003001")).one()
    assert extra.specialties and extra.id_number_hash == protector().lookup_hash(extra.id_number)
    before = _counts()

    again = seed.seed(with_users=False, extra_experts=40, conflicts=2500)
    assert set(again.inserted.values()) == {0}
    assert _counts() == before


def test_cli_seed_and_demo_logins(app, runner):
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "experts: 3000 inserted" in result.output
    app.config["DEMO"] = False
    assert "demo mode is off" in runner.invoke(args=["demo-logins"]).output
    app.config["DEMO"] = True
    output = runner.invoke(args=["demo-logins"]).output
    assert "admin-demo-2026" in output
    assert "supervisor3" in output
    assert "not created yet" not in output


def test_extra_venues_are_generated_deterministically_and_idempotently(app):
    before = seed.seed(with_users=False)
    report = seed.seed(with_users=False, venues=3)
    assert report.inserted == {**{k: 0 for k in before.inserted}, **report.inserted}
    assert (report.inserted["venues"], report.inserted["rooms"]) == (3, 12)
    assert report.inserted["workstations"] == 60
    venue = db.session.get(Venue, "VB00002")
    assert venue.region_code.startswith("53") and venue.active
    assert [r.id for r in venue.rooms] == [f"VB00002-R0{r}" for r in range(1, 5)]
    assert [w.id for w in venue.rooms[3].workstations][-1] == "VB00002-R04-W05"
    counts = _counts()

    again = seed.seed(with_users=False, venues=3)
    assert set(again.inserted.values()) == {0}
    assert _counts() == counts
    more = seed.seed(with_users=False, venues=5)
    assert (more.inserted["venues"], more.inserted["workstations"]) == (2, 40)
    # The first venues do not change when more are asked for.
    five, three = (seed.extra_venues(_csv("regions"), n) for n in (5, 3))
    assert {k: rows[: len(three[k])] for k, rows in five.items()} == three
    assert db.session.get(Venue, "VB00001").name == three["venues"][0]["name"]


def test_extra_venues_are_validated(app, runner):
    with pytest.raises(seed.SeedError, match="venues is 0 to"):
        seed.seed(with_users=False, venues=-1)
    result = runner.invoke(args=["seed", "--venues", "-1"])
    assert result.exit_code == 2 and "--venues" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == 0
    result = runner.invoke(args=["seed", "--venues", "2"])
    assert result.exit_code == 0, result.output
    assert "venues: 29 inserted" in result.output  # the seed's 27 and two generated
