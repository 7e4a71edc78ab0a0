"""A small trading centre built directly in the database, for workflow tests.

Project region: Zhaotong (530602). Experts live in other prefectures (the region rule would
exclude Zhaotong's own), each with their own employer, so no group limit binds unless a test
makes it. Six venues with two rooms of two workstations each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from expertdraw.domain.codes import USCC_ALPHABET, id_check_char, uscc_check_char
from expertdraw.extensions import db
from expertdraw.models import (
    Expert,
    ExpertSpecialty,
    Organisation,
    Region,
    Room,
    Specialty,
    User,
    Venue,
    Workstation,
)
from expertdraw.personal_data import protector
from expertdraw.services import ledger
from expertdraw.services.projects import ProjectSpec, StratumSpec

PREFECTURES = ["530100", "530300", "530400", "530500", "530700", "530800"]
WINDOW = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)
NOW = datetime(2027, 2, 20, 2, 0, tzinfo=UTC)
LOG_CREATED = NOW - timedelta(days=1)


def uscc(n: int) -> str:
    """A valid unified social credit code numbered ``n``."""
    body = "91530600" + "".join(USCC_ALPHABET[(n // 31**i) % 31] for i in range(9))[::-1]
    return body + uscc_check_char(body)


def id_number(n: int) -> str:
    body = f"530102198001{n:05d}"[:17]
    return body + id_check_char(body)


@dataclass
class Centre:
    tenderer: str = ""
    agency: str = ""
    bidders: list[str] = field(default_factory=list)
    experts: list[str] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)


def build(
    technical: int = 24, economic: int = 12, venues: int = 6, *, log_created: datetime = LOG_CREATED
) -> Centre:
    """Create the centre, the ledger (its first entry at ``log_created``), and users: pm,
    sup1, sup2, admin, staff (first venue)."""
    from expertdraw.services.users import create_user

    centre = Centre()
    db.session.add(Region(code="530000", name="云南省", level="province"))
    db.session.flush()
    db.session.add(Region(code="530600", name="昭通市", level="prefecture", parent_code="530000"))
    for code in PREFECTURES:
        db.session.add(
            Region(code=code, name=f"州市{code}", level="prefecture", parent_code="530000")
        )
    db.session.flush()
    db.session.add(Region(code="530602", name="昭阳区", level="county", parent_code="530600"))
    for code, name, level, parent in (
        ("A", "工程", 1, None),
        ("A01", "房屋建筑", 2, "A"),
        ("A0101", "土建", 3, "A01"),
        ("C", "服务", 1, None),
        ("C03", "造价咨询", 2, "C"),
        ("C0301", "工程造价", 3, "C03"),
    ):
        db.session.add(Specialty(code=code, name=name, level=level, parent_code=parent))
        db.session.flush()
    orgs = []
    for n in range(6 + technical + economic):
        kind = (
            ["tenderer", "agency", "bidder", "bidder", "bidder", "authority"][n]
            if n < 6
            else "employer"
        )
        org = Organisation(uscc=uscc(n + 1), name=f"单位{n + 1}", kind=kind, region_code="530602")
        db.session.add(org)
        orgs.append(org)
    db.session.flush()
    centre.tenderer, centre.agency = orgs[0].uscc, orgs[1].uscc
    centre.bidders = [o.uscc for o in orgs[2:5]]
    for n in range(technical + economic):
        code = f"E{n + 1:07d}"
        number = id_number(n + 1)
        expert = Expert(
            code=code,
            name=f"专家{n + 1}",
            id_number=number,
            id_number_hash=protector().lookup_hash(number),
            phone=f"139{n:08d}",
            phone_hash=protector().lookup_hash(f"139{n:08d}"),
            email=f"e{n + 1}@experts.example",
            home_region=PREFECTURES[n % len(PREFECTURES)],
            employer_id=orgs[6 + n].id,
            title="高级工程师",
            kind="technical" if n < technical else "economic",
            status="active",
            data_confirmed_on=NOW.date(),
        )
        expert.specialties = [ExpertSpecialty(specialty_code="A0101" if n < technical else "C0301")]
        db.session.add(expert)
        centre.experts.append(code)
    for v in range(venues):
        region = PREFECTURES[v % len(PREFECTURES)]
        venue = Venue(
            id=f"V{region}-{v}", name=f"场地{v}", region_code=region, address=f"地址{v}号"
        )
        db.session.add(venue)
        db.session.flush()
        for r in range(2):
            room = Room(id=f"{venue.id}-R0{r + 1}", venue_id=venue.id, name=f"评标室{r + 1}")
            db.session.add(room)
            db.session.flush()
            for w in range(2):
                db.session.add(Workstation(id=f"{room.id}-W0{w + 1}", room_id=room.id))
    db.session.flush()
    ledger.create_log(log_created)
    db.session.commit()
    first_venue = f"V{PREFECTURES[0]}-0"
    for username, role, extra in (
        ("pm", "project_manager", {}),
        ("sup1", "supervisor", {}),
        ("sup2", "supervisor", {}),
        ("admin", "admin", {}),
        ("staff", "venue_staff", {"venue_id": first_venue}),
    ):
        centre.users[username] = create_user(username, "correct horse battery", role, **extra)
    db.session.commit()
    return centre


def expert_user(code: str) -> User:
    """The user of an expert, created on first use."""
    import sqlalchemy as sa

    from expertdraw.services.users import create_user

    expert = db.session.scalar(sa.select(Expert).where(Expert.code == code))
    user = db.session.scalar(sa.select(User).where(User.expert_id == expert.id))
    if user is None:
        user = create_user(code.lower(), "correct horse battery", "expert", expert_id=expert.id)
        db.session.commit()
    return user


def project_spec(centre: Centre, code: str, **overrides: Any) -> ProjectSpec:
    """A five-member project of the test centre (four technical members with two alternates,
    one economic with one; window ``WINDOW``, eight hours); ``overrides`` replace fields."""
    values: dict[str, Any] = dict(
        code=code,
        name="某某学校教学楼工程",
        tenderer=centre.tenderer,
        agency=centre.agency,
        bidders=tuple(centre.bidders),
        region="530602",
        window_start=WINDOW,
        window_end=WINDOW + timedelta(hours=8),
        strata=[
            StratumSpec("technical", "A0101", "technical", 4, 2),
            StratumSpec("economic", "C0301", "economic", 1, 1),
        ],
    )
    values.update(overrides)
    return ProjectSpec(**values)


def add_technical_expert(n: int) -> str:
    """Add (commits) technical expert ``E{9000+n}`` of another prefecture, with an employer of
    their own: the pool gains a candidate after the draw."""
    employer = Organisation(
        uscc=uscc(900 + n), name=f"新单位{n}", kind="employer", region_code="530602"
    )
    db.session.add(employer)
    db.session.flush()
    code, number, phone = f"E{9000 + n:07d}", id_number(900 + n), f"137{n:08d}"
    expert = Expert(
        code=code,
        name=f"新专家{n}",
        id_number=number,
        id_number_hash=protector().lookup_hash(number),
        phone=phone,
        phone_hash=protector().lookup_hash(phone),
        email=f"new{n}@experts.example",
        home_region=PREFECTURES[0],
        employer_id=employer.id,
        title="高级工程师",
        kind="technical",
        status="active",
        data_confirmed_on=NOW.date(),
    )
    expert.specialties = [ExpertSpecialty(specialty_code="A0101")]
    db.session.add(expert)
    db.session.commit()
    return code


def project_body(centre: Centre, code: str, **extra: Any) -> dict[str, Any]:
    """An API request body for a five-member project of the test centre (window ``WINDOW``,
    eight hours); ``extra`` adds or replaces members."""
    return {
        "code": code,
        "name": "某某工程",
        "tenderer": centre.tenderer,
        "region": "530602",
        "window_start": WINDOW.isoformat(),
        "window_end": (WINDOW + timedelta(hours=8)).isoformat(),
        "strata": [
            {"name": "technical", "specialty": "A0101", "kind": "technical", "count": 4},
            {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 1},
        ],
        **extra,
    }
