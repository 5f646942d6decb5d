"""A Redis Cluster of the test's own: three shards (one ``redis-server`` each, no replicas) on free
ports, created with ``redis-cli --cluster create``; a shard can be killed and started again on its
port with its ``nodes.conf``, so it comes back owning the same slots, empty."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.services import IN_CI, free_port

SHARDS = 3
READY_WITHIN = 30.0  # seconds for the cluster (or a restarted shard) to report cluster_state:ok


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is needed to run a Redis Cluster under a test", pytrace=False)
        pytest.skip(f"{name} is not installed")
    return path


class RedisShard:
    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.bus_port = free_port()  # cluster-port: the default (port + 10000) may not be free
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                "--cluster-config-file", str(self.directory / f"nodes-{self.port}.conf"),
                "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=2.0)

    def kill(self) -> None:
        """As a crash would: no shutdown, everything in memory gone (nodes.conf stays)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


class RedisCluster:
    def __init__(self, directory: Path) -> None:
        server, self.cli = _binary("redis-server"), _binary("redis-cli")
        directory.mkdir(parents=True, exist_ok=True)
        self.shards = [RedisShard(server, directory) for _ in range(SHARDS)]
        self.url = f"redis://127.0.0.1:{self.shards[0].port}/0"

    def start(self) -> None:
        for shard in self.shards:
            shard.start()
        for shard in self.shards:
            self._wait(shard, lambda c: c.ping())
        created = subprocess.run(
            [self.cli, "--cluster", "create", *(f"127.0.0.1:{s.port}" for s in self.shards),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        self.wait_ok()

    def wait_ok(self) -> None:
        """Every shard says cluster_state:ok and knows all the shards."""
        for shard in self.shards:
            self._wait(shard, self._ok)

    def restart(self, shard: RedisShard) -> None:
        shard.kill()
        shard.start()
        self.wait_ok()

    def stop(self) -> None:
        for shard in self.shards:
            shard.kill()

    def owner(self, channel: str) -> RedisShard:
        """The shard whose slots hold ``channel`` (or a key of that name)."""
        with self.shards[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", channel))
            ranges = client.execute_command("CLUSTER", "SLOTS")
        port = next(int(r[2][1]) for r in ranges if int(r[0]) <= slot <= int(r[1]))
        return next(s for s in self.shards if s.port == port)

    def move_slot_of(self, channel: str, to: RedisShard) -> None:
        """Reshard: the slot of ``channel`` (holding no key) moves to ``to``, as ``redis-cli
        --cluster reshard`` moves an empty slot; the shard it leaves unsubscribes its clients
        from the slot's channels."""
        source = self.owner(channel)
        with source.client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", channel))
            assert int(client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) == 0
            source_id = client.execute_command("CLUSTER", "MYID").decode()
        with to.client() as client:
            target_id = client.execute_command("CLUSTER", "MYID").decode()
            client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        with source.client() as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        for shard in [to, source, *(s for s in self.shards if s not in (to, source))]:
            with shard.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        for shard in self.shards:
            self._wait(shard, lambda c: self._owner_seen(c, slot, to.port))

    @staticmethod
    def _owner_seen(client: redis.Redis, slot: int, port: int) -> bool:
        ranges = client.execute_command("CLUSTER", "SLOTS")
        return any(int(r[0]) <= slot <= int(r[1]) and int(r[2][1]) == port for r in ranges)

    def shard_channels(self) -> dict[int, set[str]]:
        """Each shard's active shard channels (``PUBSUB SHARDCHANNELS``), by port."""
        found: dict[int, set[str]] = {}
        for shard in self.shards:
            with shard.client() as client:
                found[shard.port] = {c.decode() for c in client.execute_command("PUBSUB", "SHARDCHANNELS")}
        return found

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to ``channel`` (``PUBSUB SHARDNUMSUB``; a shard
        counts only its own clients, and a channel lives on one shard, so the sum is the count)."""
        total = 0
        for shard in self.shards:
            with shard.client() as client:
                reply = client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
                total += int(reply[1])
        return total

    @staticmethod
    def _ok(client: redis.Redis) -> bool:
        info = client.execute_command("CLUSTER", "INFO").decode()
        fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
        return fields.get("cluster_state") == "ok" and fields.get("cluster_known_nodes") == str(SHARDS)

    @staticmethod
    def _wait(shard: RedisShard, check: Callable[[redis.Redis], Any]) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while True:
            try:
                with shard.client() as client:
                    if check(client):
                        return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"Redis shard on port {shard.port} not ready within {READY_WITHIN}s")
            time.sleep(0.05)
