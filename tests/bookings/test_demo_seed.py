"""The demo data: idempotent, realistic, and loadable from the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bookings import seed as demo
from bookings.geo import distance_km
from bookings.storage.workers import offerable
from tests.support.hubs import cli

TABLES = {
    "service_categories": "id",
    "services": "id",
    "workers": "id",
    "worker_certificates": "id",
    "worker_reviews": "id",
    "customers": "id",
    "customer_addresses": "id",
}


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for table, key in TABLES.items():
        rows = await pool.fetch(f"SELECT * FROM {table} ORDER BY {key}")
        out[table] = [{k: v for k, v in dict(r).items() if k not in ("updated_at",)} for r in rows]
    return out


async def test_seed_twice_gives_the_same_data(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        first = await demo.seed(conn)
    before = await snapshot(pool)
    async with pool.acquire() as conn:
        second = await demo.seed(conn)
    assert first == second
    assert await snapshot(pool) == before
    assert first.workers >= 24
    assert first.bookable_workers == first.workers - 2
    assert (first.support_id, first.admin_id) == ("support-01", "admin-01")
    assert len(before["services"]) == len(demo.SERVICES)
    assert len(before["customer_addresses"]) == len(demo.ADDRESSES)


async def test_demo_workers_cover_every_service_around_shanghai(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await demo.seed(conn)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    for service in demo.SERVICES:
        assert len(await offerable(pool, None, service.skill, today)) >= 3, service.id
    rows = await pool.fetch("SELECT id, gender, area_lat, area_lng, birth_year FROM workers")
    assert {r["gender"] for r in rows} == {"female", "male"}
    spread = [distance_km(*demo.CENTRE, r["area_lat"], r["area_lng"]) for r in rows]
    assert max(spread) <= 16
    assert min(spread) >= 1
    # Every customer has a default address with coordinates.
    defaults = await pool.fetch("SELECT customer_id FROM customer_addresses WHERE is_default")
    assert {r["customer_id"] for r in defaults} == {c[0] for c in demo.CUSTOMERS}


def test_demo_seed_command(database_url: str, tmp_path: Any) -> None:
    env = {
        "HUB_DATABASE_URL": database_url,
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_LOG_LEVEL": "WARNING",
    }
    for _ in range(2):
        done = cli("demo-seed", env=env)
        assert done.returncode == 0, done.stderr
        assert "27 workers (25 bookable)" in done.stdout
        assert "python -m hub token --role admin --sub admin-01" in done.stdout
        assert "python -m hub token --role support --sub support-01" in done.stdout
