#!/usr/bin/env python3
"""Generate the demo trading centre's seed data: ``python seed_data/generate.py [--out DIR]``.

Everything is synthetic except the region codes (GB/T 2260) and the Zhaotong venue figures of
the article (23 evaluation rooms, 107 workstations). Names, ID numbers, phone numbers and
unified social credit codes are invented; their check characters are valid so that the
importer and the validators accept them. The output is deterministic: one
``random.Random(20261127)``, dates relative to ``REFERENCE_DATE``, fixed row order, ``\\n`` line
ends, UTF-8 without BOM. Running the script twice writes byte-identical files.

Standard library only. The check characters come from ``expertdraw/domain/codes.py``, loaded by
path so that Flask need not be installed.

``extra_experts`` (used by ``flask seed --experts N``) continues the pool after the seed experts
with its own random stream, so the first N extra experts are the same whatever N is.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import importlib.util
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20261127
REFERENCE_DATE = date(2026, 11, 27)
HERE = Path(__file__).resolve().parent
SEED_EXPERTS = 3000
CST = "+08:00"


def _load_codes() -> Any:
    path = HERE.parent / "expertdraw" / "domain" / "codes.py"
    spec = importlib.util.spec_from_file_location("_expertdraw_codes", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


codes = _load_codes()

# --------------------------------------------------------------------------- columns

COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name", "level", "parent_code"),
    "specialties": ("code", "name", "level", "parent_code"),
    "organisations": ("uscc", "name", "kind", "region_code", "parent_uscc"),
    "venues": ("id", "name", "region_code", "address", "active"),
    "rooms": ("id", "venue_id", "name", "active"),
    "workstations": ("id", "room_id", "active"),
    "experts": (
        "code",
        "name",
        "id_number",
        "phone",
        "email",
        "home_region",
        "employer_uscc",
        "title",
        "kind",
        "status",
        "qualification_expiry",
        "data_confirmed_on",
    ),
    "expert_specialties": ("expert_code", "specialty_code"),
    "employments": ("expert_code", "organisation_uscc", "relation", "start", "end"),
    "relations": ("expert_code", "organisation_uscc", "kind", "declared_at"),
    "penalties": ("expert_code", "kind", "start", "end", "note"),
    "leaves": ("expert_code", "start", "end"),
    "users": ("username", "password", "role", "expert_code", "venue_id", "language"),
}

# The tables generated per expert.
POOL_TABLES = ("experts", "expert_specialties", "employments", "relations", "penalties", "leaves")

# --------------------------------------------------------------------------- regions

PROVINCE = ("530000", "云南省")
# (code, name, short name, seat county, county-level divisions used for homes)
PREFECTURES: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "530100",
        "昆明市",
        "昆明",
        (("530102", "五华区"), ("530103", "盘龙区"), ("530111", "官渡区")),
    ),
    ("530300", "曲靖市", "曲靖", (("530302", "麒麟区"), ("530381", "宣威市"))),
    ("530400", "玉溪市", "玉溪", (("530402", "红塔区"),)),
    ("530500", "保山市", "保山", (("530502", "隆阳区"), ("530581", "腾冲市"))),
    (
        "530600",
        "昭通市",
        "昭通",
        (
            ("530602", "昭阳区"),
            ("530621", "鲁甸县"),
            ("530622", "巧家县"),
            ("530623", "盐津县"),
            ("530624", "大关县"),
            ("530625", "永善县"),
            ("530626", "绥江县"),
            ("530627", "镇雄县"),
            ("530628", "彝良县"),
            ("530629", "威信县"),
            ("530681", "水富市"),
        ),
    ),
    ("530700", "丽江市", "丽江", (("530702", "古城区"),)),
    ("530800", "普洱市", "普洱", (("530802", "思茅区"),)),
    ("530900", "临沧市", "临沧", (("530902", "临翔区"),)),
    ("532300", "楚雄彝族自治州", "楚雄", (("532301", "楚雄市"),)),
    ("532500", "红河哈尼族彝族自治州", "红河", (("532503", "蒙自市"), ("532501", "个旧市"))),
    ("532600", "文山壮族苗族自治州", "文山", (("532601", "文山市"),)),
    ("532800", "西双版纳傣族自治州", "西双版纳", (("532801", "景洪市"),)),
    ("532900", "大理白族自治州", "大理", (("532901", "大理市"),)),
    ("533100", "德宏傣族景颇族自治州", "德宏", (("533103", "芒市"),)),
    ("533300", "怒江傈僳族自治州", "怒江", (("533301", "泸水市"),)),
    ("533400", "迪庆藏族自治州", "迪庆", (("533401", "香格里拉市"),)),
)
ZHAOTONG = "530600"
COUNTY_NAMES = {code: name for _, _, _, counties in PREFECTURES for code, name in counties}
PREFECTURE_SHORT = {code: short for code, _, short, _ in PREFECTURES}
PREFECTURE_NAME = {code: name for code, name, _, _ in PREFECTURES}
# Share of experts whose home is in each prefecture (Kunming, the capital, holds the most).
HOME_WEIGHTS = {
    "530100": 30,
    "530300": 9,
    "530400": 5,
    "530500": 4,
    "530600": 12,
    "530700": 3,
    "530800": 3,
    "530900": 2,
    "532300": 4,
    "532500": 7,
    "532600": 3,
    "532800": 2,
    "532900": 8,
    "533100": 2,
    "533300": 1,
    "533400": 1,
}
HOME_WEIGHT_PAIRS = tuple(HOME_WEIGHTS.items())

# --------------------------------------------------------------------------- specialties

# A 4-level tree in the style of 发改法规〔2018〕316号: level 1 A/B/C, level 2 two digits,
# level 3 two more, level 4 two more. Draw strata use level-3 codes (e.g. A0101, C0301);
# experts hold leaves or level-3 codes.
SPECIALTY_TREE = """
A 工程
A01 房屋建筑工程
A0101 建筑工程
A010101 建筑结构
A010102 建筑施工
A010103 地基与基础
A010104 钢结构
A010105 装饰装修
A0102 建筑安装工程
A010201 建筑给排水
A010202 暖通空调
A010203 建筑电气
A010204 建筑智能化
A010205 消防工程
A0103 建筑节能与装配式建筑
A010301 建筑节能
A010302 装配式建筑
A02 市政公用工程
A0201 城市道路与桥梁
A020101 城市道路
A020102 城市桥梁
A020103 城市隧道
A0202 给水排水工程
A020201 给水工程
A020202 排水与污水处理
A020203 供水管网
A0203 燃气与热力工程
A020301 燃气工程
A020302 供热工程
A0204 园林绿化工程
A020401 园林景观
A020402 绿化种植
A0205 环境卫生工程
A020501 垃圾处理
A03 公路工程
A0301 路基路面工程
A030101 路基工程
A030102 路面工程
A0302 桥梁隧道工程
A030201 公路桥梁
A030202 公路隧道
A0303 交通安全与机电工程
A030301 交通安全设施
A030302 公路机电
A04 水利水电工程
A0401 水利工程
A040101 水库与大坝
A040102 灌区与渠系
A040103 河道治理与防洪
A040104 农村供水
A0402 水电站工程
A040201 水工建筑物
A040202 水力机械与电气
A05 农业农村与土地整治工程
A0501 土地整治
A050101 高标准农田建设
A050102 土地复垦
A0502 农村基础设施
A050201 农村道路
A050202 农村人居环境
A06 电力与通信工程
A0601 电力工程
A060101 输变电工程
A060102 配电工程
A0602 通信工程
A060201 通信线路与基站
B 货物
B01 信息技术设备
B0101 计算机设备
B010101 服务器与存储设备
B010102 台式计算机与便携式计算机
B0102 网络与安全设备
B010201 网络设备
B010202 信息安全设备
B02 办公设备与家具
B0201 办公设备
B020101 复印打印设备
B0202 家具
B020201 办公家具
B020202 学生课桌椅
B03 医疗设备
B0301 医学影像设备
B030101 放射影像设备
B030102 超声设备
B0302 医用检验设备
B030201 临床检验设备
B04 教学与科研仪器
B0401 教学仪器
B040101 理化生实验设备
B040102 多媒体教学设备
B05 建筑材料与机电设备
B0501 建筑材料
B050101 钢材
B050102 水泥及混凝土
B0502 机电设备
B050201 电梯
B050202 变配电设备
B06 车辆
B0601 公务用车
B060101 乘用车
C 服务
C01 工程勘察设计
C0101 工程勘察
C010101 岩土工程勘察
C010102 工程测量
C0102 工程设计
C010201 建筑设计
C010202 市政工程设计
C010203 公路工程设计
C010204 水利工程设计
C02 工程监理
C0201 房屋建筑工程监理
C0202 市政公用工程监理
C0203 公路工程监理
C0204 水利工程监理
C03 工程造价与经济
C0301 工程造价
C030101 房屋建筑工程造价
C030102 安装工程造价
C030103 市政工程造价
C030104 公路工程造价
C030105 水利工程造价
C0302 财务与审计
C030201 财务管理
C030202 审计
C0303 招标采购与合同管理
C030301 招标采购
C030302 合同管理
C0304 法律
C030401 工程法律事务
C04 信息技术服务
C0401 软件开发
C0402 信息系统集成
C0403 运行维护服务
C05 物业与综合服务
C0501 物业管理
C0502 保安服务
C0503 餐饮服务
"""


def specialty_level(code: str) -> int:
    """1 for A, 2 for A01, 3 for A0101, 4 for A010101."""
    return {1: 1, 3: 2, 5: 3, 7: 4}[len(code)]


def specialty_parent(code: str) -> str:
    """The parent code ('' for a level-1 code)."""
    return "" if len(code) == 1 else code[: len(code) - 2] if len(code) > 3 else code[:1]


def _specialties() -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in SPECIALTY_TREE.strip().splitlines()]  # type: ignore[misc]


# --------------------------------------------------------------------------- venues

# Zhaotong: 23 evaluation rooms and 107 workstations (the article: "评标室23间、评标工位107个").
# (venue id, region, name, address, workstations per room)
ZHAOTONG_VENUES: tuple[tuple[str, str, str, str, tuple[int, ...]], ...] = (
    (
        "V530602",
        "530602",
        "昭通市公共资源交易中心",
        "云南省昭通市昭阳区政务服务中心大楼5楼（评标区）",
        (7, 7, 6, 5, 5),
    ),
    (
        "V530602-2",
        "530602",
        "昭通市公共资源交易中心昭阳区分中心",
        "云南省昭通市昭阳区建设路政务服务大厅3楼",
        (5,),
    ),
    ("V530621", "530621", "鲁甸县公共资源交易中心", "云南省昭通市鲁甸县政务服务中心4楼", (4, 5)),
    ("V530622", "530622", "巧家县公共资源交易中心", "云南省昭通市巧家县政务服务中心3楼", (4, 4)),
    ("V530623", "530623", "盐津县公共资源交易中心", "云南省昭通市盐津县政务服务中心3楼", (4, 4)),
    ("V530624", "530624", "大关县公共资源交易中心", "云南省昭通市大关县政务服务中心2楼", (4,)),
    ("V530625", "530625", "永善县公共资源交易中心", "云南省昭通市永善县政务服务中心4楼", (4, 5)),
    ("V530626", "530626", "绥江县公共资源交易中心", "云南省昭通市绥江县政务服务中心3楼", (4,)),
    ("V530627", "530627", "镇雄县公共资源交易中心", "云南省昭通市镇雄县政务服务中心5楼", (5, 5)),
    ("V530628", "530628", "彝良县公共资源交易中心", "云南省昭通市彝良县政务服务中心3楼", (4, 4)),
    ("V530629", "530629", "威信县公共资源交易中心", "云南省昭通市威信县政务服务中心2楼", (4,)),
    ("V530681", "530681", "水富市公共资源交易中心", "云南省昭通市水富市政务服务中心4楼", (4, 4)),
)
ZHAOTONG_ROOMS = 23
ZHAOTONG_WORKSTATIONS = 107

# --------------------------------------------------------------------------- people

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文普沙字"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂华文建国云红林波宇海鹏辉丹萍玲斌宁飞"
    "兵东志俊春翔亮晓雪琳慧梅燕璐浩凯峰成昆荣光德福兴顺祥瑞思佳欣怡婷玉金鑫晨阳永昌"
)
PHONE_PREFIXES = (  # noqa: SIM905
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 "
    "173 177 180 181 182 183 187 188 189 199"
).split()
TECHNICAL_TITLES = (
    ("高级工程师", 48),
    ("正高级工程师", 14),
    ("教授级高级工程师", 5),
    ("一级注册建造师", 10),
    ("注册监理工程师", 8),
    ("一级注册结构工程师", 4),
    ("注册土木工程师（岩土）", 3),
    ("注册电气工程师", 3),
    ("注册咨询工程师（投资）", 3),
    ("副教授", 2),
)
ECONOMIC_TITLES = (
    ("注册造价工程师", 35),
    ("高级经济师", 25),
    ("高级会计师", 18),
    ("正高级经济师", 5),
    ("正高级会计师", 5),
    ("注册会计师", 6),
    ("律师", 6),
)
# Technical experts' main area (level-2 code) and its weight.
TECHNICAL_AREAS = (
    ("A01", 30),
    ("A02", 14),
    ("A03", 12),
    ("A04", 10),
    ("A05", 5),
    ("A06", 4),
    ("B01", 3),
    ("B02", 1),
    ("B03", 2),
    ("B04", 1),
    ("B05", 2),
    ("B06", 1),
    ("C01", 7),
    ("C02", 5),
    ("C04", 2),
    ("C05", 1),
)
ECONOMIC_AREAS = (("C0301", 65), ("C0302", 15), ("C0303", 15), ("C0304", 5))
# (note, days the penalty lasts; None: no end date)
PENALTY_NOTES: dict[str, tuple[tuple[str, int | None], ...]] = {
    "administrative": (
        ("未按照招标文件规定的评标标准和方法评标，给予警告", 365),
        ("无正当理由不参加评标，暂停评标资格6个月", 182),
        ("评标过程中擅离职守，记不良行为记录", 365),
        ("对依法应当否决的投标不提出否决意见，暂停评标资格1年", 365),
        ("评标中发表倾向性意见，暂停评标资格2年", 730),
    ),
    "criminal": (("在评标中收受投标人财物，以受贿罪被判处刑罚", None),),
    "blacklist": (("私下接触投标人，列入评标专家黑名单并取消评标资格", None),),
}

# --------------------------------------------------------------------------- organisations

TRADE_NAMES = (  # noqa: SIM905
    "恒信 中衡 鼎誉 建达 诚正 睿博 汇通 宏远 华坤 金沙 乌蒙 云岭 滇峰 博润 德诚 泰和 永安 "
    "昌盛 盛元 广源 新宇 嘉禾 天成 瑞丰 同创 合力 远航 卓越 明远 信达 正源 安泰 龙腾 华兴 "
    "隆基 恒通 锦程 浩宇 润泽 立信 中科 东方 天宇 宏图 鑫源 金鼎 长江 大成 兴业 弘毅 "
    "蓝天 北辰 南滇 凤凰 翠湖 高原 彩云 苍洱 沧源 哀牢 澜沧 珠江 红土 普洱 滇池 翔宇"
).split()
BIDDER_SUFFIXES = (
    "建设工程有限公司",
    "建筑工程有限公司",
    "路桥工程有限公司",
    "水利水电工程有限公司",
    "市政工程有限公司",
    "园林绿化工程有限公司",
    "电力工程有限公司",
    "信息技术有限公司",
    "医疗器械有限公司",
    "教学设备有限公司",
    "物业服务有限公司",
    "建材有限公司",
)
AGENCY_SUFFIXES = (
    "工程项目管理有限公司",
    "招标代理有限公司",
    "工程咨询有限公司",
    "建设咨询有限公司",
)
EMPLOYER_SUFFIXES = (
    "建筑设计研究院有限公司",
    "勘察设计有限公司",
    "工程造价咨询有限公司",
    "会计师事务所有限公司",
    "工程监理有限公司",
    "交通规划设计有限公司",
    "水利水电勘测设计有限公司",
    "工程检测有限公司",
    "律师事务所",
    "职业技术学院",
)
AUTHORITY_DEPARTMENTS = (
    "住房和城乡建设局",
    "交通运输局",
    "水务局",
    "发展和改革委员会",
    "财政局",
    "农业农村局",
)
TENDERER_TEMPLATES = (
    ("{place}第一人民医院", "12"),
    ("{place}第一中学", "12"),
    ("{place}城市建设投资开发有限公司", "91"),
    ("{place}交通建设投资有限公司", "91"),
    ("{place}水务产业投资有限公司", "91"),
    ("{place}教育体育局", "11"),
    ("{place}人民政府办公室", "11"),
    ("{place}卫生健康局", "11"),
    ("{place}妇幼保健院", "12"),
    ("{place}职业高级中学", "12"),
)
ORG_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _org_code_check(body: str) -> str:
    """GB 11714 organisation code check character of 8 body characters."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(ch, 36) * w for ch, w in zip(body, weights, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


