"""The push sender against a real PostgreSQL and local FCM, APNs (HTTP/2) and webhook servers."""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.keys import DATABASE, PUSH_CONFIG, PUSH_SENDER
from hub.push import devices
from hub.push import sender as sender_module
from hub.push.config import PushConfig
from hub.push.models import Device, Platform
from hub.push.providers import build_providers
from hub.push.providers.apns import ApnsProvider
from hub.push.providers.fcm import string_data
from hub.push.providers.webhook import sign, verify
from hub.push.queue import PushMessage, queue_push
from hub.push.sender import PushSender
from hub.storage.db import Database, create_pool
from hub.web.push import sender_context
from tests.support.push_fakes import (
    WEBHOOK_SECRET,
    FakeApns,
    FakeGoogle,
    Fakes,
    Reply,
    fcm_error_reply,
    running_fakes,
)
from tests.support.waiting import WAIT, wait_until

APNS_A, APNS_B, APNS_C = "a1" * 32, "b2" * 32, "c3" * 32
CUSTOMER_APP = "com.example.hub.customer"

StartSender = Callable[..., PushSender]


@pytest.fixture
async def fakes(tmp_path: Path) -> AsyncIterator[Fakes]:
    async with running_fakes(tmp_path) as running:
        yield running


@pytest.fixture
async def start_sender(pool: asyncpg.Pool, database_url: str, fakes: Fakes) -> AsyncIterator[StartSender]:
    """``start_sender(pool=..., **HUB_PUSH_env)`` starts a sender against the fakes; all stop at teardown."""
    running: list[PushSender] = []

    def start(on_pool: asyncpg.Pool | None = None, **env: str) -> PushSender:
        config = fakes.config(
            **{
                "HUB_PUSH_BACKOFF_BASE": "0.05",
                "HUB_PUSH_BACKOFF_CAP": "0.2",
                "HUB_PUSH_SWEEP_SECONDS": "0.5",
                **env,
            }
        )
        sender = PushSender(
            on_pool or pool, database_url, config, build_providers(config, verify=fakes.ssl_context())
        )
        sender.start()
        running.append(sender)
        return sender

    yield start
    for sender in running:
        await sender.stop()


def role_of(user_id: str) -> str:
    """The role of a test person, from the prefix of their id."""
    return "worker" if user_id.startswith("w-") else "customer"


async def add_device(
    pool: asyncpg.Pool, user_id: str, platform: Platform, token: str, app_id: str | None = None
) -> Device:
    async with pool.acquire() as conn:
        device, _ = await devices.register(conn, user_id, role_of(user_id), platform, token, app_id=app_id)
    return device


async def push(pool: asyncpg.Pool, user_id: str, **fields: Any) -> PushMessage:
    notification_id = uuid.uuid4()
    message = PushMessage(
        **{
            "notification_id": notification_id,
            "user_id": user_id,
            "role": role_of(user_id),
            "kind": "booking.updated",
            "title": "Booking confirmed",
            "body": "Your cleaner arrives at 09:00",
            "data": {"booking_id": "b-1", "n": str(notification_id)},
            **fields,
        }
    )
    async with pool.acquire() as conn, conn.transaction():
        await queue_push(conn, message)
    return message


async def settled(pool: asyncpg.Pool, count: int, within: float = WAIT) -> dict[str, asyncpg.Record]:
    """Wait until ``count`` deliveries are finished; return every delivery keyed by device token."""
    await wait_until(
        lambda: pool.fetchval("SELECT count(*) = $1 FROM push_deliveries WHERE status <> 'queued'", count),
        within,
    )
    rows = await pool.fetch(
        """SELECT p.*, COALESCE(d.token, p.last_error) AS key FROM push_deliveries p
             LEFT JOIN push_devices d ON d.id = p.device_id ORDER BY p.id"""
    )
    return {row["key"]: row for row in rows}


async def tokens(pool: asyncpg.Pool) -> list[str]:
    return [r["token"] for r in await pool.fetch("SELECT token FROM push_devices ORDER BY token")]


# ------------------------------------------------------------------------------------------------


