"""Catalog search over real HTTP on the demo catalog: what people type (synonyms, pinyin, typos,
a sentence around the words that matter), why each service was found, and synonyms an admin adds
reaching a second node without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bookings import seed as demo
from bookings.keys import BOOKINGS
from bookings.search.index import SCORES
from hub.keys import CONTEXT
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import wait_until

SYNONYMS = "/api/v1/admin/search/synonyms"
RANK = {by: n for n, by in enumerate(SCORES)}  # name 0, category 1, ... fuzzy 6


async def seed(hub: RunningHub) -> RunningHub:
    async with hub.app[CONTEXT].pool.acquire() as conn:
        await demo.seed(conn)
    return hub


@pytest.fixture
async def seeded(hub: RunningHub) -> RunningHub:
    return await seed(hub)


async def search(hub: RunningHub, q: str, extra: str = "", token: str | None = None) -> list[dict[str, Any]]:
    status, body = await hub.http("GET", f"/api/v1/services?q={quote(q)}{extra}", token)
    assert status == 200, body
    found: list[dict[str, Any]] = body["items"]
    return found


async def ids(hub: RunningHub, q: str, extra: str = "") -> list[str]:
    return [s["id"] for s in await search(hub, q, extra)]


@pytest.mark.parametrize(
    ("q", "first", "by", "term"),
    [
        # The seed's own example: "look after a child" names no service, but it means the nanny.
        ("照顾小孩", "nanny-hourly", "synonym", "照顾小孩"),
        ("我想找人照顾小孩", "nanny-hourly", "synonym", "照顾小孩"),  # extra words around it
        ("看孩子", "nanny-hourly", "synonym", "看孩子"),
        ("babysitter", "nanny-hourly", "synonym", "babysitter"),
        ("I need a babysitter", "nanny-hourly", "synonym", "babysitter"),
        ("坐月子", "maternity-nurse-26d", "synonym", "坐月子"),
        ("newborn care", "maternity-nurse-26d", "synonym", "newborn care"),
        ("擦玻璃", "window-cleaning", "name", "擦玻璃"),
        ("擦窗户", "window-cleaning", "synonym", "擦窗户"),
        ("油烟机", "range-hood-cleaning", "name", "油烟机清洗"),
        ("照顾老人", "elder-care-hourly", "synonym", "照顾老人"),
        ("caregiver", "elder-care-hourly", "synonym", "caregiver"),
        ("陪诊", "hospital-escort", "name", "医院陪诊"),
        ("陪同看病", "hospital-escort", "synonym", "陪同看病"),
        # Pinyin: full, initials, syllable by syllable, and a homophone a pinyin keyboard picked.
        ("yuesao", "maternity-nurse-26d", "pinyin", "月嫂"),
        ("ys", "maternity-nurse-26d", "pinyin", "月嫂"),
        ("zhaogu xiaohai", "nanny-hourly", "pinyin", "照顾小孩"),
        ("zhao gu xiao hai", "nanny-hourly", "pinyin", "照顾小孩"),
        ("baomu", "nanny-hourly", "pinyin", "保姆"),
        ("越嫂", "maternity-nurse-26d", "pinyin", "月嫂"),
        # Typos.
        ("nany", "nanny-hourly", "fuzzy", "nanny"),
        ("babysiter", "nanny-hourly", "fuzzy", "babysitter"),
        ("cleening", "daily-cleaning", "fuzzy", "cleaning"),
        ("照看小孩", "nanny-hourly", "synonym", "看小孩"),
        ("yuesai", "maternity-nurse-26d", "fuzzy", "月嫂"),
    ],
)
async def test_what_people_type_finds_what_they_mean(
    seeded: RunningHub, q: str, first: str, by: str, term: str
) -> None:
    found = await search(seeded, q)
    assert found, q
    assert found[0]["id"] == first, [s["id"] for s in found]
    assert found[0]["matched"]["by"] == by, found[0]["matched"]
    assert found[0]["matched"]["term"] == term, found[0]["matched"]


async def test_why_it_matched_names_the_part_of_the_query(seeded: RunningHub) -> None:
    [nanny] = await search(seeded, "我想找人照顾小孩")
    assert nanny["id"] == "nanny-hourly"
    assert nanny["matched"] == {"by": "synonym", "term": "照顾小孩", "query": "照顾小孩"}
    found = await search(seeded, "yuesao")
    assert found[0]["matched"] == {"by": "pinyin", "term": "月嫂", "query": "yuesao"}
    found = await search(seeded, "nany")
    assert found[0]["matched"] == {"by": "fuzzy", "term": "nanny", "query": "nany"}
    # Without q there is no search, and no reason.
    status, body = await seeded.http("GET", "/api/v1/services?category=nanny")
    assert status == 200
    assert body["items"][0]["matched"] is None


async def test_a_typo_among_right_words_still_narrows(seeded: RunningHub) -> None:
    # "widow" is taken for "window": only window cleaning has both words.
    assert await ids(seeded, "widow cleaning") == ["window-cleaning"]
    found = await search(seeded, "widow cleaning")
    assert found[0]["matched"]["by"] == "name"  # its best match: "cleaning" in its name


@pytest.mark.parametrize("q", ["asdfghjkl", "qzxv", "火星旅行", "xyzzy plugh", "!!!", "的"])
async def test_nonsense_finds_nothing(seeded: RunningHub, q: str) -> None:
    assert await search(seeded, q) == []


@pytest.mark.parametrize("q", ["保洁", "cleaning", "老人", "月嫂", "baby", "care", "厨房", "kitchen"])
async def test_name_before_synonym_before_pinyin_before_fuzzy(seeded: RunningHub, q: str) -> None:
    """For one word, how a service matched orders the results: a name before a synonym, and so on."""
    found = await search(seeded, q)
    assert found
    ranks = [RANK[s["matched"]["by"]] for s in found]
    assert ranks == sorted(ranks), [(s["id"], s["matched"]) for s in found]


async def test_name_hits_rank_first(seeded: RunningHub) -> None:
    found = await search(seeded, "保洁")
    # 保洁 is in three names; window cleaning is found through its category, 深度保洁.
    assert [s["id"] for s in found[:3]] == ["daily-cleaning", "deep-cleaning", "move-in-cleaning"]
    assert {s["matched"]["by"] for s in found[:3]} == {"name"}
    assert "window-cleaning" in [s["id"] for s in found[3:]]


async def test_filters_apply_to_what_search_finds(seeded: RunningHub) -> None:
    assert await ids(seeded, "保洁", "&category=deep-cleaning") == [
        "deep-cleaning",
        "move-in-cleaning",
        "window-cleaning",
    ]
    # 150 minutes: daily and window cleaning allow it, deep cleaning (240 and up) does not.
    assert await ids(seeded, "打扫", "&duration_minutes=150") == ["daily-cleaning", "window-cleaning"]
    assert len(await ids(seeded, "cleaning", "&limit=2")) == 2


async def test_searches_share_one_index_until_the_catalog_changes(seeded: RunningHub) -> None:
    catalog_search = seeded.app[BOOKINGS].search
    await search(seeded, "保洁")
    index = await catalog_search.index()
    for typed in ("y", "yu", "yue", "yues", "yuesa", "yuesao"):  # keystrokes
        await search(seeded, typed)
    assert await catalog_search.index() is index
    admin = seeded.token("admin", demo.ADMIN_ID)
    status, _ = await seeded.http("POST", SYNONYMS, admin, json={"term": "家务帮手", "category_id": "nanny"})
    assert status == 201
    rebuilt = await catalog_search.index()
    assert rebuilt is not index
    assert rebuilt.version > index.version


async def test_an_inactive_service_is_not_found(seeded: RunningHub) -> None:
    pool = seeded.app[CONTEXT].pool
    await pool.execute("UPDATE services SET active = false WHERE id = 'hospital-escort'")
    # A change made by hand moves the version like any other; this node rebuilds within seconds.
    await wait_until(lambda: _lacks(seeded, "陪诊", "hospital-escort"))


async def _lacks(hub: RunningHub, q: str, service_id: str) -> bool:
    return service_id not in await ids(hub, q)


async def _finds(hub: RunningHub, q: str, service_id: str) -> bool:
    found = await ids(hub, q)
    return bool(found) and found[0] == service_id


async def test_a_synonym_added_on_one_node_is_found_on_another(start_hub: StartHub) -> None:
    node_a = await seed(await start_hub())
    node_b = await start_hub()
    assert await ids(node_b, "家务帮手") == []  # node b has built its index now
    admin = node_a.token("admin", demo.ADMIN_ID)
    status, added = await node_a.http(
        "POST", SYNONYMS, admin, json={"term": "家务帮手", "service_id": "daily-cleaning"}
    )
    assert status == 201, added
    assert added["term"] == "家务帮手"
    assert (added["service_id"], added["category_id"], added["created_by"]) == (
        "daily-cleaning",
        None,
        demo.ADMIN_ID,
    )
    assert await _finds(node_a, "家务帮手", "daily-cleaning")  # at once where it was added
    await wait_until(lambda: _finds(node_b, "家务帮手", "daily-cleaning"))  # within seconds elsewhere
    [found] = await search(node_b, "家务帮手")
    assert found["matched"] == {"by": "synonym", "term": "家务帮手", "query": "家务帮手"}

    # A category's synonym finds every service of the category.
    status, by_category = await node_a.http(
        "POST", SYNONYMS, admin, json={"term": "Home Helper", "category_id": "elder-care"}
    )
    assert status == 201, by_category
    assert by_category["term"] == "home helper"  # stored normalised
    await wait_until(lambda: _same(node_b, "home helper", ["elder-care-hourly", "hospital-escort"]))

    status, _ = await node_a.http("DELETE", f"{SYNONYMS}/{added['id']}", admin)
    assert status == 204
    await wait_until(lambda: _lacks(node_b, "家务帮手", "daily-cleaning"))


async def _same(hub: RunningHub, q: str, expected: list[str]) -> bool:
    return await ids(hub, q) == expected


async def test_synonyms_are_listed_and_refused_when_wrong(seeded: RunningHub) -> None:
    admin = seeded.token("admin", demo.ADMIN_ID)
    status, body = await seeded.http("GET", SYNONYMS, seeded.token("support", demo.SUPPORT_ID))
    assert status == 200, body
    nanny = {s["term"] for s in body["items"] if s["category_id"] == "nanny"}
    assert {"照顾小孩", "babysitter", "看孩子"} <= nanny

    refusals = [
        ({"term": "照顾小孩", "category_id": "nanny"}, 409, "synonym_exists"),
        ({"term": "照顾小孩", "service_id": "no-such-service"}, 404, "service_not_found"),
        ({"term": "照顾小孩", "category_id": "no-such-category"}, 404, "category_not_found"),
        ({"term": "x", "service_id": "nanny-hourly", "category_id": "nanny"}, 422, "invalid_payload"),
        ({"term": "照顾小孩"}, 422, "invalid_payload"),
        ({"term": "!!", "category_id": "nanny"}, 422, "invalid_synonym"),
        ({"term": "x", "category_id": "nanny"}, 422, "invalid_synonym"),
        ({"term": "a" * 51, "category_id": "nanny"}, 422, "invalid_payload"),
        ({"term": "a\nb", "category_id": "nanny"}, 422, "invalid_payload"),
    ]
    for body_in, status_out, code in refusals:
        status, answer = await seeded.http("POST", SYNONYMS, admin, json=body_in)
        assert (status, answer["error"]["code"]) == (status_out, code), body_in
    status, _ = await seeded.http(
        "POST",
        SYNONYMS,
        seeded.token("support", demo.SUPPORT_ID),
        json={"term": "ab", "category_id": "nanny"},
    )
    assert status == 403
    status, answer = await seeded.http("DELETE", f"{SYNONYMS}/00000000-0000-0000-0000-000000000000", admin)
    assert (status, answer["error"]["code"]) == (404, "synonym_not_found")
    status, after = await seeded.http("GET", SYNONYMS, admin)
    assert len(after["items"]) == len(body["items"])  # nothing refused was kept


async def test_the_demo_seed_keeps_an_admins_synonyms(seeded: RunningHub) -> None:
    admin = seeded.token("admin", demo.ADMIN_ID)
    status, _ = await seeded.http(
        "POST", SYNONYMS, admin, json={"term": "阿姨", "category_id": "daily-cleaning"}
    )
    assert status == 201
    await seed(seeded)
    status, body = await seeded.http("GET", SYNONYMS, admin)
    terms = [(s["term"], s["category_id"], s["service_id"]) for s in body["items"]]
    assert ("阿姨", "daily-cleaning", None) in terms
    curated = sum(map(len, demo.CATEGORY_SYNONYMS.values())) + sum(map(len, demo.SERVICE_SYNONYMS.values()))
    assert len(terms) == len(set(terms)) == curated + 1  # seeding again added nothing twice


def test_the_docs_list_every_curated_synonym() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "bookings.md").read_text(encoding="utf-8")
    table = {line.split(" | ")[0].strip("| "): line for line in docs.splitlines() if line.startswith("| ")}
    for target, terms in [*demo.CATEGORY_SYNONYMS.items(), *demo.SERVICE_SYNONYMS.items()]:
        [row] = [line for head, line in table.items() if f"`{target}`" in head]
        assert row.rstrip(" |").endswith(", ".join(terms)), target
