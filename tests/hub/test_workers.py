"""``python -m hub serve --workers 2``: two hub processes on one port (SO_REUSEPORT) under a
supervisor, joined through Redis. Which worker holds what is read from ``/metrics``, which each
worker answers for itself (``hub_worker`` names it), over a new connection each time, so that the
kernel hands the requests to either worker."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psutil
import pytest
import redis.asyncio as redis
from prometheus_client.parser import text_string_to_metric_families

from hub.logs import JsonFormatter
from hub.settings import Settings
from hub.workers import drain_bound_seconds
from tests.support.clients import Peer
from tests.support.hubs import cli
from tests.support.processes import HubProcess, embedded_postgres_processes
from tests.support.services import free_port
from tests.support.waiting import WAIT, wait_until

WORKERS = 2
CUSTOMERS = 40
KILL_MARGIN = 5.0  # past the drain bound: the interpreter's exit, the supervisor's last lines

Sockets = dict[int, dict[str, int]]  # worker pid -> namespace -> sockets it holds


async def scrape(url: str) -> tuple[int, dict[str, int]]:
    """One /metrics over a connection of its own: the pid of the worker that answered, and the
    sockets it holds by namespace."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url + "/metrics") as got:
        text = await got.text()
    pid, sockets = None, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "hub_worker":
                pid = int(sample.labels["pid"])
            elif sample.name == "hub_sockets":
                sockets[sample.labels["namespace"]] = int(sample.value)
    assert pid is not None, "a worker's /metrics does not say which worker it is"
    return pid, sockets


async def sockets_by_worker(url: str, pids: set[int]) -> Sockets:
    """What each worker of ``pids`` holds, asking until each has answered."""
    seen: Sockets = {}

    async def every_worker_answered() -> bool:
        pid, sockets = await scrape(url)
        seen[pid] = sockets
        return pids <= seen.keys()

    await wait_until(every_worker_answered, within=WAIT)
    return {pid: seen[pid] for pid in pids}


def workers_of(hub: HubProcess) -> set[int]:
    return {child.pid for child in psutil.Process(hub.proc.pid).children()}


async def serving_workers(hub: HubProcess) -> set[int]:
    """The supervisor's workers, once both are started and answering on the port."""
    await hub.ready()
    pids: set[int] = await wait_until(lambda: len(workers_of(hub)) == WORKERS and workers_of(hub))
    await sockets_by_worker(hub.url, pids)
    return pids


def on(sockets: Sockets, namespace: str) -> dict[int, int]:
    return {pid: held.get(namespace, 0) for pid, held in sockets.items()}


@pytest.fixture
async def workers_env(hub_env: dict[str, str], redis_url: str) -> AsyncIterator[dict[str, str]]:
    run = uuid.uuid4().hex[:8]
    yield {
        **hub_env,
        "HUB_REDIS_URL": redis_url,
        "HUB_REDIS_CHANNEL": f"hub-test-{run}",
        "HUB_PRESENCE_KEY_PREFIX": f"hub-test-{run}:presence:",
        # Every client of the test connects from one address.
        "HUB_SOCKET_CONNECTS_PER_ADDRESS": "100000",
        "HUB_SOCKET_MAX_PENDING_PER_ADDRESS": "100000",
    }
    client = redis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"hub-test-{run}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def start(processes: list[HubProcess], env: dict[str, str], tmp_path: Path) -> HubProcess:
    hub = HubProcess(env, free_port(), tmp_path / "hub.log", args=("--workers", str(WORKERS)))
    processes.append(hub)
    return hub


