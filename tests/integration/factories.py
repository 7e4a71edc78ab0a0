"""Test data factories: the smallest set of rows behind a notice, built through the ORM.

``make_notice()`` builds regions, a specialty, the parties (tenderer, agency, bidders), a
venue with one room and workstation per member, the experts, a project with one stratum, a
completed draw, its members and one pending notice per member, and, when asked, queued
deliveries. Every name and code that a notice must never show is returned, so tests can
assert its absence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from expertdraw.domain.codes import id_check_char, uscc_check_char
from expertdraw.extensions import db
from expertdraw.models import (
    Delivery,
    Draw,
    Expert,
    Member,
    Notice,
    Organisation,
    Project,
    ProjectBidder,
    Region,
    Room,
    Specialty,
    Stratum,
    User,
    Venue,
    Workstation,
)
from expertdraw.personal_data import protector

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 Beijing time


@dataclass
class NoticeRows:
    """What ``make_notice`` built; ``notice`` and ``expert`` are the first member's."""

    notice: Notice
    expert: Expert
    member: Member
    project: Project
    draw: Draw
    venue: Venue
    notices: list[Notice]
    experts: list[Expert]
    members: list[Member]
    deliveries: list[Delivery]
    party_names: list[str] = field(default_factory=list)

    def secrets_for(self, index: int = 0) -> list[str]:
        """Strings notice ``index`` must never contain: project, parties, other members."""
        hidden = [self.project.code, self.project.name, self.draw.id, *self.party_names]
        for i, (expert, member, notice) in enumerate(
            zip(self.experts, self.members, self.notices, strict=True)
        ):
            hidden.append(expert.name)
            if i != index:
                hidden += [expert.code, member.workstation_id, notice.check_in_code]
                hidden += [expert.email or "", expert.phone or ""]
        return [h for h in hidden if h]


def _uscc(n: int) -> str:
    first = f"91530602{n:09d}"
    return first + uscc_check_char(first)


def _id_number(n: int) -> str:
    first = f"53060219800101{n:03d}"
    return first + id_check_char(first)


def _reference_rows() -> None:
    db.session.add_all(
        [
            Region(code="530000", name="云南省", level="province"),
            Region(code="530100", name="昆明市", level="prefecture", parent_code="530000"),
            Region(code="530600", name="昭通市", level="prefecture", parent_code="530000"),
            Region(code="530602", name="昭阳区", level="county", parent_code="530600"),
            Specialty(code="A", name="工程", level=1),
            Specialty(code="A01", name="房屋建筑工程", level=2, parent_code="A"),
        ]
    )
    db.session.flush()