# --------------------------------------------------------------------------- helpers


def _below(rng: random.Random, n: int) -> int:
    """A uniform integer in [0, n) from one ``random()`` call (stable across Python versions)."""
    return int(rng.random() * n)


def _between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high]."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, items: Sequence[Any]) -> Any:
    """A uniform element of ``items``."""
    return items[int(rng.random() * len(items))]


_WEIGHT_TABLES: dict[int, tuple[Sequence[tuple[Any, int]], list[Any], list[int]]] = {}


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]]) -> Any:
    """A value drawn with probability proportional to its weight (one ``random()`` call)."""
    table = _WEIGHT_TABLES.get(id(pairs))
    if table is None or table[0] is not pairs:
        cumulative, total = [], 0
        for _, weight in pairs:
            total += weight
            cumulative.append(total)
        # The table keeps ``pairs`` alive, so its id cannot be reused while cached.
        table = (pairs, [value for value, _ in pairs], cumulative)
        _WEIGHT_TABLES[id(pairs)] = table
    _, values, cumulative = table
    return values[bisect.bisect_right(cumulative, _below(rng, cumulative[-1]))]


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=_below(rng, (end - start).days + 1))


def _iso(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _cst(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S") + CST


class Context:
    """What expert generation needs: organisations by kind, specialties, used ID numbers."""

    def __init__(
        self,
        organisations: Iterable[dict[str, str]],
        specialties: Iterable[dict[str, str]],
        used_id_numbers: Iterable[str] = (),
    ) -> None:
        self.by_kind: dict[str, list[dict[str, str]]] = {}
        self.employers_by_prefecture: dict[str, list[str]] = {}
        for org in organisations:
            self.by_kind.setdefault(org["kind"], []).append(org)
            if org["kind"] == "employer":
                prefecture = org["region_code"][:4] + "00"
                self.employers_by_prefecture.setdefault(prefecture, []).append(org["uscc"])
        self.leaves_under: dict[str, list[str]] = {}
        codes_by_parent: dict[str, list[str]] = {}
        all_codes = [s["code"] for s in specialties]
        for code in all_codes:
            codes_by_parent.setdefault(specialty_parent(code), []).append(code)
        for code in all_codes:
            if len(code) in (3, 5):
                self.leaves_under[code] = [
                    c for c in all_codes if c.startswith(code) and c not in codes_by_parent
                ]
        # Level-3 codes with children: experts may hold the level-3 code itself.
        self.level3 = {
            code: code in codes_by_parent for code in all_codes if specialty_level(code) == 3
        }
        self.used_ids = set(used_id_numbers)
        self.homes_weighted: list[tuple[str, int]] = []
        for pref, _, _, counties in PREFECTURES:
            share = HOME_WEIGHTS[pref] * 60
            for i, (county, _) in enumerate(counties):
                # The seat county holds about half of its prefecture's experts.
                weight = share // 2 if i == 0 else share // (2 * (len(counties) - 1))
                if len(counties) == 1:
                    weight = share
                self.homes_weighted.append((county, weight))


class ExpertFactory:
    """Makes one expert and the rows that hang off it, from a random stream."""

    def __init__(self, rng: random.Random, context: Context) -> None:
        self.rng = rng
        self.ctx = context
        self.surname_weights = [(s, max(1, 60 - i)) for i, s in enumerate(SURNAMES)]

    def name(self) -> str:
        rng = self.rng
        surname = _weighted(rng, self.surname_weights)
        given = _pick(rng, GIVEN) + (_pick(rng, GIVEN) if rng.random() < 0.65 else "")
        return surname + given

    def id_number(self, region: str, clean: bool) -> tuple[str, date]:
        rng = self.rng
        while True:
            born = _day(
                rng, date(1960, 1, 1), date(1990, 12, 31) if not clean else date(1980, 1, 1)
            )
            first17 = f"{region}{born:%Y%m%d}{_below(rng, 1000):03d}"
            number = first17 + codes.id_check_char(first17)
            if number not in self.ctx.used_ids:
                self.ctx.used_ids.add(number)
                return number, born

    def phone(self) -> str:
        return _pick(self.rng, PHONE_PREFIXES) + f"{_below(self.rng, 100_000_000):08d}"

    def specialties(self, kind: str) -> list[str]:
        rng = self.rng
        if kind == "economic":
            area = _weighted(rng, ECONOMIC_AREAS)
            picks = [self._pick_under(area)]
            extra_areas = ECONOMIC_AREAS
        else:
            area = _weighted(rng, TECHNICAL_AREAS)
            picks = [self._pick_under(area)]
            extra_areas = TECHNICAL_AREAS
        for _ in range(_weighted(rng, ((0, 45), (1, 40), (2, 15)))):
            source = area if rng.random() < 0.6 else _weighted(rng, extra_areas)
            code = self._pick_under(source)
            if code not in picks:
                picks.append(code)
        return picks

    def _pick_under(self, area: str) -> str:
        rng = self.rng
        leaf = _pick(rng, self.ctx.leaves_under[area])
        level3 = leaf[:5]
        if self.ctx.level3.get(level3) and rng.random() < 0.2:
            return level3
        return leaf

    def make(self, code: str, clean: bool = False) -> dict[str, list[dict[str, str]]]:
        """One expert: its ``experts`` row and its specialties, employments, relations..."""
        rng, ctx = self.rng, self.ctx
        home = _weighted(rng, ctx.homes_weighted)
        if clean:
            home = {"E0000001": "530102", "E0000002": "532901"}.get(code, home)
        id_number, born = self.id_number(home, clean)
        kind = "economic" if rng.random() < 0.25 else "technical"
        if clean:
            kind = "technical" if code == "E0000001" else "economic"
        title = _weighted(rng, TECHNICAL_TITLES if kind == "technical" else ECONOMIC_TITLES)
        status = _weighted(rng, (("active", 92), ("suspended", 4), ("retired", 4)))
        if born.year < 1964 and rng.random() < 0.3:
            status = "retired"
        expiry = (
            _day(rng, date(2025, 6, 1), REFERENCE_DATE - timedelta(days=1))
            if rng.random() < 0.03
            else _day(rng, date(2027, 1, 1), date(2031, 12, 31))
        )
        confirmed = (
            _day(rng, date(2023, 6, 1), REFERENCE_DATE - timedelta(days=366))
            if rng.random() < 0.15
            else _day(rng, REFERENCE_DATE - timedelta(days=364), REFERENCE_DATE)
        )
        if clean:
            status, expiry = "active", date(2030, 12, 31)
            confirmed = REFERENCE_DATE - timedelta(days=30)
        specialties = self.specialties(kind)
        if clean:
            specialties = ["A010101", "A0101"] if kind == "technical" else ["C030101"]
        employer, employments = self.employments(home, born, retired=status == "retired")
        email = f"{code.lower()}@experts.example.cn" if rng.random() < 0.7 else ""
        expert = {
            "code": code,
            "name": self.name(),
            "id_number": id_number,
            "phone": self.phone(),
            "email": email,
            "home_region": home,
            "employer_uscc": employer,
            "title": title,
            "kind": kind,
            "status": status,
            "qualification_expiry": _iso(expiry),
            "data_confirmed_on": _iso(confirmed),
        }
        rows: dict[str, list[dict[str, str]]] = {
            "experts": [expert],
            "expert_specialties": [{"expert_code": code, "specialty_code": s} for s in specialties],
            "employments": [{"expert_code": code, **e} for e in employments],
            "relations": [],
            "penalties": [],
            "leaves": [],
        }
        if clean:
            return rows
        rows["relations"] = self.relations(code, employer)
        rows["penalties"] = self.penalties(code)
        rows["leaves"] = self.leaves(code)
        return rows

    def _org(self, kind: str) -> str:
        return _pick(self.rng, self.ctx.by_kind[kind])["uscc"]

    def _employer_for(self, home: str) -> str:
        rng, ctx = self.rng, self.ctx
        kind = _weighted(
            rng,
            (("employer", 80), ("bidder", 9), ("agency", 5), ("tenderer", 4), ("authority", 2)),
        )
        local = ctx.employers_by_prefecture.get(home[:4] + "00")
        if kind == "employer" and local and rng.random() < 0.6:
            return _pick(rng, local)
        return self._org(kind)

    def employments(self, home: str, born: date, retired: bool) -> tuple[str, list[dict[str, str]]]:
        rng = self.rng
        periods = _weighted(rng, ((1, 55), (2, 33), (3, 12)))
        career_start = date(born.year + 23, 7, 1)
        start = max(career_start, date(1985, 7, 1))
        spans: list[tuple[str, date, date | None]] = []
        latest = REFERENCE_DATE - timedelta(days=180)
        for i in range(periods):
            last = i == periods - 1
            if start >= latest:
                break
            org = self._employer_for(home)
            if any(org == s[0] for s in spans):
                continue
            if last:
                spans.append((org, start, None))
            else:
                end = _day(
                    rng, start + timedelta(days=365), max(start + timedelta(days=365), latest)
                )
                if end >= latest:
                    spans.append((org, start, None))
                    break
                spans.append((org, start, end))
                start = end + timedelta(days=1)
        employer = ""
        rows = [
            {
                "organisation_uscc": org,
                "relation": "employee",
                "start": _iso(s),
                "end": _iso(e),
            }
            for org, s, e in spans
        ]
        if spans and spans[-1][2] is None:
            employer = spans[-1][0]
        if retired and spans and spans[-1][2] is None:
            retire_day = _day(rng, date(2020, 1, 1), REFERENCE_DATE - timedelta(days=30))
            if retire_day > spans[-1][1]:
                rows[-1]["end"] = _iso(retire_day)
                employer = ""
        if rng.random() < 0.05:
            # An advisory role for a bidder, recent: the party-former rule's cases.
            s = _day(rng, date(2022, 1, 1), date(2026, 6, 30))
            e = _day(rng, s, REFERENCE_DATE) if rng.random() < 0.6 else None
            org = self._org("bidder")
            rows.append(
                {"organisation_uscc": org, "relation": "adviser", "start": _iso(s), "end": _iso(e)}
            )
        return employer, rows

    def relations(self, code: str, employer: str) -> list[dict[str, str]]:
        rng = self.rng
        rows: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()
        if rng.random() < 0.06:
            for _ in range(_between(rng, 1, 2)):
                kind = _weighted(rng, (("bidder", 60), ("tenderer", 20), ("agency", 20)))
                seen.add((self._org(kind), "relative"))
        if rng.random() < 0.05:
            for _ in range(_between(rng, 1, 2)):
                kind = _weighted(rng, (("bidder", 70), ("agency", 20), ("tenderer", 10)))
                seen.add((self._org(kind), "declared"))
        for org, kind in sorted(seen):
            if org == employer:
                continue
            at = datetime(2023, 1, 1) + timedelta(
                seconds=_below(rng, 3 * 365 * 86400 + 300 * 86400)
            )
            rows.append(
                {
                    "expert_code": code,
                    "organisation_uscc": org,
                    "kind": kind,
                    "declared_at": _cst(at),
                }
            )
        return rows

    def penalties(self, code: str) -> list[dict[str, str]]:
        rng = self.rng
        if rng.random() >= 0.03:
            return []
        kind = _weighted(rng, (("administrative", 80), ("blacklist", 14), ("criminal", 6)))
        start = _day(rng, date(2019, 1, 1), REFERENCE_DATE - timedelta(days=10))
        note, days = _pick(rng, PENALTY_NOTES[kind])
        end = None if days is None else start + timedelta(days=days)
        return [
            {
                "expert_code": code,
                "kind": kind,
                "start": _iso(start),
                "end": _iso(end),
                "note": note,
            }
        ]

    def leaves(self, code: str) -> list[dict[str, str]]:
        rng = self.rng
        if rng.random() >= 0.05:
            return []
        rows = []
        first = _day(rng, date(2026, 11, 20), date(2027, 2, 28))
        for _ in range(_between(rng, 1, 2)):
            if first > date(2027, 3, 15):
                break
            days = _between(rng, 1, 21)
            start = datetime(first.year, first.month, first.day)
            end = start + timedelta(days=days)
            rows.append({"expert_code": code, "start": _cst(start), "end": _cst(end)})
            first = end.date() + timedelta(days=_between(rng, 10, 40))
        return rows


# --------------------------------------------------------------------------- tables


def regions() -> list[dict[str, str]]:
    rows = [{"code": PROVINCE[0], "name": PROVINCE[1], "level": "province", "parent_code": ""}]
    for code, name, _, _ in PREFECTURES:
        rows.append({"code": code, "name": name, "level": "prefecture", "parent_code": PROVINCE[0]})
    for code, _, _, counties in PREFECTURES:
        for county, county_name in sorted(counties):
            rows.append(
                {"code": county, "name": county_name, "level": "county", "parent_code": code}
            )
    return rows


def specialties() -> list[dict[str, str]]:
    return [
        {
            "code": code,
            "name": name,
            "level": str(specialty_level(code)),
            "parent_code": specialty_parent(code),
        }
        for code, name in _specialties()
    ]


class _OrgMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.usccs: set[str] = set()
        self.rows: list[dict[str, str]] = []

    def uscc(self, prefix: str, region: str) -> str:
        rng = self.rng
        while True:
            if prefix == "91" and rng.random() < 0.5:
                body = "MA" + "".join(_pick(rng, ORG_CODE_CHARS) for _ in range(6))
            else:
                body = f"{10_000_000 + _below(rng, 90_000_000)}"
            first17 = prefix + region + body + _org_code_check(body)
            value = first17 + codes.uscc_check_char(first17)
            if value not in self.usccs:
                self.usccs.add(value)
                return value

    def add(self, name: str, kind: str, region: str, prefix: str, parent: str = "") -> str | None:
        if name in self.names:
            return None
        self.names.add(name)
        value = self.uscc(prefix, region)
        self.rows.append(
            {
                "uscc": value,
                "name": name,
                "kind": kind,
                "region_code": region,
                "parent_uscc": parent,
            }
        )
        return value


def _place(rng: random.Random, zhaotong_share: float) -> tuple[str, str]:
    """(region code, place name) for an organisation: Zhaotong-heavy, then the province."""
    pref = ZHAOTONG if rng.random() < zhaotong_share else _weighted(rng, HOME_WEIGHT_PAIRS)
    counties = next(c for p, _, _, c in PREFECTURES if p == pref)
    if rng.random() < 0.3:
        return pref, PREFECTURE_NAME[pref]
    county, county_name = _pick(rng, counties)
    return county, county_name


def organisations(rng: random.Random) -> list[dict[str, str]]:
    """About 400 organisations of the five kinds, with valid unified social credit codes."""
    maker = _OrgMaker(rng)
    # Authorities: the province, Zhaotong and its counties, and a few prefectures.
    for dept in ("住房和城乡建设厅", "交通运输厅", "水利厅", "发展和改革委员会", "财政厅"):
        maker.add(f"云南省{dept}", "authority", "530000", "11")
    for dept in AUTHORITY_DEPARTMENTS:
        maker.add(f"昭通市{dept}", "authority", ZHAOTONG, "11")
    for county in ("530602", "530621", "530627", "530628", "530625", "530681"):
        for dept in ("住房和城乡建设局", "交通运输局"):
            maker.add(f"{COUNTY_NAMES[county]}{dept}", "authority", county, "11")
    for pref in ("530100", "530300", "532900"):
        maker.add(f"{PREFECTURE_NAME[pref]}住房和城乡建设局", "authority", pref, "11")
    # Tenderers.
    while sum(r["kind"] == "tenderer" for r in maker.rows) < 60:
        region, place = _place(rng, 0.6)
        template, prefix = _pick(rng, TENDERER_TEMPLATES)
        maker.add(template.format(place=place), "tenderer", region, prefix)
    # Agencies.
    while sum(r["kind"] == "agency" for r in maker.rows) < 40:
        region, _ = _place(rng, 0.5)
        city = "云南" if rng.random() < 0.5 else PREFECTURE_SHORT[region[:4] + "00"]
        name = f"{city}{_pick(rng, TRADE_NAMES)}{_pick(rng, AGENCY_SUFFIXES)}"
        maker.add(name, "agency", region, "91")
    # Bidders, some of them groups with subsidiaries (parent organisations).
    groups: list[tuple[str, str, str]] = []
    while len(groups) < 6:
        region, _ = _place(rng, 0.4)
        trade = _pick(rng, TRADE_NAMES)
        value = maker.add(f"云南{trade}建设集团有限公司", "bidder", region, "91")
        if value:
            groups.append((value, trade, region))
    for value, trade, region in groups:
        for n in range(1, _between(rng, 2, 3) + 1):
            ordinal = "一二三"[n - 1]
            maker.add(f"云南{trade}建设集团第{ordinal}工程有限公司", "bidder", region, "91", value)
    while sum(r["kind"] == "bidder" for r in maker.rows) < 160:
        region, _ = _place(rng, 0.45)
        city = "云南" if rng.random() < 0.4 else PREFECTURE_SHORT[region[:4] + "00"]
        name = f"{city}{_pick(rng, TRADE_NAMES)}{_pick(rng, BIDDER_SUFFIXES)}"
        maker.add(name, "bidder", region, "91")
    # Employers of experts: design institutes, consultancies, colleges...
    parent_institute = ""
    while sum(r["kind"] == "employer" for r in maker.rows) < 120:
        region, _ = _place(rng, 0.15)
        suffix = _pick(rng, EMPLOYER_SUFFIXES)
        city = "云南" if rng.random() < 0.35 else PREFECTURE_SHORT[region[:4] + "00"]
        prefix = "12" if suffix == "职业技术学院" else "31" if suffix == "律师事务所" else "91"
        name = f"{city}{_pick(rng, TRADE_NAMES)}{suffix}"
        parent = ""
        if parent_institute and suffix == "勘察设计有限公司" and rng.random() < 0.4:
            parent = parent_institute
        value = maker.add(name, "employer", region, prefix, parent)
        if value and not parent_institute and suffix == "建筑设计研究院有限公司":
            parent_institute = value
    return maker.rows


def venues(rng: random.Random) -> dict[str, list[dict[str, str]]]:
    """Zhaotong's venues as in the article, and one venue in each other prefecture."""
    out: dict[str, list[dict[str, str]]] = {"venues": [], "rooms": [], "workstations": []}

    def add(venue: str, region: str, name: str, address: str, layout: Sequence[int]) -> None:
        out["venues"].append(
            {"id": venue, "name": name, "region_code": region, "address": address, "active": "1"}
        )
        for r, count in enumerate(layout, start=1):
            room = f"{venue}-R{r:02d}"
            out["rooms"].append(
                {"id": room, "venue_id": venue, "name": f"评标室{r:02d}", "active": "1"}
            )
            for w in range(1, count + 1):
                out["workstations"].append(
                    {"id": f"{room}-W{w:02d}", "room_id": room, "active": "1"}
                )

    for venue in ZHAOTONG_VENUES:
        add(*venue)
    roads = ("人民路", "建设路", "民族路", "新城大道", "政务中心路", "迎宾路", "滨江路", "北京路")
    for pref, name, short, counties in PREFECTURES:
        if pref == ZHAOTONG:
            continue
        seat, seat_name = counties[0]
        layout = [_between(rng, 4, 6) for _ in range(_between(rng, 2, 4))]
        address = (
            f"云南省{name}{seat_name}{_pick(rng, roads)}{_between(rng, 1, 399)}号"
            f"政务服务中心{_between(rng, 2, 6)}楼"
        )
        add(
            f"V{seat}", seat, f"{short}公共资源交易中心" if short != name else name, address, layout
        )
    return out


def experts(rng: random.Random, context: Context) -> dict[str, list[dict[str, str]]]:
    """The seed pool: ``SEED_EXPERTS`` experts E0000001..."""
    factory = ExpertFactory(rng, context)
    out: dict[str, list[dict[str, str]]] = {k: [] for k in POOL_TABLES}
    for n in range(1, SEED_EXPERTS + 1):
        code = f"E{n:07d}"
        for table, rows in factory.make(code, clean=n <= 2).items():
            out[table].extend(rows)
    return out


def users() -> list[dict[str, str]]:
    """Demo logins, one or more per role; password = ``<username>-demo-2026``."""
    spec = (
        ("admin", "admin", "", ""),
        ("manager", "project_manager", "", ""),
        ("supervisor1", "supervisor", "", ""),
        ("supervisor2", "supervisor", "", ""),
        ("supervisor3", "supervisor", "", ""),
        ("expert1", "expert", "E0000001", ""),
        ("expert2", "expert", "E0000002", ""),
        ("venue1", "venue_staff", "", "V530602"),
    )
    return [
        {
            "username": username,
            "password": f"{username}-demo-2026",
            "role": role,
            "expert_code": expert,
            "venue_id": venue,
            "language": "zh",
        }
        for username, role, expert, venue in spec
    ]


def generate() -> dict[str, list[dict[str, str]]]:
    """All seed tables, in dependency order."""
    rng = random.Random(SEED)
    tables: dict[str, list[dict[str, str]]] = {
        "regions": regions(),
        "specialties": specialties(),
    }
    tables["organisations"] = organisations(rng)
    tables.update(venues(rng))
    context = Context(tables["organisations"], tables["specialties"])
    tables.update(experts(rng, context))
    tables["users"] = users()
    return tables


def iter_extra_experts(
    count: int,
    *,
    first_number: int,
    organisations: Iterable[dict[str, str]],
    specialties: Iterable[dict[str, str]],
    used_id_numbers: Iterable[str],
    chunk: int = 10_000,
) -> Iterator[dict[str, list[dict[str, str]]]]:
    """``count`` more experts, codes from ``E{first_number:07d}``, in chunks of ``chunk``.

    The stream is ``random.Random(SEED + 1)``, consumed expert by expert, so the first k of a
    larger call equal a call with ``count = k``, whatever the chunk size.
    """
    rng = random.Random(SEED + 1)
    factory = ExpertFactory(rng, Context(organisations, specialties, used_id_numbers))
    last = first_number + count
    for low in range(first_number, last, chunk):
        out: dict[str, list[dict[str, str]]] = {k: [] for k in POOL_TABLES}
        for n in range(low, min(low + chunk, last)):
            for table, rows in factory.make(f"E{n:07d}").items():
                out[table].extend(rows)
        yield out


def extra_experts(count: int, **kwargs: Any) -> dict[str, list[dict[str, str]]]:
    """All of ``iter_extra_experts`` in one set of tables."""
    out: dict[str, list[dict[str, str]]] = {k: [] for k in POOL_TABLES}
    for part in iter_extra_experts(count, **kwargs):
        for table, rows in part.items():
            out[table].extend(rows)
    return out


def write(out_dir: Path, tables: dict[str, list[dict[str, str]]] | None = None) -> list[Path]:
    """Write every table as ``<name>.csv`` into ``out_dir``; returns the paths."""
    tables = generate() if tables is None else tables
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, columns in COLUMNS.items():
        path = out_dir / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(tables[name])
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    args = parser.parse_args(argv)
    tables = generate()
    for path in write(args.out, tables):
        print(f"{path.name}: {len(tables[path.stem])} rows, {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