async def test_two_workers_share_the_port_chat_across_and_stop_on_sigterm(
    processes: list[HubProcess], workers_env: dict[str, str], tmp_path: Path
) -> None:
    hub = start(processes, workers_env, tmp_path)
    pids = await serving_workers(hub)
    peers: list[Peer] = []
    try:
        agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
        peers.append(agent)
        agents = on(await sockets_by_worker(hub.url, pids), "/support")
        [agent_worker] = [pid for pid, count in agents.items() if count == 1]

        # Customers one at a time, each placed by the worker whose count went up.
        where: dict[str, int] = {}
        before = on(await sockets_by_worker(hub.url, pids), "/customer")
        for i in range(CUSTOMERS):
            customer = await Peer("/customer").connect(hub.url, hub.token("customer", f"c-{i}"))
            peers.append(customer)
            after = on(await sockets_by_worker(hub.url, pids), "/customer")
            [grew] = [pid for pid in pids if after[pid] == before[pid] + 1]
            assert sum(after.values()) == sum(before.values()) + 1, (before, after)
            where[f"c-{i}"], before = grew, after
        assert sorted(before.values()) == sorted(list(where.values()).count(pid) for pid in pids)
        assert all(count > 0 for count in before.values()), f"a worker got no connection: {before}"

        # A customer on the other worker than the agent's: assignment, chat and receipts cross
        # between the two processes through Redis.
        other = next(i for i in range(CUSTOMERS) if where[f"c-{i}"] != agent_worker)
        customer = peers[1 + other]
        opened = await customer.ok("support:open")
        conv = opened["conversation"]["id"]
        assert opened["conversation"]["assigned_agent_id"] == "a-1"
        await agent.next_where("conversation:assigned", lambda c: c["id"] == conv)
        sent = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "1", "body": "hello"})
        got = await agent.next_where("chat:message", lambda m: m["kind"] == "text")
        assert (got["body"], got["seq"]) == ("hello", sent["seq"])
        reply = await agent.ok("chat:send", {"conversation_id": conv, "client_id": "2", "body": "hi there"})
        answer = await customer.next_where("chat:message", lambda m: m["kind"] == "text")
        assert (answer["body"], answer["seq"]) == ("hi there", reply["seq"])
    finally:
        for peer in peers:
            if peer.client.connected:
                await peer.close()

    # SIGTERM to the supervisor: every worker drains and exits, then the supervisor, within the
    # bound a lone hub promises.
    bound = drain_bound_seconds(Settings.from_env(workers_env))
    hub.proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(hub.proc.wait, bound + KILL_MARGIN)
    assert code == 0, hub.output()
    assert not [pid for pid in pids if psutil.pid_exists(pid)], hub.output()
    assert hub.output().count("hub stopped") == WORKERS + 1, hub.output()
    # Each worker's lines say which worker wrote them.
    assert all(f"INFO worker-{n} hub: hub stopped" in hub.output() for n in range(1, WORKERS + 1))


def test_a_workers_json_log_lines_carry_its_number() -> None:
    record = logging.LogRecord("hub", logging.INFO, __file__, 1, "hub stopped", None, None)
    assert json.loads(JsonFormatter(worker=2).format(record))["worker"] == 2
    assert "worker" not in json.loads(JsonFormatter().format(record))


async def test_a_killed_worker_is_started_again(
    processes: list[HubProcess], workers_env: dict[str, str], tmp_path: Path
) -> None:
    hub = start(processes, workers_env, tmp_path)
    pids = await serving_workers(hub)
    victim, survivor = sorted(pids)
    psutil.Process(victim).kill()

    replacement: set[int] = await wait_until(
        lambda: len(workers_of(hub) - pids) == 1 and workers_of(hub) - pids, within=WAIT
    )
    [new] = replacement
    assert workers_of(hub) == {survivor, new}
    # The new worker accepts connections on the shared port: a websocket client lands on it.
    await sockets_by_worker(hub.url, {survivor, new})
    peers = []
    try:

        async def one_lands_on_new() -> bool:
            peer = await Peer("/worker").connect(hub.url, hub.token("worker", f"w-{len(peers)}"))
            peers.append(peer)
            return on(await sockets_by_worker(hub.url, {new}), "/worker")[new] > 0

        await wait_until(one_lands_on_new, within=WAIT)
    finally:
        for peer in peers:
            await peer.close()
    assert f"(pid {victim}) died with signal SIGKILL" in hub.output()


# An add-on whose start-up fails in every worker, while the supervisor (which loads and configures
# extensions but does not attach them) finds nothing wrong.
FAILING_EXTENSION = """
from hub.extension import Extension


class FailsAtStart(Extension):
    name = "fails_at_start"

    @classmethod
    def from_env(cls, env):
        return cls()

    def attach(self, host):
        raise RuntimeError("this extension cannot start")


EXTENSION = FailsAtStart
"""


async def test_workers_that_die_at_start_stop_the_hub(
    processes: list[HubProcess], workers_env: dict[str, str], tmp_path: Path
) -> None:
    """Every worker fails while it starts: after a few tries the supervisor gives up with exit
    code 1 rather than starting them again forever."""
    package = tmp_path / "fails_at_start"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "extension.py").write_text(FAILING_EXTENSION)
    env = {**workers_env, "HUB_EXTENSIONS": "fails_at_start", "PYTHONPATH": str(tmp_path)}
    hub = start(processes, env, tmp_path)
    code = await asyncio.to_thread(hub.proc.wait, 60)
    assert code == 1, hub.output()
    assert "before serving, 3 times in a row; stopping the hub" in hub.output()
    assert "RuntimeError: this extension cannot start" in hub.output()


