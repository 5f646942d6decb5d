"""A Redis server of a test's own, to kill and restart without disturbing the shared one."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from tests.support.services import IN_CI, free_port


class RedisServer:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if IN_CI:
                pytest.fail("redis-server is needed to restart Redis under a test", pytrace=False)
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 10.0) -> None:
        """Start it empty (no persistence) on its port, and wait until it answers."""
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + within
        while True:
            client = aioredis.Redis(port=self.port, socket_connect_timeout=0.5)
            try:
                await client.ping()
                return
            except aioredis.ConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not answer within {within}s") from None
                await asyncio.sleep(0.05)
            finally:
                await client.aclose()

    async def kill(self) -> None:
        """As a crash would: no shutdown, everything in memory gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)
        self.process = None
