"""The catalog and the worker directory over real HTTP, on the demo data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bookings import seed as demo
from bookings.geo import distance_km
from hub.keys import CONTEXT
from tests.support.hubs import RunningHub


@pytest.fixture
async def seeded(hub: RunningHub) -> RunningHub:
    async with hub.app[CONTEXT].pool.acquire() as conn:
        await demo.seed(conn)
    return hub


async def service_ids(hub: RunningHub, query: str) -> list[str]:
    status, body = await hub.http("GET", f"/api/v1/services{query}")
    assert status == 200, body
    return [s["id"] for s in body["items"]]


async def test_categories_in_catalog_order(seeded: RunningHub) -> None:
    status, body = await seeded.http("GET", "/api/v1/catalog/categories")
    assert status == 200, body
    assert [c["id"] for c in body["items"]] == [c[0] for c in demo.CATEGORIES]
    counts = {c["id"]: c["service_count"] for c in body["items"]}
    assert counts["appliance-cleaning"] == 3
    assert counts["maternity-nurse"] == 1
    assert body["items"][0]["name_zh"] == "日常保洁"


async def test_service_price_summary_and_durations(seeded: RunningHub) -> None:
    status, body = await seeded.http("GET", "/api/v1/services/daily-cleaning")
    assert status == 200, body
    assert body["price"] == {
        "pricing": "hourly",
        "unit_price_cents": 4500,
        "min_minutes": 120,
        "from_cents": 9000,
    }
    assert body["durations"] == {
        "default_minutes": 180,
        "min_minutes": 120,
        "max_minutes": 480,
        "step_minutes": 30,
    }
    assert (body["opens_at"], body["closes_at"]) == ("08:00", "20:00")
    assert body["skill"] == "daily_cleaning"

    status, body = await seeded.http("GET", "/api/v1/services/maternity-nurse-26d")
    assert status == 200, body
    assert body["price"]["pricing"] == "fixed"
    assert body["price"]["from_cents"] == body["price"]["unit_price_cents"] == 1580000


@pytest.mark.parametrize("service_id", ["no-such-service", "A%20B", "%00", "x" * 300])
async def test_unknown_or_malformed_service_is_404(seeded: RunningHub, service_id: str) -> None:
    status, body = await seeded.http("GET", f"/api/v1/services/{service_id}")
    assert status == 404, body
    assert body["error"]["code"] == "service_not_found"


async def test_keyword_search_in_chinese_and_english(seeded: RunningHub) -> None:
    assert (await service_ids(seeded, "?q=擦玻璃"))[0] == "window-cleaning"
    assert (await service_ids(seeded, "?q=window"))[0] == "window-cleaning"
    assert (await service_ids(seeded, "?q=WINDOW%20玻璃")) == ["window-cleaning"]
    # Services must match every token that matches anything; a word found nowhere is left out.
    assert (await service_ids(seeded, "?q=window%20zzzz"))[0] == "window-cleaning"
    assert await service_ids(seeded, "?q=zzzz") == []
    # "child care" is a keyword of the nanny service.
    assert (await service_ids(seeded, "?q=child%20care"))[0] == "nanny-hourly"
    # Name hits rank before description or keyword hits: "空调" is in the AC service's name.
    assert (await service_ids(seeded, "?q=空调"))[0] == "ac-cleaning"


@pytest.mark.parametrize("q", ["%25", "_", "%5C", "%25%25"])
async def test_like_wildcards_are_taken_literally(seeded: RunningHub, q: str) -> None:
    assert await service_ids(seeded, f"?q={q}") == []


async def test_filters_by_category_and_duration(seeded: RunningHub) -> None:
    assert await service_ids(seeded, "?category=appliance-cleaning") == [
        "ac-cleaning",
        "range-hood-cleaning",
        "washing-machine-cleaning",
    ]
    # 150 minutes: daily cleaning (120..480 by 30), window cleaning (120..360 by 30), the AC and
    # washing machine jobs (90..150 by 30) and the range hood (120..180 by 30) allow it; deep
    # cleaning (240 and up), the nanny (240 and up) and elder care (120 and up by 60) do not.
    assert set(await service_ids(seeded, "?duration_minutes=150")) == {
        "daily-cleaning",
        "window-cleaning",
        "ac-cleaning",
        "washing-machine-cleaning",
        "range-hood-cleaning",
    }
    assert await service_ids(seeded, "?duration_minutes=135") == []
    assert await service_ids(seeded, "?category=nanny&duration_minutes=480") == ["nanny-hourly"]
    assert len(await service_ids(seeded, "?limit=2")) == 2


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?duration_minutes=abc",
        "?unknown=1",
        "?category=BAD%20ID",
        "?q=",
        "?q=a%00b",
    ],
)
async def test_invalid_service_queries_are_422(seeded: RunningHub, query: str) -> None:
    status, body = await seeded.http("GET", f"/api/v1/services{query}")
    assert status == 422, body
    assert body["error"]["code"] == "invalid_payload"


async def workers(hub: RunningHub, query: str = "") -> list[dict[str, object]]:
    status, body = await hub.http("GET", f"/api/v1/workers{query}")
    assert status == 200, body
    found: list[dict[str, object]] = body["items"]
    return found


async def test_only_eligible_workers_are_listed(seeded: RunningHub) -> None:
    listed = await workers(seeded, "?limit=100")
    ids = {w["id"] for w in listed}
    assert len(ids) == 25
    assert demo.PENDING_WORKER not in ids
    assert demo.EXPIRED_WORKER not in ids
    # Best rated first.
    rated = [w["rating_avg"] for w in listed if w["rating_avg"] is not None]
    assert rated == sorted(rated, reverse=True)


async def test_worker_filters(seeded: RunningHub) -> None:
    males = await workers(seeded, "?gender=male&limit=100")
    assert males
    assert all(w["gender"] == "male" for w in males)
    seniors = await workers(seeded, "?level=senior&limit=100")
    assert seniors
    assert all(w["level"] == "senior" and int(str(w["years_experience"])) >= 8 for w in seniors)
    juniors = await workers(seeded, "?level=junior&limit=100")
    assert {w["id"] for w in juniors} == {"worker-11", "worker-25"}
    window = await workers(seeded, "?service=window-cleaning&limit=100")
    assert window
    assert all("window_cleaning" in w["certified_skills"] for w in window)  # type: ignore[operator]
    maternity = await workers(seeded, "?category=maternity-nurse&limit=100")
    assert maternity
    assert all("maternity_care" in w["certified_skills"] for w in maternity)  # type: ignore[operator]
    # A 26-day package is only offered by maternity nurses.
    assert {w["id"] for w in await workers(seeded, "?duration_minutes=37440&limit=100")} == {
        w["id"] for w in maternity
    }
    # Keywords reach names, bios, training, and the services a worker's skills provide.
    assert [w["id"] for w in await workers(seeded, "?q=王秀英")] == ["worker-01"]
    by_service_name = await workers(seeded, "?q=月嫂&limit=100")
    assert {w["id"] for w in by_service_name} == {w["id"] for w in maternity}


async def test_workers_near_a_point_nearest_first(seeded: RunningHub) -> None:
    lat, lng = demo.CENTRE
    near = await workers(seeded, f"?lat={lat}&lng={lng}&limit=100")
    assert near
    distances: list[float] = [float(str(w["distance_km"])) for w in near]
    assert distances == sorted(distances)
    for w in near:
        area = w["area"]
        assert isinstance(area, dict)
        assert distance_km(lat, lng, area["lat"], area["lng"]) <= area["radius_km"] + 0.01
    # A point far away (Beijing) is covered by nobody.
    assert await workers(seeded, "?lat=39.9042&lng=116.4074") == []
    status, body = await seeded.http("GET", f"/api/v1/workers?lat={lat}")
    assert status == 422, body


async def test_worker_pagination(seeded: RunningHub) -> None:
    status, first = await seeded.http("GET", "/api/v1/workers?limit=10")
    assert status == 200
    status, second = await seeded.http(
        "GET", "/api/v1/workers", params={"limit": 10, "cursor": first["next_cursor"]}
    )
    assert status == 200
    status, last = await seeded.http(
        "GET", "/api/v1/workers", params={"limit": 10, "cursor": second["next_cursor"]}
    )
    assert status == 200
    assert len(last["items"]) == 5
    assert last["next_cursor"] is None
    ids = [w["id"] for page in (first, second, last) for w in page["items"]]
    assert len(ids) == len(set(ids)) == 25
    status, body = await seeded.http("GET", "/api/v1/workers", params={"cursor": "bm9wZQ"})
    assert (status, body["error"]["code"]) == (422, "invalid_cursor")


async def test_worker_profile(seeded: RunningHub) -> None:
    status, body = await seeded.http("GET", "/api/v1/workers/worker-01")
    assert status == 200, body
    assert body["name"] == "王秀英"
    assert body["age"] >= 50
    assert body["level"] == "senior"
    assert body["photo_url"].startswith("https://")
    assert body["training"]
    assert body["past_cases"][0]["title"]
    assert body["rating_count"] == 3
    assert body["rating_avg"] == pytest.approx(14 / 3, abs=0.01)
    assert len(body["recent_reviews"]) == 3
    assert body["recent_reviews"][0]["author"] == "陈**"  # masked, newest first
    assert "window-cleaning" in body["service_ids"]
    assert "phone" not in body
    assert "vetting_status" not in body


@pytest.mark.parametrize("worker_id", [demo.PENDING_WORKER, demo.EXPIRED_WORKER, "nobody", "%00", "a%20b"])
async def test_unlisted_worker_profiles_are_404(seeded: RunningHub, worker_id: str) -> None:
    status, body = await seeded.http("GET", f"/api/v1/workers/{worker_id}")
    assert status == 404, body
    assert body["error"]["code"] == "worker_not_found"


async def test_expired_skill_certificate_removes_the_worker_from_that_service(seeded: RunningHub) -> None:
    before = {w["id"] for w in await workers(seeded, "?service=window-cleaning&limit=100")}
    assert "worker-01" in before
    pool = seeded.app[CONTEXT].pool
    await pool.execute(
        """UPDATE worker_certificates SET expires_on = current_date - $2::int
           WHERE worker_id = $1 AND skill = 'window_cleaning'""",
        "worker-01",
        timedelta(days=1).days,
    )
    after = {w["id"] for w in await workers(seeded, "?service=window-cleaning&limit=100")}
    assert after == before - {"worker-01"}
    # Still listed for the skills whose certificates are valid.
    assert "worker-01" in {w["id"] for w in await workers(seeded, "?service=daily-cleaning&limit=100")}
