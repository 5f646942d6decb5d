"""What a socket's connect and disconnect cost a hub process, with one Redis and with a Redis
Cluster (``HUB_REDIS_MODE=cluster``): on a cluster each one also subscribes and unsubscribes the
socket's channel and its person's room, and presence goes through the cluster client.

One hub process (``python -m hub serve``, stock settings) on a database of its own; ``sockets``
python-socketio clients join ``/worker`` as workers of their own, ``CONCURRENCY`` at a time, then
all leave. The hub's CPU time (``/proc``) is read around each phase.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import hubproc
import socketio
from deployment import DEFAULT_PG, Deployment

from hub.auth import Role

CONCURRENCY = 50


async def connect_cost(sockets: int, redis_url: str, cluster: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fanout-connect-") as tmp:
        deployment = Deployment(DEFAULT_PG, Path(tmp))
        env = {"HUB_REDIS_URL": redis_url, "HUB_REDIS_MODE": "cluster" if cluster else "single"}
        try:
            await deployment.create_database(env)
            await deployment.start_hubs(["a"])
            node = deployment.nodes[0]
            tokens = [deployment.token(Role.WORKER, f"w-{i}") for i in range(sockets)]
            clients = [socketio.AsyncClient(reconnection=False) for _ in tokens]
            before = _cpu(node.pid)
            start = time.monotonic()
            await _bounded(
                [
                    c.connect(node.url, namespaces=["/worker"], auth={"token": t}, transports=["websocket"])
                    for c, t in zip(clients, tokens, strict=True)
                ]
            )
            connected = _cpu(node.pid)
            connect_wall = time.monotonic() - start
            await _bounded([c.disconnect() for c in clients])
            await _until_no_sockets(node)  # the hub handles the last ones after the clients return
            left = _cpu(node.pid)
            return {
                "mode": "cluster" if cluster else "single",
                "sockets": sockets,
                "hub_cpu_ms_per_connect": round((connected - before) / sockets * 1000, 2),
                "hub_cpu_ms_per_disconnect": round((left - connected) / sockets * 1000, 2),
                "connect_wall_seconds": round(connect_wall, 2),
                "hub_warnings": deployment.nodes[0].log_problems()[:5],
            }
        finally:
            await deployment.stop()


async def _until_no_sockets(node: hubproc.HubNode, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        lines = await hubproc.scrape_metric_lines(node, 'hub_sockets{namespace="/worker"}')
        if lines and float(lines[0].split()[-1]) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the hub still counted sockets {within}s after they left")


def _cpu(pid: int) -> float:
    seconds = hubproc.cpu_seconds(pid)
    assert seconds is not None, "the hub process is gone"
    return seconds


async def _bounded(calls: list[Any]) -> None:
    for start in range(0, len(calls), CONCURRENCY):
        await asyncio.gather(*calls[start : start + CONCURRENCY])