async def test_each_provider_gets_the_documented_request(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    hook = fakes.webhook.url("u-1")
    await add_device(pool, "w-1", Platform.FCM, "fcm-ok")
    await add_device(pool, "w-1", Platform.APNS, APNS_A)  # default topic
    await add_device(pool, "w-1", Platform.APNS, APNS_B, app_id=CUSTOMER_APP)
    await add_device(pool, "w-1", Platform.WEBHOOK, hook)
    # With an hour-long sweep only LISTEN/NOTIFY can wake the sender within the test's waits.
    sender = start_sender(HUB_PUSH_SWEEP_SECONDS="3600")
    await wait_until(lambda: sender.listening)

    offer = await push(
        pool,
        "w-1",
        kind="offer",
        title="New job offer",
        body="Deep clean, 3h, 120 CNY",
        data={"offer_id": "o-42", "price": 120},
        urgent=True,
        sound="offer.caf",
        collapse_key="offer-42",
    )
    rows = await settled(pool, 4)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert {r["attempts"] for r in rows.values()} == {1}
    assert rows["fcm-ok"]["provider_id"].startswith(f"projects/{FakeGoogle.PROJECT}/messages/")
    uuid.UUID(rows[APNS_A]["provider_id"])  # the apns-id APNs answered with
    assert rows[hook]["provider_id"] is None

    assert fakes.google.seen("fcm-ok")[0].body == {
        "message": {
            "token": "fcm-ok",
            "notification": {"title": "New job offer", "body": "Deep clean, 3h, 120 CNY"},
            "data": {"offer_id": "o-42", "price": "120"},  # FCM data holds strings only
            "android": {
                "priority": "high",
                "ttl": "86400s",
                "collapse_key": "offer-42",
                "notification": {"sound": "offer.caf"},
            },
            "apns": {
                "headers": {"apns-priority": "10", "apns-collapse-id": "offer-42"},
                "payload": {"aps": {"sound": "offer.caf", "interruption-level": "time-sensitive"}},
            },
        }
    }
    aps_payload = {
        "aps": {
            "alert": {"title": "New job offer", "body": "Deep clean, 3h, 120 CNY"},
            "sound": "offer.caf",
            "interruption-level": "time-sensitive",
        },
        "offer_id": "o-42",
        "price": 120,
    }
    for token, topic in ((APNS_A, FakeApns.TOPIC), (APNS_B, CUSTOMER_APP)):
        [received] = fakes.apns.seen(token)
        assert received.body == aps_payload
        assert received.headers["apns-topic"] == topic
        assert received.headers["apns-push-type"] == "alert"
        assert received.headers["apns-priority"] == "10"
        assert received.headers["apns-collapse-id"] == "offer-42"
        assert 0 < int(received.headers["apns-expiration"]) - time.time() <= 86_400
    assert set(fakes.apns.http_versions) == {"2"}
    [webhook] = fakes.webhook.seen("u-1")
    assert webhook.body == {
        "notification_id": str(offer.notification_id),
        "user_id": "w-1",
        "role": "worker",
        "kind": "offer",
        "title": "New job offer",
        "body": "Deep clean, 3h, 120 CNY",
        "data": {"offer_id": "o-42", "price": 120},
        "urgent": True,
        "sound": "offer.caf",
        "collapse_key": "offer-42",
    }

    # A routine notification: normal priority, no sound, no time-sensitive interruption.
    await push(pool, "w-1", data={})
    await settled(pool, 8)
    fcm = fakes.google.seen("fcm-ok")[1].body["message"]
    assert fcm["android"] == {"priority": "normal", "ttl": "86400s"}
    assert fcm["apns"] == {"headers": {"apns-priority": "5"}}
    assert "data" not in fcm
    routine = fakes.apns.seen(APNS_A)[1]
    assert routine.headers["apns-priority"] == "5"
    assert "apns-collapse-id" not in routine.headers
    assert routine.body == {
        "aps": {"alert": {"title": "Booking confirmed", "body": "Your cleaner arrives at 09:00"}}
    }
    # One provider token and one access token served every request.
    assert len(fakes.apns.provider_tokens) == 1
    assert fakes.google.token_requests == 1
    assert fakes.violations == []


async def test_transient_failures_are_retried_honouring_retry_after(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    await add_device(pool, "c-1", Platform.FCM, "fcm-500")
    await add_device(pool, "c-1", Platform.FCM, "fcm-429")
    await add_device(pool, "c-1", Platform.APNS, APNS_A)
    await add_device(pool, "c-1", Platform.APNS, APNS_B)
    await add_device(pool, "c-1", Platform.WEBHOOK, fakes.webhook.url("busy"))
    fakes.google.script("fcm-500", fcm_error_reply(500, "INTERNAL", "INTERNAL"))
    fakes.google.script(
        "fcm-429", fcm_error_reply(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", **{"Retry-After": "1"})
    )
    fakes.apns.script(APNS_A, Reply(503, {"reason": "ServiceUnavailable"}))
    # The provider token is older than Apple allows (say, clocks disagree): sign a new one.
    fakes.apns.script(APNS_B, Reply(403, {"reason": "ExpiredProviderToken"}))
    fakes.webhook.script("busy", Reply(503, {"error": "busy"}, {"Retry-After": "1"}))
    await push(pool, "c-1")
    start_sender()

    rows = await settled(pool, 5)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert {r["attempts"] for r in rows.values()} == {2}

    def gap(requests: list[Any]) -> float:
        assert len(requests) == 2
        return float(requests[1].at - requests[0].at)

    # Backoff alone is 0.05-0.2 s here; Retry-After: 1 holds the retry back a whole second.
    assert gap(fakes.google.seen("fcm-500")) < 0.9
    assert gap(fakes.google.seen("fcm-429")) >= 0.95
    assert gap(fakes.webhook.seen("busy")) >= 0.95
    assert gap(fakes.apns.seen(APNS_A)) < 0.9
    assert len(fakes.apns.provider_tokens) == 2
    assert fakes.violations == []


async def test_unregistered_tokens_delete_the_device(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    await add_device(pool, "c-1", Platform.FCM, "fcm-ok")
    await add_device(pool, "c-1", Platform.FCM, "fcm-gone")
    await add_device(pool, "c-1", Platform.APNS, APNS_A)
    await add_device(pool, "c-1", Platform.APNS, APNS_B)
    await add_device(pool, "c-1", Platform.WEBHOOK, fakes.webhook.url("gone"))
    fakes.google.script("fcm-gone", fcm_error_reply(404, "NOT_FOUND", "UNREGISTERED"))
    fakes.apns.script(APNS_A, Reply(410, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}))
    fakes.apns.script(APNS_B, Reply(400, {"reason": "BadDeviceToken"}))
    fakes.webhook.script("gone", Reply(410, {"error": "gone"}))
    await push(pool, "c-1")
    start_sender()

    rows = await settled(pool, 5)
    dropped = [r for r in rows.values() if r["status"] == "dropped"]
    assert len(dropped) == 4
    assert {r["attempts"] for r in dropped} == {1}
    assert sorted(r["last_error"] for r in dropped) == [
        "apns 400 BadDeviceToken",
        "apns 410 Unregistered",
        "fcm 404 NOT_FOUND UNREGISTERED: fake NOT_FOUND",
        "webhook 410 Gone",
    ]
    assert rows["fcm-ok"]["status"] == "sent"
    assert await tokens(pool) == ["fcm-ok"]
    async with pool.acquire() as conn, conn.transaction():
        again = PushMessage(uuid.uuid4(), "c-1", "customer", "booking.updated", "t", "b", {})
        assert await queue_push(conn, again) == 1
    assert fakes.violations == []


async def test_permanent_failures_are_not_retried(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    await add_device(pool, "c-1", Platform.FCM, "fcm-bad")
    await add_device(pool, "c-1", Platform.APNS, APNS_A)
    await add_device(pool, "c-1", Platform.WEBHOOK, fakes.webhook.url("picky"))
    fakes.google.script("fcm-bad", fcm_error_reply(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"))
    fakes.apns.script(APNS_A, Reply(400, {"reason": "DeviceTokenNotForTopic"}))
    fakes.webhook.script("picky", Reply(422, {"error": "no"}))
    await push(pool, "c-1")
    start_sender()

    rows = await settled(pool, 3)
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("failed", 1)}
    assert rows["fcm-bad"]["last_error"].startswith("fcm 400 INVALID_ARGUMENT")
    assert rows[APNS_A]["last_error"] == "apns 400 DeviceTokenNotForTopic"
    assert rows[fakes.webhook.url("picky")]["last_error"] == "webhook 422 Unprocessable Entity"
    assert len(await tokens(pool)) == 3  # the devices stay
    assert fakes.violations == []


async def test_gives_up_after_the_maximum_attempts(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    await add_device(pool, "c-1", Platform.WEBHOOK, fakes.webhook.url("down"))
    fakes.webhook.script("down", *[Reply(500, {"error": "down"})] * 10)
    await push(pool, "c-1")
    start_sender(HUB_PUSH_MAX_ATTEMPTS="3")

    [row] = (await settled(pool, 1)).values()
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"] == "gave up after 3 attempts: webhook 500 Internal Server Error"
    assert len(fakes.webhook.seen("down")) == 3


async def test_the_access_token_is_cached_and_renewed_when_refused(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    for i in range(3):
        await add_device(pool, "c-1", Platform.FCM, f"fcm-{i}")
    for _ in range(3):
        await push(pool, "c-1")
    start_sender()
    await settled(pool, 9)
    assert len(fakes.google.received) == 9
    assert fakes.google.token_requests == 1  # fetched once, shared by concurrent sends

    # Google revokes it before it expires: the send is refused once, a new token is fetched.
    fakes.google.revoked.update(fakes.google.issued)
    await push(pool, "c-1")
    rows = await settled(pool, 12)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert fakes.google.token_requests == 2
    assert sorted(r["attempts"] for r in rows.values()) == [2, 2, 2]  # the last push's three deliveries
    assert fakes.violations == []


async def test_two_senders_send_each_delivery_exactly_once(
    pool: asyncpg.Pool, database_url: str, fakes: Fakes, start_sender: StartSender
) -> None:
    users = [f"w-{i}" for i in range(8)]
    for i, user in enumerate(users):
        await add_device(pool, user, Platform.FCM, f"fcm-{user}")
        await add_device(pool, user, Platform.APNS, f"{i:02x}" * 32)
        await add_device(pool, user, Platform.WEBHOOK, fakes.webhook.url(user))
    other_pool = await create_pool(database_url, 1, 5)
    try:
        start_sender(HUB_PUSH_SWEEP_SECONDS="0.1")
        start_sender(on_pool=other_pool, HUB_PUSH_SWEEP_SECONDS="0.1")
        pushes = await asyncio.gather(*(push(pool, user) for user in users for _ in range(6)))
        total = len(pushes) * 3
        await settled(pool, total, within=30)
        assert await pool.fetchval("SELECT count(*) FROM push_deliveries WHERE status = 'sent'") == total
        assert await pool.fetchval("SELECT max(attempts) FROM push_deliveries") == 1
        received: collections.Counter[tuple[str, str]] = collections.Counter()
        for r in fakes.google.received:
            received["fcm", r.body["message"]["data"]["n"]] += 1
        for r in fakes.apns.received:
            received["apns", r.body["n"]] += 1
        for r in fakes.webhook.received:
            received["webhook", r.body["notification_id"]] += 1
        assert len(received) == total
        assert set(received.values()) == {1}
    finally:
        await other_pool.close()
    assert fakes.violations == []


async def test_a_platform_without_credentials_fails_at_once(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    # Registered while APNs was configured; the hub then restarted without it.
    await add_device(pool, "c-1", Platform.APNS, APNS_A)
    await push(pool, "c-1")
    start_sender(
        HUB_APNS_KEY="", HUB_APNS_KEY_ID="", HUB_APNS_TEAM_ID="", HUB_APNS_TOPIC="", HUB_APNS_ENDPOINT=""
    )
    [row] = (await settled(pool, 1)).values()
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "apns push is not configured on this hub"
    assert fakes.apns.received == []


async def test_removed_devices_and_stale_deliveries_are_not_sent(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender
) -> None:
    removed = await add_device(pool, "c-1", Platform.FCM, "fcm-removed")
    await push(pool, "c-1")
    assert await devices.remove(pool, "c-1", "customer", removed.id)
    await add_device(pool, "c-2", Platform.FCM, "fcm-late")
    await push(pool, "c-2")
    await pool.execute(
        "UPDATE push_deliveries SET created_at = now() - interval '2 days' WHERE user_id = 'c-2'"
    )
    start_sender()
    rows = await settled(pool, 2)
    assert rows["the device was removed"]["status"] == "dropped"
    assert (rows["fcm-late"]["status"], rows["fcm-late"]["last_error"]) == (
        "failed",
        "expired before it could be sent",
    )
    assert fakes.google.received == []


async def test_stop_finishes_sends_in_flight_and_hands_back_the_rest(
    pool: asyncpg.Pool, fakes: Fakes, start_sender: StartSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "CONCURRENCY", 1)
    for name in ("a", "b", "c"):
        await add_device(pool, "c-1", Platform.WEBHOOK, fakes.webhook.url(name))
    fakes.webhook.hold = asyncio.Event()
    await push(pool, "c-1")
    sender = start_sender()
    await wait_until(lambda: len(fakes.webhook.received) == 1)
    stopping = asyncio.create_task(sender.stop())
    await wait_until(lambda: sender._stopping)
    fakes.webhook.hold.set()  # the send in flight completes
    await asyncio.wait_for(stopping, WAIT)

    rows = await pool.fetch(
        """SELECT status, attempts, (status <> 'queued' OR next_attempt_at <= now()) AS due
             FROM push_deliveries"""
    )
    assert sorted((r["status"], r["attempts"], r["due"]) for r in rows) == [
        ("queued", 0, True),  # handed back at once, the attempt not counted
        ("queued", 0, True),
        ("sent", 1, True),
    ]
    assert len(fakes.webhook.received) == 1


async def test_the_apns_provider_token_is_reused_for_50_minutes(fakes: Fakes) -> None:
    config = fakes.config().apns
    assert config is not None
    provider = ApnsProvider(config, verify=fakes.ssl_context())
    try:
        start = time.time()
        first = provider.provider_token(now=start)
        assert provider.provider_token(now=start + 49 * 60) == first
        renewed = provider.provider_token(now=start + 50 * 60)
        assert renewed != first
        assert provider.provider_token(now=start + 60 * 60) == renewed
    finally:
        await provider.aclose()


def test_fcm_data_is_strings_without_reserved_keys() -> None:
    assert string_data(
        {"a": "x", "n": 3, "ok": True, "obj": {"k": [1]}, "from": "me", "google.x": "y", "gcm.z": "1"}
    ) == {
        "a": "x",
        "n": "3",
        "ok": "true",
        "obj": '{"k":[1]}',
    }


def test_webhook_receivers_verify_as_documented() -> None:
    body = b'{"kind":"offer"}'
    now = 1_750_000_000
    signature = sign(WEBHOOK_SECRET, str(now), body)
    assert signature.startswith("sha256=")
    assert verify(WEBHOOK_SECRET, str(now), body, signature, now=now + 299)
    assert not verify(WEBHOOK_SECRET, str(now), body, signature, now=now + 301)  # a replay
    assert not verify(WEBHOOK_SECRET, str(now), body + b" ", signature, now=now)  # tampered
    assert not verify(WEBHOOK_SECRET, str(now + 1), body, signature, now=now)  # re-dated
    assert not verify("another-secret-that-is-long-enough-000000", str(now), body, signature, now=now)
    assert not verify(WEBHOOK_SECRET, "yesterday", body, signature, now=now)


async def test_the_sender_runs_with_the_application(
    pool: asyncpg.Pool, database_url: str, fakes: Fakes
) -> None:
    """``sender_context`` as hub/app.py would use it, after the database's cleanup context."""
    app = web.Application()
    app[DATABASE] = Database(pool=pool, dsn=database_url)
    app[PUSH_CONFIG] = PushConfig.from_env(
        {
            "HUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "HUB_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "HUB_PUSH_SWEEP_SECONDS": "0.2",
        }
    )
    app.cleanup_ctx.append(sender_context)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await add_device(pool, "c-1", Platform.WEBHOOK, fakes.webhook.url("app"))
        await push(pool, "c-1")
        [row] = (await settled(pool, 1)).values()
        assert row["status"] == "sent"
        sender = app[PUSH_SENDER]
    finally:
        await server.close()
    assert sender._task is None  # stopped with the application
    assert fakes.violations == []
