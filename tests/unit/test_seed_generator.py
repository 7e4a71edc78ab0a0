"""The seed generator: deterministic output, and data that match the article and the codes."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from expertdraw.domain.codes import validate_id, validate_id_number, validate_uscc

SEED_DATA = Path(__file__).resolve().parents[2] / "seed_data"
REFERENCE = date(2026, 11, 27)


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "seed_generate_under_test", SEED_DATA / "generate.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tables(generator) -> dict[str, list[dict[str, str]]]:
    out = {}
    for name in generator.COLUMNS:
        with (SEED_DATA / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
            out[name] = list(csv.DictReader(handle))
    return out


def test_the_script_regenerates_the_committed_csvs_byte_for_byte(generator, tmp_path):
    # Run as a script with the standard library only (-S: no site-packages at all).
    completed = subprocess.run(
        [sys.executable, "-I", "-S", str(SEED_DATA / "generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    names = sorted(f"{name}.csv" for name in generator.COLUMNS)
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for name in names:
        assert (tmp_path / name).read_bytes() == (SEED_DATA / name).read_bytes(), name


def test_each_csv_stays_small_and_has_the_declared_header(generator):
    for name, columns in generator.COLUMNS.items():
        path = SEED_DATA / f"{name}.csv"
        assert path.stat().st_size < 2_000_000, name
        with path.open(encoding="utf-8", newline="") as handle:
            assert tuple(next(csv.reader(handle))) == columns


def test_regions_hold_yunnan_prefectures_and_zhaotong_counties_with_real_codes(tables):
    names = {r["code"]: r["name"] for r in tables["regions"]}
    prefectures = {r["code"] for r in tables["regions"] if r["level"] == "prefecture"}
    assert names["530000"] == "云南省"
    assert prefectures == {
        "530100", "530300", "530400", "530500", "530600", "530700", "530800", "530900",
        "532300", "532500", "532600", "532800", "532900", "533100", "533300", "533400",
    }  # fmt: skip
    zhaotong = {
        "530602": "昭阳区", "530621": "鲁甸县", "530622": "巧家县", "530623": "盐津县",
        "530624": "大关县", "530625": "永善县", "530626": "绥江县", "530627": "镇雄县",
        "530628": "彝良县", "530629": "威信县", "530681": "水富市",
    }  # fmt: skip
    assert {c: n for c, n in names.items() if c.startswith("5306") and c != "530600"} == zhaotong
    assert names["530600"] == "昭通市"
    for row in tables["regions"]:
        if row["level"] == "county":
            assert row["parent_code"] == row["code"][:4] + "00"
        if row["level"] == "prefecture":
            assert row["parent_code"] == "530000"


def test_specialties_form_a_four_level_tree_with_the_example_codes(tables):
    rows = {r["code"]: r for r in tables["specialties"]}
    assert 60 <= len(rows) <= 150
    assert {"A", "B", "C"} == {c for c, r in rows.items() if r["level"] == "1"}
    assert {"A0101", "C0301"} <= set(rows)
    for code, row in rows.items():
        assert int(row["level"]) == {1: 1, 3: 2, 5: 3, 7: 4}[len(code)]
        if row["parent_code"]:
            parent = rows[row["parent_code"]]
            assert code.startswith(parent["code"])
            assert int(parent["level"]) == int(row["level"]) - 1
        assert row["name"]


def test_zhaotong_has_the_articles_23_rooms_and_107_workstations(tables):
    venues = {v["id"]: v for v in tables["venues"]}
    rooms = {r["id"]: r for r in tables["rooms"]}
    zhaotong_rooms = [
        r for r in rooms.values() if venues[r["venue_id"]]["region_code"][:4] == "5306"
    ]
    zhaotong_ws = [
        w for w in tables["workstations"] if w["room_id"] in {r["id"] for r in zhaotong_rooms}
    ]
    assert len(zhaotong_rooms) == 23
    assert len(zhaotong_ws) == 107
    assert venues["V530602"]["name"] == "昭通市公共资源交易中心"
    # Every county of Zhaotong has a venue; every other prefecture has one.
    regions = {v["region_code"] for v in venues.values()}
    assert {r["code"] for r in tables["regions"] if r["parent_code"] == "530600"} <= regions
    assert len({code[:4] for code in regions}) == 16


def test_venue_room_and_workstation_ids_follow_the_spec(tables):
    for venue in tables["venues"]:
        validate_id(venue["id"])
    for room in tables["rooms"]:
        assert room["id"].startswith(room["venue_id"] + "-R")
        validate_id(room["id"])
    for ws in tables["workstations"]:
        assert ws["id"].startswith(ws["room_id"] + "-W")
        validate_id(ws["id"])
    other = Counter(r["venue_id"] for r in tables["rooms"] if not r["venue_id"].startswith("V5306"))
    assert all(2 <= n <= 4 for n in other.values())


def test_organisations_have_valid_unique_credit_codes_and_every_kind(tables):
    orgs = tables["organisations"]
    assert 380 <= len(orgs) <= 420
    assert len({o["uscc"] for o in orgs}) == len(orgs)
    assert len({o["name"] for o in orgs}) == len(orgs)
    for org in orgs:
        assert validate_uscc(org["uscc"]) == org["uscc"]
        assert org["uscc"][2:8] == org["region_code"]
    assert set(Counter(o["kind"] for o in orgs)) == {
        "tenderer", "agency", "bidder", "authority", "employer",
    }  # fmt: skip
    usccs = {o["uscc"] for o in orgs}
    parents = [o["parent_uscc"] for o in orgs if o["parent_uscc"]]
    assert len(parents) >= 5
    assert set(parents) <= usccs


def test_experts_have_valid_identity_numbers_matching_home_and_birth_years(tables):
    experts = tables["experts"]
    regions = {r["code"] for r in tables["regions"]}
    assert len(experts) == 3000
    assert [e["code"] for e in experts] == [f"E{n:07d}" for n in range(1, 3001)]
    assert len({e["id_number"] for e in experts}) == len(experts)
    for expert in experts:
        number = validate_id_number(expert["id_number"])
        assert number[:6] == expert["home_region"]
        assert 1960 <= int(number[6:10]) <= 1990
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        assert expert["home_region"] in regions
        assert len(expert["phone"]) == 11 and expert["phone"][0] == "1"
    homes = Counter(e["home_region"][:4] for e in experts)
    assert len(homes) == 16
    assert 0.05 < homes["5306"] / len(experts) < 0.25


def test_expert_pool_has_the_mix_the_rules_need(tables):
    experts = tables["experts"]
    kinds = Counter(e["kind"] for e in experts)
    assert 0.70 < kinds["technical"] / len(experts) < 0.80
    statuses = Counter(e["status"] for e in experts)
    assert statuses["active"] > 0.85 * len(experts)
    assert statuses["suspended"] > 0 and statuses["retired"] > 0
    expired = [e for e in experts if date.fromisoformat(e["qualification_expiry"]) < REFERENCE]
    assert 0 < len(expired) < 0.1 * len(experts)
    stale = [
        e for e in experts if (REFERENCE - date.fromisoformat(e["data_confirmed_on"])).days > 365
    ]
    assert 0.05 < len(stale) / len(experts) < 0.3
    per_expert = Counter(s["expert_code"] for s in tables["expert_specialties"])
    assert set(per_expert) == {e["code"] for e in experts}
    assert set(per_expert.values()) <= {1, 2, 3}
    codes = {s["code"] for s in tables["specialties"]}
    held = [s["specialty_code"] for s in tables["expert_specialties"]]
    assert set(held) <= codes
    assert all(len(code) in (5, 7) for code in held)
    # Enough candidates outside Zhaotong for the example strata (A0101, C0301).
    outside = {e["code"] for e in experts if not e["home_region"].startswith("5306")}
    for stratum in ("A0101", "C0301"):
        holders = {
            s["expert_code"]
            for s in tables["expert_specialties"]
            if s["specialty_code"].startswith(stratum)
        }
        assert len(holders & outside) > 100


def test_facts_of_the_pool_are_consistent(tables):
    experts = {e["code"] for e in tables["experts"]}
    orgs = {o["uscc"] for o in tables["organisations"]}
    for row in tables["employments"]:
        assert row["expert_code"] in experts and row["organisation_uscc"] in orgs
        assert not row["end"] or row["end"] >= row["start"]
    current = {e["code"]: e["employer_uscc"] for e in tables["experts"] if e["employer_uscc"]}
    open_jobs = {
        (r["expert_code"], r["organisation_uscc"])
        for r in tables["employments"]
        if r["relation"] == "employee" and not r["end"]
    }
    assert set(current.items()) <= open_jobs
    assert {r["kind"] for r in tables["relations"]} == {"relative", "declared"}
    assert {p["kind"] for p in tables["penalties"]} == {"administrative", "criminal", "blacklist"}
    for leave in tables["leaves"]:
        assert "2026-11-20" <= leave["start"] < "2027-03-16"
        assert leave["start"] < leave["end"] <= "2027-04-06"
    assert {e["relation"] for e in tables["employments"]} == {"employee", "adviser"}


def test_demo_users_cover_every_role(tables):
    users = tables["users"]
    roles = Counter(u["role"] for u in users)
    assert roles["supervisor"] >= 3
    assert set(roles) == {"admin", "project_manager", "supervisor", "expert", "venue_staff"}
    experts = {e["code"]: e for e in tables["experts"]}
    for user in users:
        assert user["password"] == f"{user['username']}-demo-2026"
        if user["role"] == "expert":
            assert experts[user["expert_code"]]["status"] == "active"
        if user["role"] == "venue_staff":
            assert user["venue_id"].startswith("V5306")


def test_extra_experts_continue_the_codes_and_do_not_depend_on_the_count(generator, tables):
    kwargs = {
        "first_number": 3001,
        "organisations": tables["organisations"],
        "specialties": tables["specialties"],
        "used_id_numbers": [e["id_number"] for e in tables["experts"]],
    }
    small = generator.extra_experts(20, **kwargs)
    large = generator.extra_experts(50, **kwargs)
    assert [e["code"] for e in large["experts"]] == [f"E{n:07d}" for n in range(3001, 3051)]
    assert large["experts"][:20] == small["experts"]
    seed_ids = {e["id_number"] for e in tables["experts"]}
    for expert in large["experts"]:
        validate_id_number(expert["id_number"])
        assert expert["id_number"] not in seed_ids
