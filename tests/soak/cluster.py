"""Two hub nodes as a user runs them (``python -m hub serve``), on a PostgreSQL and a Redis of
their own, each behind a relay that stands for the clients' network, and the faults the soak
injects into them."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from hub.auth import Role, issue_token
from hub.settings import Settings
from tests.soak.proxy import Relay
from tests.support.bookings import FAST, add_service, add_worker
from tests.support.hubs import JWT_SECRET
from tests.support.postgres import OwnPostgres, own_postgres
from tests.support.processes import HubProcess
from tests.support.redis_server import RedisServer
from tests.support.services import free_port

NODE_NAMES = ("a", "b")
READY_WITHIN = 60.0
HTTP_TIMEOUT = 10.0

# Bounds short enough that a stalled database is answered in about a second, presence that settles
# in a few, and connect limits that a whole fleet reconnecting from one address does not trip.
NODE_ENV = {
    **FAST,
    "HUB_JWT_SECRET": JWT_SECRET,
    "HUB_LOG_LEVEL": "INFO",
    "HUB_OUTBOX_SWEEP_SECONDS": "0.5",
    "HUB_OUTBOX_BACKOFF_BASE": "0.05",
    "HUB_OUTBOX_BACKOFF_CAP": "0.5",
    "HUB_PRESENCE_GRACE_SECONDS": "1",
    "HUB_PRESENCE_TTL_SECONDS": "3",
    "HUB_PRESENCE_SWEEP_SECONDS": "0.3",
    "HUB_DB_CONNECT_TIMEOUT_SECONDS": "1",
    "HUB_DB_ACQUIRE_TIMEOUT_SECONDS": "1",
    "HUB_DB_STATEMENT_TIMEOUT_SECONDS": "2",
    "HUB_SOCKET_CONNECTS_PER_ADDRESS": "100000",
    "HUB_SOCKET_MAX_PENDING_PER_ADDRESS": "100000",
    "HUB_SOCKET_CONNECTS_PER_USER": "50",
    "HUB_CHAT_AGENT_CAPACITY": "100",  # every customer's conversation assigned: every message owed
    # Offers wait long enough for a worker whose network was cut to come back and take them.
    "HUB_DISPATCH_OFFER_SECONDS": "60",
    "HUB_DISPATCH_CHOSEN_OFFER_SECONDS": "60",
}


@dataclass
class Fault:
    kind: str
    started: float
    seconds: float = 0.0
    detail: str = ""
    # Seconds from the fault's start until everyone was connected again, and until everything
    # stored by then had reached everyone it was owed to.
    reconnected: float = 0.0
    caught_up: float = 0.0


@dataclass
class Node:
    name: str
    port: int
    relay: Relay
    process: HubProcess
    incarnation: int = 1


@dataclass
class Cluster:
    directory: Path
    postgres: OwnPostgres
    redis: RedisServer
    env: dict[str, str]
    nodes: list[Node] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._settings = Settings.from_env(self.env)

    def url(self, node: int) -> str:
        """Where clients connect: the relay in front of the node."""
        return self.nodes[node % len(self.nodes)].relay.url

    def token(self, role: str, sub: str) -> str:
        return issue_token(self._settings, role=Role(role), sub=sub, ttl_seconds=24 * 3600)

    async def http(
        self, node: int, method: str, path: str, role: str, sub: str, json: Any = None, key: str = ""
    ) -> tuple[int, Any]:
        """One HTTP call through the node's relay; ``key`` is sent as ``Idempotency-Key``."""
        headers = {"Authorization": f"Bearer {self.token(role, sub)}"}
        if key:
            headers["Idempotency-Key"] = key
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT)) as session,
            session.request(method, self.url(node) + path, headers=headers, json=json) as response,
        ):
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def connect_db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.postgres.dsn, timeout=10)

    # The faults. Each is recorded with its start (seconds into the run) and how long it lasted.

    def cut_client_networks(self) -> None:
        cut = sum(node.relay.cut() for node in self.nodes)
        self._record("client_networks_cut", detail=f"{cut} connections")

    async def restart_redis_empty(self, down: float = 1.0) -> None:
        began = time.monotonic()
        await self.redis.kill()
        await asyncio.sleep(down)  # the outage itself: what the nodes do meanwhile is under test
        await self.redis.start()
        self._record("redis_restarted_empty", began)

    async def freeze_postgres(self, seconds: float = 3.0) -> None:
        began = time.monotonic()
        self.postgres.freeze()
        try:
            await asyncio.sleep(seconds)  # the stall itself
        finally:
            self.postgres.thaw()
        self._record("postgres_frozen", began)

    async def kill_postgres(self) -> None:
        began = time.monotonic()
        self.postgres.kill()
        await self.postgres.restart()
        self._record("postgres_killed_and_restarted", began)

    async def kill_node(self, index: int) -> None:
        """SIGKILL a node and start it again on its port, as a supervisor would."""
        began = time.monotonic()
        node = self.nodes[index]
        node.process.stop()  # SIGKILL: no shutdown, no goodbye to its sockets
        node.incarnation += 1
        node.process = self._process(node.name, node.port, node.incarnation)
        await node.process.ready(READY_WITHIN)
        self._record("node_killed", began, detail=f"node {node.name}")

    def _record(self, kind: str, began: float | None = None, detail: str = "") -> None:
        now = time.monotonic()
        start = began if began is not None else now
        self.faults.append(Fault(kind, round(start - self.started, 1), round(now - start, 1), detail))

    def _process(self, name: str, port: int, incarnation: int) -> HubProcess:
        return HubProcess(self.env, port, self.directory / f"node-{name}-{incarnation}.log")

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.directory.glob("node-*.log")))


@contextlib.asynccontextmanager
async def running_cluster(directory: Path, env: dict[str, str] | None = None) -> AsyncIterator[Cluster]:
    """Its own PostgreSQL and Redis, then node a (which migrates), then node b."""
    redis = RedisServer(directory)
    await redis.start()
    try:
        async with own_postgres() as postgres:
            run = uuid.uuid4().hex[:8]
            cluster_env = {
                **NODE_ENV,
                **(env or {}),
                "HUB_DATABASE_URL": postgres.dsn,
                "HUB_REDIS_URL": redis.url,
                "HUB_REDIS_CHANNEL": f"hub-soak-{run}",
                "HUB_DATA_DIR": str(directory / "var"),
            }
            cluster = Cluster(directory, postgres, redis, cluster_env)
            try:
                for name in NODE_NAMES:
                    port = free_port()
                    process = cluster._process(name, port, 1)
                    relay = await Relay(port).start()
                    cluster.nodes.append(Node(name, port, relay, process))
                    await process.ready(READY_WITHIN)
                yield cluster
            finally:
                for node in cluster.nodes:
                    node.process.stop()
                    await node.relay.close()
    finally:
        await redis.kill()


async def seed(cluster: Cluster, workers: list[str]) -> None:
    """One service and the dispatch workers, around the centre the bookings use."""
    async with asyncpg.create_pool(cluster.postgres.dsn, min_size=1, max_size=1) as pool:
        await add_service(pool)
        for n, worker in enumerate(workers, start=1):
            await add_worker(pool, worker, km_east=float(n))