def test_more_than_one_worker_needs_redis(hub_env: dict[str, str]) -> None:
    result = cli("serve", "--workers", "2", "--port", str(free_port()), env=hub_env)
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        "hub: configuration error: HUB_WORKERS / --workers: 2 worker processes need HUB_REDIS_URL: "
        "each worker is a node of its own, and without Redis what one sends never reaches the "
        "sockets of another; set HUB_REDIS_URL or run one worker"
    ]


def test_auto_is_one_worker_per_usable_cpu() -> None:
    assert Settings.from_env({"HUB_WORKERS": "auto"}).workers == len(os.sched_getaffinity(0))
    assert Settings.from_env({}).workers == 1


@pytest.mark.parametrize(
    ("value", "error"),
    [("0", "must be at least 1"), ("many", "'many' is not a valid int"), ("1000", "must be at most 256")],
)
def test_bad_worker_counts_are_refused(hub_env: dict[str, str], value: str, error: str) -> None:
    result = cli("serve", "--workers", value, env=hub_env)
    assert result.returncode == 2
    assert error in result.stderr
    result = cli("serve", env={**hub_env, "HUB_WORKERS": value})
    assert result.returncode == 2
    assert f"hub: configuration error: HUB_WORKERS: {error}" in result.stderr


async def test_a_polling_request_reaching_the_other_worker_is_refused(
    processes: list[HubProcess], workers_env: dict[str, str], tmp_path: Path
) -> None:
    """Without a sticky proxy, a long-polling session's requests reach either worker; the one that
    did not open it answers Engine.IO's 400 "Invalid session" (socket.io-client then connects
    again), and the one that did serves it."""
    hub = start(processes, workers_env, tmp_path)
    await serving_workers(hub)
    base = f"{hub.url}/socket.io/?EIO=4&transport=polling"
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(base) as opened:
            handshake = await opened.text()
        assert handshake.startswith("0{"), handshake
        sid = json.loads(handshake[1:])["sid"]
        answers: dict[int, str] = {}

        async def both_workers_answered() -> bool:
            # A PONG packet: the worker that holds the session takes it, the other refuses it.
            async with session.post(f"{base}&sid={sid}", data="3") as response:
                answers[response.status] = await response.text()
            return {200, 400} <= answers.keys()

        await wait_until(both_workers_answered, within=WAIT)
    assert answers[200] == "OK"
    assert "Invalid session" in answers[400]


def test_a_port_in_use_is_said_once_before_any_worker_starts(workers_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port), env=workers_env)
    assert result.returncode == 2, result
    assert f"hub: port {port} is already in use (HUB_PORT / --port)" in result.stderr.splitlines()
    assert "worker" not in result.stderr.replace("--workers", "")


async def test_the_embedded_database_is_started_once_for_every_worker(
    processes: list[HubProcess], workers_env: dict[str, str], tmp_path: Path
) -> None:
    """No HUB_DATABASE_URL and no secret: the supervisor starts one embedded PostgreSQL, creates one
    development secret and applies the migrations; the workers use that server, and it stops after
    them."""
    env = {k: v for k, v in workers_env.items() if k not in ("HUB_DATABASE_URL", "HUB_JWT_SECRET")}
    data_dir = Path(env["HUB_DATA_DIR"])
    hub = start(processes, env, tmp_path)
    await serving_workers(hub)
    # One server: its postmaster and the postmaster's own processes, nothing the workers started.
    postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    servers = embedded_postgres_processes(data_dir)
    assert postmaster in {p.pid for p in servers}
    assert all(p.pid == postmaster or p.ppid() == postmaster for p in servers), servers
    output = hub.output()
    assert output.count("generated a development secret") == 1, output
    assert output.count("database ready (embedded)") == 1, output
    assert "applied migration 0001_events" in output  # by the supervisor, before any worker started
    assert output.index("applied migration 0001_events") < output.index("worker-1")

    hub.proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(hub.proc.wait, drain_bound_seconds(Settings.from_env(env)) + KILL_MARGIN)
    assert code == 0, hub.output()
    assert embedded_postgres_processes(data_dir) == [], hub.output()
    assert "embedded PostgreSQL stopped" in hub.output()
