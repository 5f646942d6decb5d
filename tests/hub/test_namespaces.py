"""Socket.IO over a real port: authentication, rooms, the ping ack and the error envelope."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from hub.keys import SIO
from hub.realtime import user_room
from tests.support.hubs import JWT_SECRET, RunningHub, cli
from tests.support.waiting import WAIT, wait_until

NAMESPACE_ROLES = [
    ("/customer", "customer"),
    ("/worker", "worker"),
    ("/support", "support"),
    ("/support", "admin"),
]


def assert_ping_ack(ack: Any) -> None:
    assert ack["ok"] is True
    server_time = datetime.fromisoformat(ack["data"]["server_time"])
    assert abs(server_time - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(("namespace", "role"), NAMESPACE_ROLES)
async def test_cli_token_connects_and_ping_is_acked(
    hub: RunningHub, hub_env: dict[str, str], namespace: str, role: str
) -> None:
    result = cli("token", "--role", role, "--sub", f"{role}-1", env=hub_env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # nothing but the token on stdout
    client = await hub.connect(namespace, token)
    assert_ping_ack(await client.call("ping", namespace=namespace, timeout=WAIT))
    # A payload the handler does not need is ignored, not an error.
    assert_ping_ack(await client.call("ping", {"junk": [1, 2]}, namespace=namespace, timeout=WAIT))


async def test_msgpack_serializer(start_hub: Any) -> None:
    hub = await start_hub(HUB_SERIALIZER="msgpack")
    client = await hub.connect("/customer", hub.token("customer", "c-1"), serializer="msgpack")
    assert_ping_ack(await client.call("ping", namespace="/customer", timeout=WAIT))


def _hs256(**claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "u-1", "role": "customer", "iat": now, "exp": now + 600, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("namespace", "auth", "code"),
    [
        ("/customer", None, "token_missing"),
        ("/customer", {}, "token_missing"),
        ("/customer", {"token": ""}, "token_missing"),
        ("/customer", {"token": 12345}, "token_missing"),
        ("/customer", {"token": "garbage"}, "token_invalid"),
        ("/customer", lambda: {"token": _hs256(exp=int(time.time()) - 3600)}, "token_expired"),
        ("/customer", lambda: {"token": _hs256(nbf=int(time.time()) + 3600)}, "token_not_yet_valid"),
        ("/customer", lambda: {"token": _hs256(role="superuser")}, "token_invalid"),
        ("/customer", lambda: {"token": _hs256(exp=str(int(time.time()) + 600))}, "token_invalid"),
        ("/customer", lambda: {"token": _hs256(sub=None)}, "token_invalid"),
        ("/customer", {"token": jwt.encode({"sub": "u", "role": "customer"}, "x" * 64)}, "token_invalid"),
        ("/support", lambda: {"token": _hs256(role="worker")}, "role_forbidden"),
        ("/support", lambda: {"token": _hs256(role="customer")}, "role_forbidden"),
        ("/worker", lambda: {"token": _hs256(role="customer")}, "role_forbidden"),
        ("/customer", lambda: {"token": _hs256(role="support")}, "role_forbidden"),
    ],
)
async def test_refused_connections_carry_a_code(
    hub: RunningHub, namespace: str, auth: Any, code: str
) -> None:
    if callable(auth):  # a token is signed when its test runs, not when the file is collected
        auth = auth()
    data = await hub.refusal(namespace, auth)
    assert data["code"] == code
    assert isinstance(data["message"], str)
    assert data["message"]
    assert data["data"] == {"code": code, "message": data["message"]}  # what JavaScript clients see


async def test_socket_joins_its_user_room(hub: RunningHub) -> None:
    client = await hub.connect("/worker", hub.token("worker", "w-42"))
    received: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("hello", lambda data: received.set_result(data), namespace="/worker")
    await hub.app[SIO].emit("hello", {"n": 1}, room=user_room("w-42", "worker"), namespace="/worker")
    assert await asyncio.wait_for(received, WAIT) == {"n": 1}


@pytest.mark.parametrize(
    ("event", "args"),
    [("no-such-event", ({"a": 1},)), ("connect", ()), ("disconnect", ()), ("__proto__", ("x",))],
)
async def test_unknown_events_get_an_error_ack_and_the_socket_lives(
    hub: RunningHub, event: str, args: tuple[Any, ...]
) -> None:
    client = await hub.connect("/customer", hub.token("customer", "c-1"))
    ack = await client.call(event, *args, namespace="/customer", timeout=WAIT) if args else None
    if args:
        assert ack["ok"] is False
        assert ack["error"]["code"] == "unknown_event"
    else:
        # Reserved names sent by a client must not reach the connect/disconnect handlers.
        await client.emit(event, namespace="/customer")
    assert_ping_ack(await client.call("ping", namespace="/customer", timeout=WAIT))
    assert client.connected


async def test_socket_metrics_follow_connections(hub: RunningHub) -> None:
    client = await hub.connect("/customer", hub.token("customer", "c-1"))
    await client.call("ping", namespace="/customer", timeout=WAIT)
    await client.call("nope", namespace="/customer", timeout=WAIT)
    await hub.refusal("/support", {"token": _hs256(role="worker")})
    status, text = await hub.http("GET", "/metrics")
    assert status == 200
    assert 'hub_sockets{namespace="/customer"} 1.0' in text
    assert 'hub_socket_events_total{event="ping",namespace="/customer",outcome="ok"} 1.0' in text
    assert 'hub_socket_events_total{event="<unknown>",namespace="/customer",outcome="refused"} 1.0' in text
    assert 'hub_connections_refused_total{code="role_forbidden",namespace="/support"} 1.0' in text
    await client.disconnect()
    _, text = await hub.http("GET", "/metrics")
    assert 'hub_sockets{namespace="/customer"} 0.0' in text


async def test_socket_ends_with_its_token_unless_refreshed(start_hub: Any) -> None:
    from tests.support.clients import Peer

    hub = await start_hub(HUB_JWT_LEEWAY_SECONDS="0")
    short = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1", ttl_seconds=1))
    expired = await short.next("auth:expired")
    assert expired["code"] == "token_expired"
    await wait_until(lambda: not short.client.connected)

    kept = await Peer("/customer").connect(hub.url, hub.token("customer", "c-2", ttl_seconds=1))
    try:
        fresh = hub.token("customer", "c-2", ttl_seconds=3600)
        assert (await kept.ok("auth:refresh", {"token": fresh}))["expires_at"] > time.time() + 3000
        assert await kept.error("auth:refresh", {"token": hub.token("customer", "c-3")}) == "token_mismatch"
        assert await kept.error("auth:refresh", {"token": "junk"}) == "token_invalid"
        assert await kept.error("auth:refresh", {}) == "token_missing"
        namespace = hub.app[SIO].namespace_handlers["/customer"]
        [state] = [s for s in namespace.sockets.values() if s.user.user_id == "c-2"]
        assert state.expires > asyncio.get_running_loop().time() + 3000  # rescheduled
        assert (await kept.call("ping"))["ok"] is True
    finally:
        await kept.close()
        await short.close()
