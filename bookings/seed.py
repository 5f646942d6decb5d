# ruff: noqa: RUF001 - the demo text is Chinese, with its full-width punctuation
"""Demo data: the catalog, workers around Shanghai with vetting records, customers with addresses,
service packages on sale.

``python -m hub demo-seed`` (or ``await seed(conn)``) upserts everything under fixed ids, so running
it twice leaves the same data (certificate dates are relative to the day it runs). Two workers are
deliberately not bookable, to make vetting visible: ``worker-26`` is pending (identity not yet
checked) and ``worker-27`` has an expired health certificate. ``worker-12``'s elder-care
certificate expires in three weeks.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pydantic

from bookings.reviews import ratings
from bookings.search.text import normalise
from bookings.storage import catalog as catalog_store
from bookings.storage import customers as customer_store
from bookings.storage import packages as package_store
from bookings.storage import reviews as review_store
from bookings.storage import search as search_store
from bookings.storage import workers as worker_store
from bookings.storage.catalog import ServiceRecord
from hub.storage.db import Conn

CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai
SUPPORT_ID = "support-01"
ADMIN_ID = "admin-01"
CATALOG_CREATED = datetime(2024, 1, 1, tzinfo=UTC)
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://homeservices.example/demo")

CATEGORIES = [
    ("daily-cleaning", "Daily cleaning", "日常保洁"),
    ("deep-cleaning", "Deep cleaning", "深度保洁"),
    ("appliance-cleaning", "Appliance cleaning", "家电清洗"),
    ("maternity-nurse", "Maternity nurse", "月嫂"),
    ("nanny", "Nanny", "育儿嫂"),
    ("elder-care", "Elder care", "养老护理"),
]


# fmt: off
SERVICES: list[ServiceRecord] = [
    ServiceRecord(
        "daily-cleaning", "daily-cleaning", "Daily home cleaning", "日常保洁",
        "Dusting, floors, kitchen and bathroom surfaces, tidying and taking out rubbish.",
        "除尘、拖地，厨房和卫生间台面清洁，整理收纳，倒垃圾。",
        "housekeeping hourly cleaner 钟点工 打扫 家政 保洁阿姨",
        "daily_cleaning", "hourly", 4500, 120, 180, 480, 30,
    ),
    ServiceRecord(
        "deep-cleaning", "deep-cleaning", "Deep cleaning", "深度保洁",
        "Top-to-bottom cleaning: kitchen grease, bathroom scale, inside cabinets, skirting boards.",
        "全屋深度清洁：厨房重油污、卫生间水垢、柜内清洁、踢脚线。",
        "spring cleaning thorough 大扫除 深度清洁 除螨",
        "deep_cleaning", "hourly", 6000, 240, 240, 600, 60,
    ),
    ServiceRecord(
        "window-cleaning", "deep-cleaning", "Window cleaning", "擦玻璃",
        "Inside and reachable outside glass, frames, tracks and screens; no work outside high-rise windows.",
        "室内及可安全触及的外侧玻璃、窗框、窗槽和纱窗清洁（不做高空外墙作业）。",
        "window glass washing 玻璃 擦窗 窗户 纱窗 清洗",
        "window_cleaning", "hourly", 5000, 120, 120, 360, 30,
    ),
    ServiceRecord(
        "move-in-cleaning", "deep-cleaning", "Move-in cleaning (up to 90 m²)", "开荒保洁（90平米以内）",
        "After renovation or before moving in: dust, paint and glue removal, windows and fittings.",
        "装修后或入住前：除尘、去除油漆胶渍，门窗和五金清洁。",
        "post-renovation new home 开荒 装修后 新房 入住",
        "deep_cleaning", "fixed", 68800, 360, 360, 480, 60,
    ),
    ServiceRecord(
        "ac-cleaning", "appliance-cleaning", "Air conditioner cleaning (wall unit)", "空调清洗（挂机）",
        "Filter, fins and fan wheel cleaned and disinfected without removing the unit.",
        "免拆清洗滤网、蒸发器翅片和风轮，并消毒。",
        "aircon air conditioning 空调 挂机 消毒",
        "appliance_cleaning", "fixed", 9900, 90, 90, 150, 30, worker_share_pct=75,
    ),
    ServiceRecord(
        "range-hood-cleaning", "appliance-cleaning", "Range hood cleaning", "油烟机清洗",
        "Fan, filters and oil cup disassembled and degreased.",
        "拆洗风轮、滤网和油杯，深度去油污。",
        "cooker hood kitchen 油烟机 抽油烟机 厨房",
        "appliance_cleaning", "fixed", 16800, 120, 120, 180, 30, worker_share_pct=75,
    ),
    ServiceRecord(
        "washing-machine-cleaning", "appliance-cleaning", "Washing machine cleaning", "洗衣机清洗",
        "Drum removed and descaled, mould and detergent residue cleaned away.",
        "拆筒清洗除垢，去除霉斑和洗涤剂残留。",
        "washer laundry 洗衣机 除垢 拆洗",
        "appliance_cleaning", "fixed", 12800, 90, 90, 150, 30, worker_share_pct=75,
    ),
    ServiceRecord(
        "maternity-nurse-26d", "maternity-nurse",
        "Maternity nurse, 26-day live-in package", "月嫂 26天住家套餐",
        "Newborn care, breastfeeding support, postpartum meals and recovery care, 26 days live-in.",
        "新生儿护理、母乳喂养指导、月子餐和产后恢复护理，住家26天。",
        "confinement postpartum newborn 月子 产后 新生儿 住家",
        "maternity_care", "fixed", 1580000, 37440, 37440, 37440, 1440, worker_share_pct=80,
    ),
    ServiceRecord(
        "nanny-hourly", "nanny", "Nanny (by the hour)", "育儿嫂（钟点）",
        "Child care for babies and toddlers: feeding, naps, play and early learning, light housework.",
        "婴幼儿照护：喂养、哄睡、陪玩和早教，兼做轻家务。",
        "child care babysitter childcare toddler 带娃 看孩子 保姆 早教",
        "childcare", "hourly", 4000, 240, 480, 600, 60,
    ),
    ServiceRecord(
        "elder-care-hourly", "elder-care", "Elder care at home", "居家养老陪护",
        "Companionship, meals, medication reminders, help with walking and personal care.",
        "陪伴聊天、做饭喂饭、提醒服药、协助行走和生活照料。",
        "elderly senior companion 老人 陪护 护工 照护",
        "elder_care", "hourly", 5000, 120, 240, 720, 60,
    ),
    ServiceRecord(
        "hospital-escort", "elder-care", "Hospital escort", "医院陪诊",
        "Registration, queues, pharmacy and getting home safely for an elderly patient.",
        "陪同挂号、排队、取药，安全送回家。",
        "hospital clinic appointment 陪诊 看病 挂号",
        "elder_care", "hourly", 6000, 180, 180, 480, 60,
    ),
]
# fmt: on

# fmt: off
# What people type for each category and service (the search synonyms, stored in
# ``search_synonyms`` where an admin extends them; docs/bookings.md lists them). A category's
# synonyms find every service of the category; a service's find that service alone.
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "daily-cleaning": (
        "保洁", "打扫", "打扫卫生", "搞卫生", "做卫生", "家政", "清洁", "钟点工", "小时工", "保洁阿姨",
        "housekeeping", "housekeeper", "cleaning", "cleaner", "maid",
    ),
    "deep-cleaning": (
        "保洁", "打扫", "搞卫生", "家政", "清洁", "大扫除", "全屋清洁", "cleaning", "spring cleaning",
    ),
    "appliance-cleaning": ("家电清洗", "清洗家电", "家电", "appliance", "appliances"),
    "maternity-nurse": (
        "月嫂", "坐月子", "月子", "产后护理", "产后", "新生儿护理", "新生儿", "母婴护理", "催乳",
        "newborn care", "newborn", "postpartum", "confinement", "maternity",
    ),
    "nanny": (
        "照顾小孩", "看孩子", "看小孩", "带孩子", "带娃", "看娃", "小孩", "孩子", "宝宝", "婴儿", "幼儿",
        "保姆", "育儿嫂", "育婴", "早教", "babysitter", "babysitting", "childcare", "child care",
        "kids", "child", "children", "baby", "toddler",
    ),
    "elder-care": (
        "老人", "照顾老人", "陪护", "护工", "看护", "养老", "老年人", "长辈", "陪老人", "caregiver",
        "carer", "elderly", "senior care", "elder care",
    ),
}
SERVICE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "window-cleaning": (
        "擦窗户", "擦玻璃", "擦窗", "洗窗户", "清洗玻璃", "window washing", "window cleaner",
    ),
    "move-in-cleaning": ("开荒", "开荒保洁", "装修后保洁", "新房打扫", "入住前保洁", "after builders"),
    "ac-cleaning": ("空调清洗", "洗空调", "空调", "aircon", "air con", "air conditioner"),
    "range-hood-cleaning": (
        "油烟机", "抽油烟机", "油烟机清洗", "洗油烟机", "烟机", "cooker hood", "extractor hood",
    ),
    "washing-machine-cleaning": ("洗衣机清洗", "洗衣机", "washer", "washing machine"),
    "hospital-escort": ("陪诊", "陪看病", "陪同就医", "陪同看病", "hospital escort"),
}
# fmt: on

# (name, gender, birth year, years of experience, skills, home town)
WORKERS: list[tuple[str, str, int, int, tuple[str, ...], str]] = [
    ("王秀英", "female", 1974, 12, ("daily_cleaning", "deep_cleaning", "window_cleaning"), "安徽六安"),
    ("李桂兰", "female", 1970, 15, ("maternity_care", "childcare"), "江苏盐城"),
    ("张丽", "female", 1983, 6, ("daily_cleaning", "window_cleaning"), "河南信阳"),
    ("刘芳", "female", 1979, 9, ("childcare", "daily_cleaning"), "四川达州"),
    ("陈建国", "male", 1978, 10, ("appliance_cleaning", "deep_cleaning"), "江西上饶"),
    ("杨春梅", "female", 1976, 11, ("elder_care", "daily_cleaning"), "安徽安庆"),
    ("赵敏", "female", 1988, 4, ("maternity_care", "childcare"), "湖北黄冈"),
    ("黄玉珍", "female", 1968, 18, ("elder_care",), "上海崇明"),
    ("周伟", "male", 1985, 7, ("appliance_cleaning", "window_cleaning"), "浙江衢州"),
    ("吴红梅", "female", 1980, 8, ("deep_cleaning", "daily_cleaning", "window_cleaning"), "安徽阜阳"),
    ("徐小燕", "female", 1990, 2, ("daily_cleaning",), "江苏宿迁"),
    ("孙淑珍", "female", 1972, 13, ("elder_care", "childcare"), "山东临沂"),
    ("胡海波", "male", 1982, 9, ("appliance_cleaning",), "湖南邵阳"),
    ("朱美华", "female", 1975, 14, ("maternity_care",), "江苏南通"),
    ("高翠兰", "female", 1977, 10, ("childcare", "maternity_care"), "河南周口"),
    ("林晓琳", "female", 1992, 3, ("daily_cleaning", "window_cleaning"), "福建三明"),
    ("何秀梅", "female", 1973, 16, ("elder_care", "daily_cleaning"), "重庆万州"),
    ("郭磊", "male", 1987, 5, ("deep_cleaning", "window_cleaning", "appliance_cleaning"), "山东菏泽"),
    ("马春华", "female", 1981, 7, ("childcare",), "甘肃天水"),
    ("罗桂芳", "female", 1969, 20, ("maternity_care", "childcare"), "江西九江"),
    ("梁静", "female", 1986, 6, ("daily_cleaning", "deep_cleaning"), "广西桂林"),
    ("宋玉兰", "female", 1971, 12, ("elder_care",), "安徽滁州"),
    ("郑红", "female", 1984, 8, ("childcare", "daily_cleaning"), "浙江温州"),
    ("谢志强", "male", 1980, 11, ("deep_cleaning", "appliance_cleaning"), "湖北孝感"),
    ("韩雪", "female", 1994, 1, ("daily_cleaning",), "黑龙江齐齐哈尔"),
    ("唐凤英", "female", 1975, 9, ("elder_care", "daily_cleaning"), "四川南充"),
    ("冯小红", "female", 1989, 4, ("maternity_care", "childcare"), "河南南阳"),
]
PENDING_WORKER = "worker-26"
EXPIRED_WORKER = "worker-27"
EXPIRING_WORKER = "worker-12"

SKILL_ZH = {
    "daily_cleaning": "日常保洁",
    "deep_cleaning": "深度保洁",
    "window_cleaning": "擦玻璃",
    "appliance_cleaning": "家电清洗",
    "maternity_care": "月嫂",
    "childcare": "育儿",
    "elder_care": "老人护理",
}
TRAINING = {
    "daily_cleaning": "家政服务员（中级）培训结业",
    "deep_cleaning": "深度保洁与清洁剂安全使用培训",
    "window_cleaning": "登高作业安全培训",
    "appliance_cleaning": "家电清洗技师培训（空调、油烟机、洗衣机）",
    "maternity_care": "母婴护理师（高级）证书课程",
    "childcare": "育婴员（四级）培训、婴幼儿急救培训",
    "elder_care": "养老护理员（四级）培训、老年人照护与防跌倒培训",
}
CASES = {
    "daily_cleaning": ("三居室每周两次保洁", "为一家四口长期做每周两次的日常保洁，服务两年多。"),
    "deep_cleaning": ("140平米全屋深度清洁", "厨房重油污、卫生间水垢和全屋柜体清洁，一天完成。"),
    "window_cleaning": ("高层住宅全屋擦窗", "18扇窗户内外清洁（安全可及范围），含纱窗拆洗。"),
    "appliance_cleaning": ("整栋公寓空调集中清洗", "为一个小区的租赁公寓清洗挂机空调40余台。"),
    "maternity_care": ("双胞胎月子护理", "照护双胞胎新生儿26天，协助妈妈实现母乳喂养。"),
    "childcare": ("1岁宝宝长期育儿", "负责1到3岁宝宝的日常照护和早教游戏，家长评价很高。"),
    "elder_care": ("术后老人居家照护", "照护髋关节术后的八旬老人三个月，协助康复训练。"),
}
BIO_OPENING = {
    "daily_cleaning": "做事细致利落，收纳整理有一套",
    "deep_cleaning": "擅长厨房去油污和卫生间除垢",
    "window_cleaning": "擦窗经验丰富，注重安全",
    "appliance_cleaning": "熟悉各品牌空调、油烟机和洗衣机的拆洗",
    "maternity_care": "照护过上百个新生儿，会做月子餐",
    "childcare": "有耐心，懂婴幼儿辅食和早教",
    "elder_care": "性格温和，会测血压血糖，懂老人护理",
}

CUSTOMERS = [
    ("customer-01", "陈静", "13800001001"),
    ("customer-02", "刘洋", "13800001002"),
    ("customer-03", "王磊", "13800001003"),
    ("customer-04", "张婷", "13800001004"),
    ("customer-05", "李娜", "13800001005"),
    ("customer-06", "周杰", "13800001006"),
]
# (customer, label, line, lat, lng, default)
ADDRESSES = [
    ("customer-01", "家", "静安区南京西路1266号恒隆广场公寓12楼", 31.2297, 121.4520, True),
    ("customer-01", "父母家", "黄浦区复兴中路301弄5号", 31.2158, 121.4781, False),
    ("customer-02", "家", "浦东新区世纪大道100号环球金融中心公寓", 31.2353, 121.5055, True),
    ("customer-03", "家", "徐汇区漕溪北路88号", 31.1880, 121.4370, True),
    ("customer-04", "家", "长宁区愚园路1107号", 31.2204, 121.4247, True),
    ("customer-05", "家", "杨浦区国定路335号", 31.2990, 121.5140, True),
    ("customer-06", "家", "闵行区莘庄镇沁春路99弄", 31.1110, 121.3850, True),
]
# Service packages on sale (套餐): (service, name, visits, minutes per visit, price in cents, days valid)
PACKAGES = [
    ("daily-cleaning", "日常保洁 4 次卡 · Daily cleaning × 4", 4, 180, 48000, 90),
    ("deep-cleaning", "深度保洁 2 次卡 · Deep cleaning × 2", 2, 240, 43200, 180),
]
# (worker, customer, (quality, attitude, skill), comment, days ago)
REVIEWS = [
    ("worker-01", "customer-01", (5, 5, 5), "王阿姨干活特别仔细，厨房油污都擦干净了，准时到。", 3),
    ("worker-01", "customer-03", (5, 5, 5), "第三次预约了，很放心。", 12),
    ("worker-01", "customer-04", (5, 4, 3), "打扫得很干净，就是稍微晚到了十分钟。", 25),
    ("worker-02", "customer-02", (5, 5, 5), "李阿姨很专业，宝宝黄疸护理得很好，月子餐也好吃。", 40),
    ("worker-03", "customer-05", (5, 5, 5), "玻璃擦得锃亮，窗槽也清理了。", 6),
    ("worker-05", "customer-01", (5, 5, 5), "空调拆洗很专业，洗出来的水特别脏，现在出风清新。", 9),
    ("worker-05", "customer-06", (4, 4, 4), "油烟机洗得不错，价格透明。", 30),
    ("worker-06", "customer-01", (5, 5, 5), "杨阿姨对我父亲很有耐心，家里人都很满意。", 15),
    ("worker-08", "customer-04", (5, 5, 5), "经验丰富，老人很喜欢她。", 20),
    ("worker-10", "customer-02", (4, 5, 4), "深度保洁做了五个小时，细节到位。", 7),
    ("worker-13", "customer-03", (5, 5, 5), "洗衣机拆洗后异味没了，师傅很守时。", 18),
    ("worker-20", "customer-05", (5, 5, 5), "罗阿姨经验太丰富了，新手爸妈的定心丸。", 60),
]


class SeedSummary(pydantic.BaseModel):
    categories: int
    services: int
    synonyms: int  # the curated search synonyms (an admin's own are kept beside them)
    workers: int
    bookable_workers: int  # eligible for at least one of their skills today
    certificates: int
    reviews: int
    customers: int
    addresses: int
    customer_ids: list[str]
    worker_ids: list[str]
    support_id: str
    admin_id: str


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(_NS, "/".join(parts))


def worker_id(index: int) -> str:
    return f"worker-{index:02d}"


def _position(index: int) -> tuple[float, float]:
    """Spread over about 15 km around the centre (golden-angle spiral), deterministic."""
    angle = math.radians(index * 137.508)
    km = 1.2 + (index * 5.3) % 14.0
    lat = CENTRE[0] + km * math.cos(angle) / 111.0
    lng = CENTRE[1] + km * math.sin(angle) / (111.32 * math.cos(math.radians(CENTRE[0])))
    return round(lat, 6), round(lng, 6)


def _worker_row(index: int, entry: tuple[str, str, int, int, tuple[str, ...], str]) -> dict[str, Any]:
    name, gender, birth_year, years, skills, hometown = entry
    lat, lng = _position(index)
    main = skills[0]
    bio = (
        f"{hometown}人，从事{SKILL_ZH[main]}工作{years}年。{BIO_OPENING[main]}"
        + "".join(f"，{BIO_OPENING[s]}" for s in skills[1:2])
        + "。持健康证上岗，守时守信。"
    )
    cases = [
        {"title": CASES[s][0], "description": CASES[s][1], "year": 2024 - (i + index) % 4}
        for i, s in enumerate(skills[:2])
    ]
    return {
        "id": worker_id(index),
        "name": name,
        "gender": gender,
        "birth_year": birth_year,
        "photo_url": f"https://static.homeservices.example/workers/{worker_id(index)}.jpg",
        "phone": f"1390000{index:04d}",
        "years_experience": years,
        "skills": sorted(skills),
        "bio": bio,
        "area_lat": lat,
        "area_lng": lng,
        "area_radius_km": 6.0 + (index % 4) * 2.0,
        "training": [TRAINING[s] for s in skills],
        "past_cases": cases,
    }


def _certificates(index: int, skills: tuple[str, ...], today: date) -> list[dict[str, Any]]:
    wid = worker_id(index)
    health_expires = today + timedelta(days=120 + (index * 37) % 300)
    health_verified = wid != PENDING_WORKER
    if wid == EXPIRED_WORKER:
        health_expires = today - timedelta(days=12)
    certs = [
        {
            "id": _id("certificate", wid, "health"),
            "kind": "health",
            "skill": None,
            "number": f"沪健{today.year - 1}{index:05d}",
            "issued_on": health_expires - timedelta(days=365),
            "expires_on": health_expires,
            "verified": health_verified,
        }
    ]
    for n, skill in enumerate(skills):
        expires = today + timedelta(days=400 + (index * 53 + n * 91) % 700)
        if wid == EXPIRING_WORKER and skill == "elder_care":
            expires = today + timedelta(days=21)
        certs.append(
            {
                "id": _id("certificate", wid, skill),
                "kind": "skill",
                "skill": skill,
                "number": f"HS-{skill[:3].upper()}-{index:03d}{n}",
                "issued_on": expires - timedelta(days=3 * 365),
                "expires_on": expires,
                "verified": health_verified,
            }
        )
    return certs


async def _seed_synonyms(conn: Conn) -> int:
    """Add the curated synonyms that are not there; an admin's own stay, and a curated one they
    deleted comes back. How many are curated."""
    for category_id, terms in CATEGORY_SYNONYMS.items():
        for term in terms:
            await search_store.add_synonym(
                conn, normalise(term), service_id=None, category_id=category_id, created_by=None
            )
    for service_id, terms in SERVICE_SYNONYMS.items():
        for term in terms:
            await search_store.add_synonym(
                conn, normalise(term), service_id=service_id, category_id=None, created_by=None
            )
    return sum(map(len, CATEGORY_SYNONYMS.values())) + sum(map(len, SERVICE_SYNONYMS.values()))


async def seed(conn: Conn, today: date | None = None) -> SeedSummary:
    """Upsert the demo data (in one transaction) and say what is there."""
    if today is None:
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    async with conn.transaction():
        for position, (cid, name_en, name_zh) in enumerate(CATEGORIES, start=1):
            await catalog_store.upsert_category(conn, cid, name_en, name_zh, position * 10)
        for index, service in enumerate(SERVICES):
            # A second apart, in list order: the catalog lists services by creation time.
            await catalog_store.upsert_service(conn, service, CATALOG_CREATED + timedelta(seconds=index))
        synonyms = await _seed_synonyms(conn)
        worker_ids: list[str] = []
        certificates = 0
        for index, entry in enumerate(WORKERS, start=1):
            row = _worker_row(index, entry)
            wid = row["id"]
            worker_ids.append(wid)
            pending = wid == PENDING_WORKER
            vetted_at = datetime.combine(today - timedelta(days=30), time(10, 0), ZoneInfo("UTC"))
            await worker_store.upsert(
                conn,
                {
                    **row,
                    "vetting_status": "pending" if pending else "vetted",
                    "identity_verified": not pending,
                    "vetting_note": "等待身份证核验和健康证原件"
                    if pending
                    else "身份证、健康证和技能证书已核验",
                    "vetted_by": None if pending else ADMIN_ID,
                    "vetted_at": None if pending else vetted_at,
                },
            )
            for cert in _certificates(index, entry[4], today):
                certificates += 1
                await worker_store.upsert_certificate(conn, wid, cert)
        customer_ids = [c[0] for c in CUSTOMERS]
        for cid, name, phone in CUSTOMERS:
            await customer_store.upsert(conn, cid, name, phone)
        address_ids = [_id("address", a[0], a[1]) for a in ADDRESSES]
        # The demo's default addresses win over any default chosen since.
        await customer_store.clear_defaults_except(conn, customer_ids, address_ids)
        for address_id, (cid, label, line, lat, lng, default) in zip(address_ids, ADDRESSES, strict=True):
            address = {"label": label, "line": line, "city": "上海市", "lat": lat, "lng": lng}
            await customer_store.upsert_address(conn, address_id, cid, {**address, "is_default": default})
        for wid, cid, scores, comment, days in REVIEWS:
            created_at = datetime.combine(today - timedelta(days=days), time(12, 0), ZoneInfo("UTC"))
            review_id = _id("review", wid, cid)
            await review_store.upsert_demo(conn, review_id, wid, cid, scores, comment, created_at)
        for service_id, name, visits, minutes, price, days in PACKAGES:
            fields = {"service_id": service_id, "name": name, "visits": visits, "visit_minutes": minutes}
            fields |= {"price_cents": price, "validity_days": days}
            await package_store.add_package(conn, _id("package", service_id, str(visits)), fields)
        await ratings.rebuild(conn, worker_ids)  # as `python -m hub ratings-rebuild` does
        bookable = await worker_store.count_eligible(conn, worker_ids, today)
    return SeedSummary(
        categories=len(CATEGORIES),
        services=len(SERVICES),
        synonyms=synonyms,
        workers=len(worker_ids),
        bookable_workers=bookable,
        certificates=certificates,
        reviews=len(REVIEWS),
        customers=len(CUSTOMERS),
        addresses=len(ADDRESSES),
        customer_ids=customer_ids,
        worker_ids=worker_ids,
        support_id=SUPPORT_ID,
        admin_id=ADMIN_ID,
    )
