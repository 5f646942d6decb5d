"""The hub as the dispatch benchmark drives it: its database and process (``Deployment``), a direct
connection pool for seeding and checking, the workers' sockets, and the REST calls customers and
admins make."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import hubproc
from deployment import Deployment
from dispatch_fleet import Fleet
from runner import say

from hub.auth import Role


@dataclass
class Hub:
    args: argparse.Namespace
    log_dir: Path
    deployment: Deployment = field(init=False)
    fleet: Fleet = field(init=False)
    pool: asyncpg.Pool | None = None
    http: aiohttp.ClientSession | None = None
    closing: bool = False
    log_problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deployment = Deployment(self.args.pg_admin, self.log_dir)
        self.fleet = Fleet(self.args.timeout, self.args.concurrency)

    async def start(self, hub_env: dict[str, str]) -> None:
        deployment = self.deployment
        await deployment.create_database({"HUB_BOOKING_MIN_LEAD_MINUTES": "0", **hub_env})
        say(f"database {deployment.database_name}; starting the hub with {hub_env}")
        await deployment.start_hubs(["A"])
        assert self.dsn is not None
        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        # No cap on connections: every websocket holds one for its whole life.
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=self.args.timeout)
        )

    @property
    def dsn(self) -> str | None:
        return self.deployment.dsn

    @property
    def node(self) -> hubproc.HubNode | None:
        return self.deployment.nodes[0] if self.deployment.nodes else None

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.url

    def token(self, role: Role, sub: str) -> str:
        return self.deployment.token(role, sub)

    async def connect_workers(self, subs: list[str]) -> None:
        assert self.http is not None
        await self.fleet.connect(self.url, self.http, {sub: self.token(Role.WORKER, sub) for sub in subs})

    async def post(self, path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post(self.url + path, json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def book(self, customer: str, request: dict[str, Any]) -> tuple[int, Any]:
        return await self.post("/api/v1/bookings", self.token(Role.CUSTOMER, customer), request)

    async def mark_paid(self, booking_id: str) -> tuple[int, Any]:
        return await self.post(
            f"/api/v1/admin/bookings/{booking_id}/mark-paid",
            self.admin_token,
            {"payment_ref": f"bench-{booking_id}"},
        )

    @property
    def admin_token(self) -> str:
        return self.token(Role.ADMIN, "bench-admin")

    async def stop(self) -> None:
        """Sockets, then the hub, then the database; each step bounded and run even if one failed.
        Safe to call twice."""
        if self.closing:
            return
        self.closing = True
        await self.fleet.disconnect()
        if self.http is not None:
            with contextlib.suppress(Exception):
                await self.http.close()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 10)
        await self.deployment.stop()
        self.log_problems = self.deployment.log_problems.get("A", [])