def make_notice(
    *,
    members: int = 3,
    deliveries: Sequence[str] = (),
    email: str | None = "expert1@experts.example.cn",
    phone: str | None = "13987012345",
    language: str | None = None,
    now: datetime = T0,
    notice_prefix: str = "NQ7K2",
    deliveries_for_all: bool = False,
) -> NoticeRows:
    """Build and commit a completed draw of ``members`` members with a notice each.

    The first member's expert has ``email`` and ``phone`` (others get their own), and an
    expert account in ``language`` when one is given. ``deliveries`` names the channels to
    queue for the first notice (for every notice with ``deliveries_for_all``): rows with
    status ``queued``, due at ``now``, written directly whatever the app's configuration says.
    """
    _reference_rows()
    tenderer = Organisation(uscc=_uscc(1), name="昭通市第一人民医院", kind="tenderer")
    agency = Organisation(uscc=_uscc(2), name="云南诚信招标代理有限公司", kind="agency")
    bidders = [
        Organisation(uscc=_uscc(3), name="云南宏远建设集团有限公司", kind="bidder"),
        Organisation(uscc=_uscc(4), name="昭通市鑫达建筑工程有限公司", kind="bidder"),
    ]
    db.session.add_all([tenderer, agency, *bidders])
    venue = Venue(
        id="V530602",
        name="昭通市公共资源交易中心",
        region_code="530602",
        address="云南省昭通市昭阳区政务服务中心大楼5楼（评标区）",
    )
    db.session.add(venue)
    db.session.flush()
    project = Project(
        code="ZTJS-2026-0815",
        name="昭通市第一人民医院门诊综合楼建设项目施工",
        tenderer_id=tenderer.id,
        agency_id=agency.id,
        region_code="530602",
        window_start=now + timedelta(days=1),
        window_end=now + timedelta(days=1, hours=8),
        created_at=now - timedelta(days=3),
    )
    project.strata.append(
        Stratum(
            position=0, name="tech", specialty_code="A01", kind="technical", count=5, alternates=2
        )
    )
    db.session.add(project)
    db.session.flush()
    db.session.add_all(
        ProjectBidder(project_id=project.id, organisation_id=b.id, added_at=now) for b in bidders
    )
    draw = Draw(
        id="D2026-000123",
        project_id=project.id,
        state="completed",
        algorithm="expertdraw-v1",
        snapshot_hash="0" * 64,
        commitment="1" * 64,
        secret="2" * 64,
        entropy={},
        seed="3" * 64,
        announced_at=now - timedelta(minutes=10),
        deadline_at=now,
        finished_at=now,
    )
    db.session.add(draw)
    db.session.flush()
    surnames = ["王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴芳"]
    experts, member_rows, notices = [], [], []
    for i in range(members):
        n = i + 1
        expert_phone = phone if i == 0 else f"1390000{n:04d}"
        expert = Expert(
            code=f"E{n:07d}",
            name=surnames[i % len(surnames)] + ("" if i < len(surnames) else str(i)),
            id_number=_id_number(n),
            id_number_hash=protector().lookup_hash(_id_number(n)),
            phone=expert_phone,
            phone_hash=protector().lookup_hash(expert_phone) if expert_phone else None,
            email=email if i == 0 else f"expert{n}@experts.example.cn",
            home_region="530100",
            title="高级工程师",
            kind="technical",
            status="active",
        )
        room = Room(id=f"V530602-R{n:02d}", venue_id=venue.id, name=f"评标室{n:02d}")
        workstation = Workstation(id=f"V530602-R{n:02d}-W01", room_id=room.id)
        db.session.add_all([expert, room, workstation])
        db.session.flush()
        member = Member(
            draw_id=draw.id,
            source_draw_id=draw.id,
            expert_id=expert.id,
            stratum="tech",
            venue_id=venue.id,
            room_id=room.id,
            workstation_id=workstation.id,
            state="active",
            joined_at=now,
        )
        db.session.add(member)
        db.session.flush()
        code = f"K{n:04d}-Q9X4R"
        notice = Notice(
            id=f"{notice_prefix}{n:03d}",
            draw_id=draw.id,
            member_id=member.id,
            expert_id=expert.id,
            check_in_code=code,
            check_in_hash=protector().lookup_hash(code),
            status="pending",
            sent_at=now,
            due_at=now + timedelta(minutes=30),
        )
        db.session.add(notice)
        experts.append(expert)
        member_rows.append(member)
        notices.append(notice)
    if language is not None:
        db.session.add(
            User(
                username="expert1",
                pseudonym="U-EXPERT1",
                password_hash="x",
                role="expert",
                expert_id=experts[0].id,
                language=language,
                created_at=now,
            )
        )
    db.session.flush()
    rows = [
        Delivery(notice_id=notice.id, channel=channel, status="queued", next_attempt_at=now)
        for notice in (notices if deliveries_for_all else notices[:1])
        for channel in deliveries
    ]
    db.session.add_all(rows)
    party_names = [tenderer.name, agency.name, *(b.name for b in bidders)]
    db.session.commit()  # nothing is read after this: on SQLite a read would hold the lock
    return NoticeRows(
        notice=notices[0],
        expert=experts[0],
        member=member_rows[0],
        project=project,
        draw=draw,
        venue=venue,
        notices=notices,
        experts=experts,
        members=member_rows,
        deliveries=rows,
        party_names=party_names,
    )
