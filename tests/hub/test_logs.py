"""What a client makes the hub log costs a bounded number of lines: records of one kind are
throttled (errors never), and the next line let through says how many were dropped. The access
log is one line per HTTP request."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from hub.logs import LOG_BURST, Throttle
from tests.support.clients import RawSocket
from tests.support.processes import HubProcess
from tests.support.services import free_port
from tests.support.waiting import WAIT, wait_until

FLOOD = 400


def test_records_of_one_kind_are_throttled_and_counted() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(Throttle())
    logger = logging.getLogger("hub.test-throttle")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(FLOOD):
            logger.warning("malformed packet %d from %s", n, "sid-1")
        logger.warning("another kind")
        for _ in range(5):
            logger.error("errors are never dropped")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    flood = [line for line in lines if line.startswith("malformed packet")]
    assert LOG_BURST <= len(flood) <= LOG_BURST + 2  # the bucket refills a little meanwhile
    assert lines.count("another kind") == 1
    assert lines.count("errors are never dropped") == 5


async def test_a_flood_of_malformed_packets_writes_few_lines(
    processes: list[HubProcess], hub_env: dict[str, str], tmp_path: Path
) -> None:
    # One attacker reconnecting fast: the connect rate would stop them first, which is not tested here.
    env = {**hub_env, "HUB_SOCKET_CONNECTS_PER_USER": "1000"}
    hub = HubProcess(env, free_port(), tmp_path / "hub.log")
    processes.append(hub)
    await hub.ready()
    token = hub.token("customer", "c-1")
    for _ in range(FLOOD // 40):  # each socket is struck off after about 50 refusals
        raw = await RawSocket.open(hub.url)
        try:
            await raw.connect("/customer", {"token": token})
            for n in range(40):
                await raw.send(f'2/customer,{n}["ping", {{"broken": ')  # truncated JSON
            await raw.send('2/customer,99["ping"]')
            answer = await raw.receive()
            while answer is not None and not answer.startswith("3/customer,99["):
                assert "invalid_packet" in answer, answer  # each broken one answered, in order
                answer = await raw.receive()
            assert answer is not None  # all read by now
        finally:
            await raw.close()
    logged = [line for line in hub.output().splitlines() if "malformed Socket.IO packet" in line]
    assert len(logged) <= LOG_BURST + 2, len(logged)


async def test_one_access_line_per_http_request(
    processes: list[HubProcess], hub_env: dict[str, str], tmp_path: Path
) -> None:
    """Every HTTP request is one INFO line of ``hub.access`` with its fields, however many there are
    (the throttle leaves them alone); the query string is never written; Engine.IO's requests stay
    out of it at INFO."""
    hub = HubProcess({**hub_env, "HUB_LOG_FORMAT": "json"}, free_port(), tmp_path / "hub.log")
    processes.append(hub)
    await hub.ready()
    requests = 3 * LOG_BURST
    async with aiohttp.ClientSession() as session:
        for _ in range(requests):
            async with session.get(f"{hub.url}/healthz?token=do-not-log-me") as response:
                assert response.status == 200
        async with session.get(f"{hub.url}/api/v1/me", headers={"Authorization": "Bearer x"}) as response:
            assert response.status == 401
    client = socketio.AsyncClient(reconnection=False)  # long-polling, then the websocket upgrade
    await client.connect(hub.url, namespaces=["/worker"], auth={"token": hub.token("worker", "w-1")})
    assert (await client.call("ping", namespace="/worker", timeout=WAIT))["ok"] is True
    await client.disconnect()

    def access_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in hub.output().splitlines() if line.startswith("{")]
        return [line for line in lines if line["logger"] == "hub.access"]

    # A line is written once its response has been sent: the client may read it first.
    await wait_until(lambda: any(line["path"] == "/api/v1/me" for line in access_lines()))
    lines = access_lines()
    health = [line for line in lines if line["path"] == "/healthz"]
    assert len(health) == requests
    me = next(line for line in lines if line["path"] == "/api/v1/me")
    assert {key: me[key] for key in ("level", "method", "status", "remote")} == {
        "level": "INFO",
        "method": "GET",
        "status": 401,
        "remote": "127.0.0.1",
    }
    assert me["bytes"] > 0
    assert 0 <= me["duration_ms"] < 10_000
    assert me["message"] == f"GET /api/v1/me 401 {me['bytes']}B {me['duration_ms']:.1f}ms 127.0.0.1"
    assert not any(line["path"].startswith("/socket.io/") for line in lines)
    assert "do-not-log-me" not in hub.output()
