"""Preferences, quiet hours, devices and queue_push against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from hub.push import devices, preferences
from hub.push.models import Platform
from hub.push.preferences import Channels, QuietHours, channels_for, in_quiet_hours
from hub.push.queue import PushMessage, queue_push
from tests.support.waiting import WAIT

SHANGHAI = "Asia/Shanghai"  # UTC+8, no DST
NEW_YORK = "America/New_York"


def at(hour: int, minute: int, zone: str) -> datetime:
    """An instant given as a wall-clock time on 2025-03-01 in ``zone``, returned in UTC."""
    return datetime(2025, 3, 1, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# --------------------------------------------------------------------------------- quiet hours


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours(time(12, 0), time(13, 30), SHANGHAI)
    assert not in_quiet_hours(lunch, at(11, 59, SHANGHAI))
    assert in_quiet_hours(lunch, at(12, 0, SHANGHAI))  # start is inclusive
    assert in_quiet_hours(lunch, at(13, 29, SHANGHAI))
    assert not in_quiet_hours(lunch, at(13, 30, SHANGHAI))  # end is exclusive


def test_quiet_hours_spanning_midnight() -> None:
    night = QuietHours(time(22, 0), time(7, 30), SHANGHAI)
    assert not in_quiet_hours(night, at(21, 59, SHANGHAI))
    assert in_quiet_hours(night, at(22, 0, SHANGHAI))
    assert in_quiet_hours(night, at(0, 0, SHANGHAI))
    assert in_quiet_hours(night, at(7, 29, SHANGHAI))
    assert not in_quiet_hours(night, at(7, 30, SHANGHAI))
    assert not in_quiet_hours(night, at(12, 0, SHANGHAI))
    assert not in_quiet_hours(None, at(23, 0, SHANGHAI))


def test_quiet_hours_are_in_the_users_time_zone() -> None:
    night = QuietHours(time(22, 0), time(7, 30), SHANGHAI)
    # 14:30 UTC is 22:30 in Shanghai: quiet there, although mid-afternoon in UTC.
    assert in_quiet_hours(night, datetime(2025, 3, 1, 14, 30, tzinfo=UTC))
    assert not in_quiet_hours(night, datetime(2025, 3, 1, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    # The same instant given in another zone (15:30 in Paris is 14:30 UTC) gives the same answer.
    assert in_quiet_hours(night, datetime(2025, 3, 1, 15, 30, tzinfo=ZoneInfo("Europe/Paris")))
    with pytest.raises(ValueError, match="timezone-aware"):
        in_quiet_hours(night, datetime(2025, 3, 1, 23, 0))


def test_quiet_hours_follow_daylight_saving_time() -> None:
    night = QuietHours(time(22, 0), time(7, 0), NEW_YORK)
    # On 2025-03-09 New York moves from EST (UTC-5) to EDT (UTC-4). The same UTC time of day is
    # 06:30 EST (quiet) before the change and 07:30 EDT (not quiet) after it.
    assert in_quiet_hours(night, datetime(2025, 3, 8, 11, 30, tzinfo=UTC))
    assert not in_quiet_hours(night, datetime(2025, 3, 10, 11, 30, tzinfo=UTC))
    # 02:30 UTC on 2025-03-10 is 22:30 EDT: quiet.
    assert in_quiet_hours(night, datetime(2025, 3, 10, 2, 30, tzinfo=UTC))


def test_quiet_hours_validation() -> None:
    with pytest.raises(ValueError, match="different times"):
        QuietHours(time(22, 0), time(22, 0), SHANGHAI)
    with pytest.raises(ValueError, match="unknown time zone"):
        QuietHours(time(22, 0), time(7, 0), "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="unknown time zone"):
        QuietHours(time(22, 0), time(7, 0), "../../etc/passwd")


def test_kind_validation() -> None:
    for kind in ("chat.message", "booking.updated", "offer", "safety", "promotion", "a" * 64):
        assert preferences.check_kind(kind) == kind
    for kind in ("", "Chat", "1offer", "chat-message", "a" * 65, "chat message"):
        with pytest.raises(ValueError, match="does not match"):
            preferences.check_kind(kind)


# --------------------------------------------------------------------------------- preferences


async def test_channels_default_to_on_and_changes_merge(pool: asyncpg.Pool) -> None:
    assert await channels_for(pool, "w-1", "worker", "promotion") == Channels(in_app=True, push=True)
    async with pool.acquire() as conn:
        stored = await preferences.update(conn, "w-1", "worker", {"promotion": {"push": False}})
    assert stored.kinds == {"promotion": Channels(in_app=True, push=False)}
    assert await channels_for(pool, "w-1", "worker", "promotion") == Channels(in_app=True, push=False)
    async with pool.acquire() as conn:
        # Another kind, and the other channel of the first: the first kind's push stays off.
        stored = await preferences.update(
            conn, "w-1", "worker", {"promotion": {"in_app": False}, "chat.message": {}}
        )
    assert stored.kinds == {
        "chat.message": Channels(in_app=True, push=True),
        "promotion": Channels(in_app=False, push=False),
    }
    assert await channels_for(pool, "w-2", "worker", "promotion") == Channels()  # per user
    with pytest.raises(ValueError, match="does not match"):
        await channels_for(pool, "w-1", "worker", "Not A Kind")


async def test_quiet_hours_are_set_kept_and_cleared(pool: asyncpg.Pool) -> None:
    night = QuietHours(time(22, 0), time(7, 30), SHANGHAI)
    async with pool.acquire() as conn:
        stored = await preferences.update(
            conn, "c-1", "customer", {}, set_quiet_hours=True, quiet_hours=night
        )
        assert stored.quiet_hours == night
        assert stored.to_json()["quiet_hours"] == {"start": "22:00", "end": "07:30", "time_zone": SHANGHAI}
        # Quiet hours not given: kept.
        stored = await preferences.update(conn, "c-1", "customer", {"offer": {"push": True}})
        assert stored.quiet_hours == night
        stored = await preferences.update(conn, "c-1", "customer", {}, set_quiet_hours=True, quiet_hours=None)
        assert stored.quiet_hours is None


# ------------------------------------------------------------------------------------- devices


async def test_reregistering_is_idempotent_and_moving_a_token_drops_the_old_owners_pushes(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        first, created = await devices.register(conn, "c-1", "customer", Platform.FCM, "tok-1", locale="en")
        assert created
        again, created = await devices.register(
            conn, "c-1", "customer", Platform.FCM, "tok-1", locale="zh-CN"
        )
        assert not created
        assert again.id == first.id
        assert again.locale == "zh-CN"
        async with conn.transaction():
            assert await queue_push(conn, message("c-1")) == 1
        # The phone changes hands: the token becomes another user's device, with a new id.
        moved, created = await devices.register(conn, "c-2", "customer", Platform.FCM, "tok-1")
    assert created
    assert moved.id != first.id
    assert await devices.list_for_user(pool, "c-1", "customer") == []
    assert [d.id for d in await devices.list_for_user(pool, "c-2", "customer")] == [moved.id]
    # c-1's queued push lost its device: the sender drops it instead of sending it to c-2.
    assert await pool.fetchval("SELECT device_id FROM push_deliveries") is None


async def test_only_the_most_recently_seen_devices_are_kept(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for i in range(devices.MAX_DEVICES_PER_USER + 3):
            await devices.register(conn, "w-1", "worker", Platform.FCM, f"token-{i}")
    kept = await devices.list_for_user(pool, "w-1", "worker")
    assert len(kept) == devices.MAX_DEVICES_PER_USER
    assert {d.token for d in kept} == {f"token-{i}" for i in range(3, devices.MAX_DEVICES_PER_USER + 3)}


async def test_removing_a_device_is_for_its_owner_only(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        device, _ = await devices.register(conn, "c-1", "customer", Platform.FCM, "tok-1")
    assert not await devices.remove(pool, "c-2", "customer", device.id)
    assert await devices.remove(pool, "c-1", "customer", device.id)
    assert not await devices.remove(pool, "c-1", "customer", device.id)


# ---------------------------------------------------------------------------------- queue_push


def message(user_id: str, kind: str = "chat.message", *, urgent: bool = False) -> PushMessage:
    return PushMessage(
        notification_id=uuid.uuid4(),
        user_id=user_id,
        role="customer" if user_id.startswith("c-") else "worker",
        kind=kind,
        title="New message",
        body="Hello",
        data={"conversation_id": "conv-1", "seq": 7},
        urgent=urgent,
    )


async def register_two(pool: asyncpg.Pool, user_id: str) -> None:
    async with pool.acquire() as conn:
        await devices.register(conn, user_id, "worker", Platform.FCM, f"{user_id}-android")
        await devices.register(
            conn, user_id, "worker", Platform.APNS, "ab" * 32, app_id="com.example.hub.worker"
        )


async def queue(pool: asyncpg.Pool, msg: PushMessage, now: datetime | None = None) -> int:
    async with pool.acquire() as conn, conn.transaction():
        return await queue_push(conn, msg, now=now)


async def test_queue_push_is_idempotent_per_notification_and_device(pool: asyncpg.Pool) -> None:
    assert await queue(pool, message("nobody")) == 0
    await register_two(pool, "w-1")
    msg = message("w-1")
    assert await queue(pool, msg) == 2
    assert await queue(pool, msg) == 0  # a redelivered outbox event
    rows = await pool.fetch("SELECT * FROM push_deliveries ORDER BY id")
    assert len(rows) == 2
    assert {r["status"] for r in rows} == {"queued"}
    assert rows[0]["data"] == {"conversation_id": "conv-1", "seq": 7}
    # A device registered later gets the next notification, and the redelivered one once.
    async with pool.acquire() as conn:
        await devices.register(conn, "w-1", "worker", Platform.FCM, "w-1-tablet")
    assert await queue(pool, msg) == 1
    assert await queue(pool, message("w-1")) == 3


async def test_queue_push_respects_the_push_channel(pool: asyncpg.Pool) -> None:
    await register_two(pool, "w-1")
    async with pool.acquire() as conn:
        await preferences.update(
            conn, "w-1", "worker", {"promotion": {"push": False}, "offer": {"push": False}}
        )
    assert await queue(pool, message("w-1", "promotion")) == 0
    # Turning push off for a kind is the user's choice, even for urgent kinds.
    assert await queue(pool, message("w-1", "offer", urgent=True)) == 0
    assert await queue(pool, message("w-1", "chat.message")) == 2


async def test_quiet_hours_hold_back_all_but_urgent_pushes(pool: asyncpg.Pool) -> None:
    await register_two(pool, "w-1")
    async with pool.acquire() as conn:
        await preferences.update(
            conn,
            "w-1",
            "worker",
            {},
            set_quiet_hours=True,
            quiet_hours=QuietHours(time(22, 0), time(7, 30), SHANGHAI),
        )
    night, day = at(23, 15, SHANGHAI), at(9, 0, SHANGHAI)
    assert await queue(pool, message("w-1", "promotion"), now=night) == 0
    assert await queue(pool, message("w-1", "offer", urgent=True), now=night) == 2
    assert await queue(pool, message("w-1", "safety", urgent=True), now=night) == 2
    assert await queue(pool, message("w-1", "promotion"), now=day) == 2
    assert await pool.fetchval("SELECT count(*) FROM push_deliveries WHERE urgent") == 4


async def test_queue_push_joins_the_callers_transaction_and_notifies_at_commit(
    pool: asyncpg.Pool, database_url: str
) -> None:
    await register_two(pool, "w-1")
    listener = await asyncpg.connect(database_url)
    notified = asyncio.Event()
    try:
        await listener.add_listener("hub_push", lambda *_: notified.set())
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            assert await queue_push(conn, message("w-1")) == 2
            await transaction.rollback()
        assert await pool.fetchval("SELECT count(*) FROM push_deliveries") == 0
        assert not notified.is_set()  # nothing committed, nothing announced
        assert await queue(pool, message("w-1")) == 2
        await asyncio.wait_for(notified.wait(), WAIT)
    finally:
        await listener.close()
