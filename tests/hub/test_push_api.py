"""Device and notification-preference routes over real HTTP, against a real PostgreSQL.

hub/app.py does not mount these routes yet, so the tests serve them from a small app built the
way build_app builds the hub: the error middleware, the token verifier, the database, the routes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.auth import build_verifier
from hub.keys import DATABASE, SETTINGS, VERIFIER
from hub.push.config import PushConfig
from hub.settings import Settings
from hub.storage.db import Database, create_pool
from hub.storage.migrate import migrate
from hub.web.http import error_middleware
from hub.web.push import add_routes
from tests.support.hubs import JWT_SECRET, HubTestServer, RunningHub
from tests.support.push_fakes import ACCOUNT, EC_PEM

APNS_TOKEN = "0f" * 32
WEBHOOK_SECRET = "w" * 40
WEBHOOK_HOSTS = "hooks.example.com,localhost,127.0.0.1,::1"

StartApi = Callable[..., Awaitable[RunningHub]]


@pytest.fixture
async def start_api(database_url: str, tmp_path: Path) -> AsyncIterator[StartApi]:
    """Serve the push routes with the given HUB_* push variables: ``await start_api(**env)``."""
    pool = await create_pool(database_url, 1, 5)
    async with pool.acquire() as conn:
        await migrate(conn)
    servers: list[TestServer] = []

    async def start(**push_env: str) -> RunningHub:
        settings = Settings.from_env(
            {"HUB_DATABASE_URL": database_url, "HUB_JWT_SECRET": JWT_SECRET, "HUB_DATA_DIR": str(tmp_path)}
        )
        app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_payload_bytes)
        app[SETTINGS] = settings
        app[VERIFIER] = build_verifier(settings)
        app[DATABASE] = Database(pool=pool, dsn=database_url)
        add_routes(app, PushConfig.from_env(push_env))
        server = HubTestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return RunningHub(app, server, settings)

    yield start
    for server in servers:
        await server.close()
    await pool.close()


FCM_AND_APNS = {
    "HUB_FCM_SERVICE_ACCOUNT": json.dumps(ACCOUNT),
    "HUB_APNS_KEY": EC_PEM,
    "HUB_APNS_KEY_ID": "ABC123DEFG",
    "HUB_APNS_TEAM_ID": "TEAM012345",
}


@pytest.fixture
async def api(start_api: StartApi) -> RunningHub:
    return await start_api(**FCM_AND_APNS)  # no webhook secret, no default APNs topic


async def test_register_list_and_delete_devices(api: RunningHub) -> None:
    alice, bob = api.token("customer", "c-alice"), api.token("worker", "w-bob")
    status, body = await api.http(
        "POST", "/api/v1/devices", alice, json={"platform": "fcm", "token": "fcm:tok-1", "locale": "zh-CN"}
    )
    assert status == 201
    assert set(body) == {"id", "platform", "token", "app_id", "locale", "created_at", "last_seen_at"}
    assert (body["platform"], body["token"], body["app_id"], body["locale"]) == (
        "fcm",
        "fcm:tok-1",
        None,
        "zh-CN",
    )
    device_id = body["id"]

    # Idempotent on the token: same device, 200.
    status, again = await api.http(
        "POST", "/api/v1/devices", alice, json={"platform": "fcm", "token": "fcm:tok-1"}
    )
    assert (status, again["id"]) == (200, device_id)

    status, body = await api.http(
        "POST",
        "/api/v1/devices",
        alice,
        json={"platform": "apns", "token": APNS_TOKEN.upper(), "app_id": "com.example.hub.customer"},
    )
    assert status == 201
    assert body["token"] == APNS_TOKEN  # normalised, so either case is one device
    apns_id = body["id"]

    status, listed = await api.http("GET", "/api/v1/devices", alice)
    assert status == 200
    assert [d["id"] for d in listed["items"]] == [device_id, apns_id]
    assert await api.http("GET", "/api/v1/devices", bob) == (200, {"items": [], "next_cursor": None})

    # Someone else's device, an unknown one and a malformed id all look the same.
    for path, token in (
        (f"/api/v1/devices/{device_id}", bob),
        ("/api/v1/devices/00000000-0000-0000-0000-000000000000", alice),
        ("/api/v1/devices/not-a-uuid", alice),
    ):
        status, body = await api.http("DELETE", path, token)
        assert (status, body["error"]["code"]) == (404, "device_not_found")
    status, _ = await api.http("DELETE", f"/api/v1/devices/{device_id}", alice)
    assert status == 204
    status, listed = await api.http("GET", "/api/v1/devices", alice)
    assert [d["id"] for d in listed["items"]] == [apns_id]


async def test_a_token_moves_to_the_user_who_registers_it_last(api: RunningHub) -> None:
    alice, bob = api.token("customer", "c-alice"), api.token("worker", "w-bob")
    _, first = await api.http("POST", "/api/v1/devices", alice, json={"platform": "fcm", "token": "shared"})
    status, moved = await api.http(
        "POST", "/api/v1/devices", bob, json={"platform": "fcm", "token": "shared"}
    )
    assert status == 201
    assert moved["id"] != first["id"]
    assert await api.http("GET", "/api/v1/devices", alice) == (200, {"items": [], "next_cursor": None})


async def test_routes_need_a_token(api: RunningHub) -> None:
    for method, path in (
        ("POST", "/api/v1/devices"),
        ("GET", "/api/v1/devices"),
        ("DELETE", "/api/v1/devices/00000000-0000-0000-0000-000000000000"),
        ("GET", "/api/v1/notification-preferences"),
        ("PUT", "/api/v1/notification-preferences"),
    ):
        status, body = await api.http(method, path)
        assert (status, body["error"]["code"]) == (401, "token_missing")


def _locs(body: dict[str, Any]) -> list[list[Any]]:
    assert body["error"]["code"] == "invalid_payload"
    return [d["loc"] for d in body["error"]["details"]]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"platform": "fcm"}, ["token"]),
        ({"platform": "sms", "token": "x"}, ["platform"]),
        ({"platform": "fcm", "token": "x", "extra": 1}, ["extra"]),
        ({"platform": "fcm", "token": 12345}, ["token"]),
        ({"platform": "fcm", "token": "has spaces"}, ["token"]),
        ({"platform": "fcm", "token": "x" * 4097}, ["token"]),
        ({"platform": "apns", "token": "not-hex", "app_id": "com.example.app"}, ["token"]),
        ({"platform": "apns", "token": APNS_TOKEN}, ["app_id"]),  # no HUB_APNS_TOPIC to default to
        ({"platform": "apns", "token": APNS_TOKEN, "app_id": "com example"}, ["app_id"]),
        ({"platform": "fcm", "token": "x", "locale": "english please"}, ["locale"]),
        ({"platform": "webhook", "token": "https://hooks.example.com/x"}, ["platform"]),  # not configured
    ],
)
async def test_invalid_registrations_are_refused(
    api: RunningHub, payload: dict[str, Any], loc: list[str]
) -> None:
    status, body = await api.http("POST", "/api/v1/devices", api.token("customer", "c-1"), json=payload)
    assert status == 422
    assert loc in _locs(body)
    assert await api.http("GET", "/api/v1/devices", api.token("customer", "c-1")) == (
        200,
        {"items": [], "next_cursor": None},
    )


async def test_a_body_that_is_not_json_is_refused(api: RunningHub) -> None:
    status, body = await api.http("POST", "/api/v1/devices", api.token("customer", "c-1"), data=b"{not json")
    assert status == 422
    assert body["error"]["code"] == "invalid_payload"


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://hooks.example.com/push?id=1", True),
        ("http://localhost:8080/push", True),
        ("http://127.0.0.1:9000/push", True),
        ("http://[::1]:9000/push", True),
        ("http://hooks.example.com/push", False),  # plain http only on this machine
        ("ftp://hooks.example.com/push", False),
        ("https://user:secret@hooks.example.com/push", False),
        ("https:///no-host", False),
        ("https://hooks.example.com:99999/", False),
        ("https://internal.corp/push", False),  # not an allowed host
        ("https://evilhooks.example.com/push", False),
    ],
)
async def test_webhook_urls(start_api: StartApi, url: str, accepted: bool) -> None:
    api = await start_api(HUB_WEBHOOK_SECRET=WEBHOOK_SECRET, HUB_WEBHOOK_ALLOWED_HOSTS=WEBHOOK_HOSTS)
    status, body = await api.http(
        "POST", "/api/v1/devices", api.token("support", "s-1"), json={"platform": "webhook", "token": url}
    )
    if accepted:
        assert (status, body["token"]) == (201, url)
    else:
        assert status == 422
        assert _locs(body) == [["token"]]


async def test_preferences_round_trip(api: RunningHub) -> None:
    token = api.token("worker", "w-1")
    path = "/api/v1/notification-preferences"
    assert await api.http("GET", path, token) == (200, {"kinds": {}, "quiet_hours": None})

    night = {"start": "22:00", "end": "07:30", "time_zone": "Asia/Shanghai"}
    status, body = await api.http(
        "PUT", path, token, json={"kinds": {"promotion": {"push": False}}, "quiet_hours": night}
    )
    assert status == 200
    assert body == {"kinds": {"promotion": {"in_app": True, "push": False}}, "quiet_hours": night}

    # Kinds merge (and so do the channels of one kind); quiet hours left out stay as they were.
    status, body = await api.http(
        "PUT",
        path,
        token,
        json={"kinds": {"chat.message": {"in_app": False}, "promotion": {"in_app": False}}},
    )
    assert body == {
        "kinds": {
            "chat.message": {"in_app": False, "push": True},
            "promotion": {"in_app": False, "push": False},
        },
        "quiet_hours": night,
    }
    assert await api.http("GET", path, token) == (200, body)

    status, body = await api.http("PUT", path, token, json={"quiet_hours": None})
    assert (status, body["quiet_hours"]) == (200, None)
    assert await api.http("GET", path, api.token("worker", "w-2")) == (
        200,
        {"kinds": {}, "quiet_hours": None},
    )


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"kinds": {"Not A Kind": {"push": False}}}, ["kinds", "Not A Kind", "[key]"]),
        ({"kinds": {"promotion": {"push": "no"}}}, ["kinds", "promotion", "push"]),
        ({"kinds": {"promotion": {"sms": True}}}, ["kinds", "promotion", "sms"]),
        ({"kinds": []}, ["kinds"]),
        ({"quiet_hours": {"start": "25:00", "end": "07:00", "time_zone": "UTC"}}, ["quiet_hours", "start"]),
        ({"quiet_hours": {"start": "7:00", "end": "08:00", "time_zone": "UTC"}}, ["quiet_hours", "start"]),
        (
            {"quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Nowhere/City"}},
            ["quiet_hours", "time_zone"],
        ),
        ({"quiet_hours": {"start": "22:00", "end": "22:00", "time_zone": "UTC"}}, ["quiet_hours"]),
        ({"quiet_hours": {"start": "22:00", "time_zone": "UTC"}}, ["quiet_hours", "end"]),
        ({"colour": "blue"}, ["colour"]),
    ],
)
async def test_invalid_preferences_are_refused(
    api: RunningHub, payload: dict[str, Any], loc: list[str]
) -> None:
    token = api.token("customer", "c-1")
    status, body = await api.http("PUT", "/api/v1/notification-preferences", token, json=payload)
    assert status == 422
    assert loc in _locs(body)
    assert await api.http("GET", "/api/v1/notification-preferences", token) == (
        200,
        {"kinds": {}, "quiet_hours": None},
    )
