"""What a client makes the hub log costs a bounded number of lines: records of one kind are
throttled (errors never), and the next line let through says how many were dropped."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from hub.logs import LOG_BURST, Throttle
from tests.support.clients import RawSocket
from tests.support.processes import HubProcess
from tests.support.services import free_port

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
