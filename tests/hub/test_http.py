"""HTTP: health, readiness, metrics, Bearer auth and the error envelope."""

from __future__ import annotations

import time

import aiohttp
import jwt
from aiohttp import web

from hub.events import Event
from hub.keys import DATABASE
from hub.storage.outbox import publish
from tests.support.hubs import JWT_SECRET, HubTestServer, RunningHub, StartHub
from tests.support.waiting import wait_until


async def test_health_and_readiness(hub: RunningHub) -> None:
    assert await hub.http("GET", "/healthz") == (200, {"status": "ok"})
    assert await hub.http("GET", "/readyz") == (200, {"status": "ready"})


async def test_not_ready_when_a_migration_is_missing(hub: RunningHub) -> None:
    await hub.app[DATABASE].pool.execute("DELETE FROM schema_migrations WHERE version = '0001'")
    status, body = await hub.http("GET", "/readyz")
    assert status == 503
    assert body["status"] == "unavailable"
    assert "0001" in body["reason"]
    assert (await hub.http("GET", "/healthz"))[0] == 200


async def test_not_ready_when_the_database_is_gone(hub: RunningHub) -> None:
    pool = hub.app[DATABASE].pool
    await pool.close()
    status, body = await hub.http("GET", "/readyz")
    assert status == 503
    assert body["reason"].startswith("database:")
    assert (await hub.http("GET", "/healthz"))[0] == 200
    status, text = await hub.http("GET", "/metrics")  # still renders without the database
    assert status == 200
    assert "hub_sockets" in text


async def test_metrics_in_prometheus_text_format(hub: RunningHub) -> None:
    async with hub.app[DATABASE].pool.acquire() as conn, conn.transaction():
        await publish(conn, Event("booking.created", {}))
    # No subscriber for the topic: delivered at once, so lag returns to zero.
    await wait_until(lambda: hub.app[DATABASE].pool.fetchval("SELECT delivered_at IS NOT NULL FROM events"))
    status, text = await hub.http("GET", "/metrics")
    assert status == 200
    for name in (
        "hub_sockets",
        "hub_socket_events_total",
        "hub_outbox_lag_seconds",
        "hub_outbox_pending_events",
        "hub_outbox_delivered_events_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text
    assert "hub_outbox_pending_events 0.0" in text
    assert "hub_outbox_delivered_events_total 1.0" in text


async def test_bearer_auth(hub: RunningHub) -> None:
    token = hub.token("customer", "c-9")
    status, body = await hub.http("GET", "/api/v1/me", token)
    assert status == 200
    assert (body["user_id"], body["role"]) == ("c-9", "customer")

    for headers, code in [
        ({}, "token_missing"),
        ({"Authorization": "Basic abc"}, "token_missing"),
        ({"Authorization": "Bearer "}, "token_missing"),
        ({"Authorization": "Bearer nonsense"}, "token_invalid"),
        ({"Authorization": "Bearer " + jwt.encode({"sub": "x", "role": "admin"}, "y" * 64)}, "token_invalid"),
        (
            {
                "Authorization": "Bearer "
                + jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) - 3600}, JWT_SECRET)
            },
            "token_expired",
        ),
    ]:
        status, body = await hub.http("GET", "/api/v1/me", headers=headers)
        assert status == 401, headers
        assert body["error"]["code"] == code
        assert body["error"]["message"]


async def test_role_forbidden_is_403(hub: RunningHub) -> None:
    for role in ("customer", "worker", "support"):
        status, body = await hub.http("GET", "/api/v1/admin/outbox", hub.token(role, "u"))
        assert status == 403
        assert body == {"error": {"code": "role_forbidden", "message": body["error"]["message"]}}


async def test_admin_sees_outbox_dead_letters(start_hub: StartHub) -> None:
    from hub.bus import Bus

    async def broken(event: object) -> None:
        raise RuntimeError("provider down")

    bus = Bus()
    bus.subscribe("push", broken)
    hub = await start_hub(bus=bus, HUB_OUTBOX_MAX_ATTEMPTS="1")
    pool = hub.app[DATABASE].pool
    async with pool.acquire() as conn, conn.transaction():
        await publish(conn, Event("notification.created", {}))
    await wait_until(lambda: pool.fetchval("SELECT dead_at IS NOT NULL FROM events"))
    status, body = await hub.http("GET", "/api/v1/admin/outbox", hub.token("admin", "root"))
    assert status == 200
    assert body["dead"] == 1
    assert body["dead_letters"][0]["topic"] == "notification.created"
    assert "provider down" in body["dead_letters"][0]["last_error"]


async def test_unknown_route_and_method_use_the_envelope(hub: RunningHub) -> None:
    status, body = await hub.http("GET", "/api/v1/nothing-here")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    status, body = await hub.http("DELETE", "/healthz")
    assert status == 405
    assert body["error"]["code"] == "method_not_allowed"


async def test_a_failure_outside_the_middlewares_uses_the_envelope_too() -> None:
    """What aiohttp answers itself (hub.web.serving), a 500 raised past every middleware included."""

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("broken on purpose")

    app = web.Application()  # no error middleware: the request handler answers
    app.router.add_get("/broken", broken)
    server = HubTestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session, session.get(server.make_url("/broken")) as response:
            assert response.status == 500
            assert response.headers["Connection"] == "close"
            assert (await response.json())["error"]["code"] == "internal_error"
    finally:
        await server.close()
