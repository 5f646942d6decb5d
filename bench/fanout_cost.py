"""What fan-out between nodes costs each hub node and each Redis shard, one channel against one
shard channel per room: the model's table (``fanout_model.py``), the CPU one node spends on each
message it decodes, and, with ``--measure``, one point measured on a Redis and a Redis Cluster of
the run's own (``fanout_point.py``).

    .venv/bin/python bench/fanout_cost.py                 # the table, and CPU per decoded message
    .venv/bin/python bench/fanout_cost.py --measure       # and the measured point (about a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # hub and tests.support, for the measured point

import fanout_connect  # noqa: E402
import fanout_model  # noqa: E402
import fanout_point  # noqa: E402
import socketio  # noqa: E402
from socketio.async_pubsub_manager import AsyncPubSubManager  # noqa: E402

from tests.support.redis_cluster import RedisCluster  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

NODES = (2, 4, 8, 16)
SOCKETS = (10_000, 100_000)
SHARDS = 3


def table(t: fanout_model.Traffic, cpu_us: float) -> str:
    rows = [
        "| nodes | sockets | fan-out | received/s per node | decoded/s per node | node CPU for them | "
        "subscriptions per node | (un)subscribes/s per node | publishes/s per shard | "
        "deliveries/s per shard |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sockets in SOCKETS:
        for nodes in NODES:
            for name, cost in (
                ("one channel", fanout_model.single_channel(nodes, sockets, t)),
                (f"sharded, {SHARDS} shards", fanout_model.sharded(nodes, sockets, SHARDS, t)),
            ):
                rows.append(
                    f"| {nodes} | {sockets:,} | {name} | {cost.received:,.0f} | {cost.decoded:,.0f} | "
                    f"{cost.decoded * cpu_us / 1e4:.1f} % of a core | {cost.subscriptions:,.0f} | "
                    f"{cost.subscribe_commands:,.1f} | {cost.publishes_per_shard:,.0f} | "
                    f"{cost.deliveries_per_shard:,.0f} |"
                )
    return "\n".join(rows)


def decode_cost_us(messages: int = 20_000) -> float:
    """CPU microseconds python-socketio's pub/sub manager spends on one received emit for a room
    with no socket on this node: decode, and handle (it encodes the packet before it looks for
    participants). Measured with ``time.process_time``."""

    async def run() -> float:
        manager = AsyncPubSubManager(channel="bench")
        socketio.AsyncServer(client_manager=manager, async_mode="asgi")
        manager.basic_enter_room("sid-1", "/customer", None, eio_sid="eio-1")
        manager.basic_enter_room("sid-1", "/customer", "sid-1", eio_sid="eio-1")
        publish = fanout_point.Publish(0, "user:someone-elsewhere")
        raw = fanout_point.message(publish, "another-node").encode()
        start = time.process_time()
        for _ in range(messages):
            await manager._handle_emit(manager.json.loads(raw))
        return (time.process_time() - start) / messages * 1e6

    return asyncio.run(run())


def measure(nodes: int, sockets: int, seconds: float, t: fanout_model.Traffic) -> dict[str, Any]:
    plan = fanout_point.traffic(nodes, sockets, seconds, t)
    with tempfile.TemporaryDirectory(prefix="fanout-cost-") as tmp:
        (Path(tmp) / "single").mkdir()
        single = asyncio.run(fanout_point.single_channel(Path(tmp) / "single", nodes, plan))
        sharded = asyncio.run(fanout_point.sharded(Path(tmp) / "cluster", nodes, sockets, plan, t))
    expected = {
        "single": fanout_model.single_channel(nodes, sockets, t),
        "sharded": fanout_model.sharded(nodes, sockets, SHARDS, t),
    }
    return {
        "nodes": nodes,
        "sockets": sockets,
        "seconds": seconds,
        "publishes": len(plan),
        "measured": {"single": single, "sharded": sharded},
        "model_per_node_over_the_run": {
            name: {
                "received": round(c.received * seconds),
                "decoded": round(c.decoded * seconds),
                "subscriptions": round(c.subscriptions),
            }
            for name, c in expected.items()
        },
    }


def connects(sockets: int) -> list[dict[str, Any]]:
    """A hub's CPU per connect and disconnect on a Redis and on a Redis Cluster of the run's own."""

    async def on_one_redis(directory: Path) -> dict[str, Any]:
        server = RedisServer(directory)
        await server.start()
        try:
            return await fanout_connect.connect_cost(sockets, server.url, cluster=False)
        finally:
            await server.kill()

    results = []
    with tempfile.TemporaryDirectory(prefix="fanout-cost-") as tmp:
        (Path(tmp) / "single").mkdir()
        results.append(asyncio.run(on_one_redis(Path(tmp) / "single")))
        cluster = RedisCluster(Path(tmp) / "cluster")
        cluster.start()
        try:
            results.append(asyncio.run(fanout_connect.connect_cost(sockets, cluster.url, cluster=True)))
        finally:
            cluster.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--measure", action="store_true", help="measure one point on a Redis and a Redis Cluster"
    )
    parser.add_argument("--nodes", type=int, default=3, help="listeners standing for hub nodes (--measure)")
    parser.add_argument("--sockets", type=int, default=3000, help="sockets over all nodes (--measure)")
    parser.add_argument(
        "--seconds", type=float, default=60, help="seconds of the model's traffic (--measure)"
    )
    parser.add_argument(
        "--connects", type=int, default=0, help="also: hub CPU per connect, one Redis and a cluster"
    )
    args = parser.parse_args()
    t = fanout_model.Traffic()
    cpu_us = decode_cost_us()
    print(f"CPU per decoded message (python-socketio, no local socket in the room): {cpu_us:.1f} us\n")
    print(table(t, cpu_us))
    if args.measure:
        print(json.dumps(measure(args.nodes, args.sockets, args.seconds, t), indent=2))
    if args.connects:
        print(json.dumps(connects(args.connects), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
