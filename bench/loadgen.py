"""Load-generator worker: holds some of the benchmark's sockets and drives chat between them.

Started by ``chat_latency.py`` as a separate process (one per ``--workers``, see loadgenproc.py),
so the client side's CPU is spread over processes and can be measured apart from the hub's. It
speaks JSON lines: a config line, then one command per line on stdin, one reply per line on stdout
(nothing else may be printed there). A worker only measures conversations whose customer *and*
agent it holds, so that both ends of a latency are read from the same process's
``time.perf_counter``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from clientside import bounded, error_code, ms

CUSTOMER_NS = "/customer"
AGENT_NS = "/support"
CLOSE_TIMEOUT = 30.0


@dataclass(slots=True)
class Peer:
    sub: str
    namespace: str
    client: socketio.AsyncClient
    disconnects: int = 0
    assigned: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversation:assigned by id
    news: asyncio.Event = field(default_factory=asyncio.Event)  # set at each conversation:assigned


@dataclass(slots=True)
class Conversation:
    id: str
    customer: Peer
    agent: Peer


@dataclass(slots=True)
class Sent:
    """One chat:send and what came of it; times are this process's perf_counter."""

    receiver: str
    to_agent: bool
    scheduled: float
    measured: bool  # False during the warm-up
    emitted: float = 0.0
    acked: float | None = None
    received: float | None = None
    error: str | None = None


@dataclass
class RunState:
    """Everything one ``run`` command accumulates; replaced at the next run."""

    sent: dict[str, Sent] = field(default_factory=dict)
    pending_acks: int = 0
    pending_deliveries: int = 0
    stray: int = 0  # chat:message with a client_id this run never sent (late from an earlier run)
    misrouted: int = 0  # reached a socket that was not the intended receiver
    duplicates: int = 0
    done_sending: bool = False
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def check_settled(self) -> None:
        """Called after each ack or delivery: wakes the drain once nothing is outstanding."""
        if self.done_sending and self.pending_acks <= 0 and self.pending_deliveries <= 0:
            self.settled.set()


class Worker:
    def __init__(self, config: dict[str, Any], http: aiohttp.ClientSession) -> None:
        self.index: int = config["index"]
        self.customer_url: str = config["customer_url"]
        self.agent_url: str = config["agent_url"]
        self.customer_creds: list[list[str]] = config["customers"]
        self.agent_creds: list[list[str]] = config["agents"]
        self.timeout: float = config["timeout"]
        self.concurrency: int = config["concurrency"]
        self.body: str = config["body"]
        self.http = http
        self.customers: dict[str, Peer] = {}
        self.agents: dict[str, Peer] = {}
        self.conversations: list[Conversation] = []
        self.by_agent: dict[str, list[Conversation]] = {}
        self.agent_order: list[str] = []  # agents with at least one conversation, in turn
        self.state = RunState()
        self.closing = False
        self.counter = 0
        self._next_customer = 0
        self._next_agent = 0
        self._next_of_agent: collections.Counter[str] = collections.Counter()

    # Set-up ------------------------------------------------------------------------------------

    async def connect_customers(self, _: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        peers = await bounded(
            (self._connect(self.customer_url, CUSTOMER_NS, sub, token) for sub, token in self.customer_creds),
            self.concurrency,
        )
        self.customers = {p.sub: p for p in peers}
        return {"connected": len(peers), "seconds": time.perf_counter() - started}

    async def connect_agents(self, _: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        peers = await bounded(
            (self._connect(self.agent_url, AGENT_NS, sub, token) for sub, token in self.agent_creds),
            self.concurrency,
        )
        self.agents = {p.sub: p for p in peers}
        return {"connected": len(peers), "seconds": time.perf_counter() - started}

    async def open_conversations(self, _: dict[str, Any]) -> dict[str, Any]:
        """support:open for every customer; keep the conversations assigned to our own agents."""
        started = time.perf_counter()
        replies = await bounded((self._open(peer) for peer in self.customers.values()), self.concurrency)
        outcome: collections.Counter[str] = collections.Counter()
        anomalies: list[dict[str, Any]] = []
        for peer, reply in replies:
            verdict = await self._adopt(peer, reply)
            outcome[verdict] += 1
            if verdict != "local":
                anomalies.append({"customer": peer.sub, "verdict": verdict, "ack": reply})
        self.by_agent = {}
        for conversation in self.conversations:
            self.by_agent.setdefault(conversation.agent.sub, []).append(conversation)
        self.agent_order = list(self.by_agent)
        seconds = time.perf_counter() - started
        return {
            "outcome": dict(outcome),
            "local": len(self.conversations),
            "seconds": seconds,
            "anomalies": anomalies[:5],
        }

    async def _open(self, peer: Peer) -> tuple[Peer, Any]:
        reply = await peer.client.call("support:open", None, namespace=CUSTOMER_NS, timeout=self.timeout)
        return peer, reply

    async def _adopt(self, customer: Peer, reply: Any) -> str:
        if not (isinstance(reply, dict) and reply.get("ok")):
            return f"error:{error_code(reply)}"
        conversation = reply["data"]["conversation"]
        verdict = "local"
        if conversation["status"] != "assigned":
            # The ack said "queued": a real app would wait for conversation:assigned, so do that.
            conversation = await self._assigned_later(customer, conversation["id"])
            if conversation is None:
                return "queued"
            verdict = "local, assigned after a queued ack"
        agent = self.agents.get(conversation["assigned_agent_id"])
        if agent is None:
            # Assigned to another worker's agent: its latency could not be read on one clock.
            return "foreign"
        self.conversations.append(Conversation(conversation["id"], customer, agent))
        return verdict

    async def _assigned_later(self, customer: Peer, conversation_id: str) -> dict[str, Any] | None:
        deadline = time.perf_counter() + self.timeout
        while conversation_id not in customer.assigned:
            customer.news.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(customer.news.wait(), remaining)
        return customer.assigned[conversation_id]

    async def _connect(self, url: str, namespace: str, sub: str, token: str) -> Peer:
        client = socketio.AsyncClient(
            reconnection=False, handle_sigint=False, http_session=self.http, request_timeout=self.timeout
        )
        peer = Peer(sub, namespace, client)
        client.on("chat:message", self._receiver(peer), namespace=namespace)
        client.on("conversation:assigned", self._on_assigned(peer), namespace=namespace)
        client.on("disconnect", self._on_disconnect(peer), namespace=namespace)
        await client.connect(
            url,
            namespaces=[namespace],
            auth={"token": token},
            transports=["websocket"],
            wait_timeout=self.timeout,
        )
        return peer

    # Traffic -----------------------------------------------------------------------------------

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send at a fixed rate (open loop: the schedule never waits for acks), then drain."""
        rate: float = command["rate"]
        warmup: float = command["warmup"]
        duration: float = command["duration"]
        self.state = state = RunState()
        if rate <= 0 or not self.conversations:
            return self._report(state, 0.0, command["duration"])
        # The orchestrator's time.monotonic() instant, on this process's perf_counter.
        start = command["start_at"] - time.monotonic() + time.perf_counter()
        measure_from, measure_until = start + warmup, start + warmup + duration
        disconnects_before = self._disconnects()
        for k in range(round(rate * (warmup + duration))):
            due = start + k / rate
            # Yield even when behind schedule, so that acks and deliveries keep being read.
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await self._send(state, k, due, measure_from <= due < measure_until)
        await self._drain(state, measure_until + command["drain"])
        return self._report(state, measure_from, duration, self._disconnects() - disconnects_before)

    def _pick(self, k: int) -> tuple[Conversation, bool]:
        """Alternate directions; customers take turns, and so do agents (each through their own
        conversations), so every socket sends at an even pace and stays inside its rate limit."""
        if k % 2 == 0:
            conversation = self.conversations[self._next_customer % len(self.conversations)]
            self._next_customer += 1
            return conversation, True
        agent = self.agent_order[self._next_agent % len(self.agent_order)]
        self._next_agent += 1
        mine = self.by_agent[agent]
        conversation = mine[self._next_of_agent[agent] % len(mine)]
        self._next_of_agent[agent] += 1
        return conversation, False

    async def _send(self, state: RunState, k: int, due: float, measured: bool) -> None:
        conversation, to_agent = self._pick(k)
        sender, receiver = (
            (conversation.customer, conversation.agent)
            if to_agent
            else (conversation.agent, conversation.customer)
        )
        client_id = f"w{self.index}-{self.counter}"
        self.counter += 1
        record = state.sent[client_id] = Sent(receiver.sub, to_agent, due, measured)
        payload = {"conversation_id": conversation.id, "client_id": client_id, "body": self.body}
        state.pending_acks += 1
        state.pending_deliveries += 1
        record.emitted = time.perf_counter()
        try:
            await sender.client.emit(
                "chat:send", payload, namespace=sender.namespace, callback=self._acker(state, record)
            )
        except socketio.exceptions.SocketIOError:
            record.error = "emit_failed"  # the socket is gone; the disconnect is counted too
            state.pending_acks -= 1
            state.pending_deliveries -= 1

    def _acker(self, state: RunState, record: Sent) -> Callable[..., None]:
        def on_ack(reply: Any = None) -> None:
            record.acked = time.perf_counter()
            state.pending_acks -= 1
            if not (isinstance(reply, dict) and reply.get("ok")):
                record.error = error_code(reply)
                if record.received is None:
                    state.pending_deliveries -= 1  # refused: nothing will be delivered
            state.check_settled()

        return on_ack

    def _receiver(self, peer: Peer) -> Callable[..., None]:
        def on_message(data: Any = None) -> None:
            now = time.perf_counter()
            state = self.state
            client_id = data.get("client_id") if isinstance(data, dict) else None
            if client_id is None:
                return  # a system line ("agent … assigned"), not ours
            record = state.sent.get(client_id)
            if record is None:
                state.stray += 1
            elif record.receiver != peer.sub:
                state.misrouted += 1
            elif record.received is not None:
                state.duplicates += 1
            else:
                record.received = now
                state.pending_deliveries -= 1
                state.check_settled()

        return on_message

    @staticmethod
    def _on_assigned(peer: Peer) -> Callable[..., None]:
        def on_assigned(data: Any = None) -> None:
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                peer.assigned[data["id"]] = data
                peer.news.set()

        return on_assigned

    def _on_disconnect(self, peer: Peer) -> Callable[..., None]:
        def on_disconnect(reason: Any = None) -> None:
            if not self.closing:
                peer.disconnects += 1

        return on_disconnect

    def _disconnects(self) -> int:
        return sum(p.disconnects for p in (*self.customers.values(), *self.agents.values()))

    async def _drain(self, state: RunState, until: float) -> None:
        """Wait for outstanding acks and deliveries, up to ``until`` (perf_counter)."""
        state.done_sending = True
        state.check_settled()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.settled.wait(), max(0.0, until - time.perf_counter()))

    def _report(
        self, state: RunState, measure_from: float, duration: float, disconnects: int = 0
    ) -> dict[str, Any]:
        measured = [r for r in state.sent.values() if r.measured]
        warmup = [r for r in state.sent.values() if not r.measured]
        delivered = [r for r in measured if r.received is not None]
        return {
            "sent": len(measured),
            "e2e_to_agent_ms": [ms(r.received, r.emitted) for r in delivered if r.to_agent],
            "e2e_to_customer_ms": [ms(r.received, r.emitted) for r in delivered if not r.to_agent],
            "ack_ms": [ms(r.acked, r.emitted) for r in measured if r.acked is not None and r.error is None],
            "lag_ms": [ms(r.emitted, r.scheduled) for r in measured],
            "errors": dict(collections.Counter(r.error for r in measured if r.error)),
            "warmup_errors": dict(collections.Counter(r.error for r in warmup if r.error)),
            "no_ack": sum(1 for r in measured if r.acked is None and r.error is None),
            "not_delivered": sum(1 for r in measured if r.error is None and r.received is None),
            "first_emit": min((r.emitted for r in measured), default=0.0),
            "last_received": max((r.received for r in delivered if r.received is not None), default=0.0),
            "stray": state.stray,
            "misrouted": state.misrouted,
            "duplicates": state.duplicates,
            "disconnects": disconnects,
            "duration": duration,
            "max_e2e_per_s": _per_second_max(state, measure_from, duration),
        }

    # Shutdown ----------------------------------------------------------------------------------

    async def close(self, _: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.closing:  # "stop", then the finally block of serve()
            return {"closed": 0}
        self.closing = True
        peers = [*self.customers.values(), *self.agents.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await bounded((p.client.disconnect() for p in peers), self.concurrency)
        return {"closed": len(peers)}


def _per_second_max(state: RunState, measure_from: float, duration: float) -> list[float]:
    """Worst end-to-end latency of the messages sent in each second of the measured window: a
    stall of the hub (GC, a blocking call, a periodic job) shows up as a spike at its second."""
    worst = [0.0] * math.ceil(duration)
    for r in state.sent.values():
        if r.measured and r.received is not None:
            second = min(len(worst) - 1, int(r.emitted - measure_from))
            worst[second] = max(worst[second], ms(r.received, r.emitted))
    return worst


# The JSON-lines loop -----------------------------------------------------------------------------


async def _stdin_reader() -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)  # the config carries a thousand tokens
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def serve() -> None:
    reader = await _stdin_reader()
    config = json.loads(await reader.readline())
    # One HTTP session for all sockets (not one each), with no cap on open connections: each
    # websocket holds one for its whole life.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        worker = Worker(config, http)
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "connect_customers": worker.connect_customers,
            "connect_agents": worker.connect_agents,
            "open": worker.open_conversations,
            "run": worker.run,
            "stop": worker.close,
        }
        _reply({"ok": True, "ready": True})
        try:
            while line := await reader.readline():  # EOF: the orchestrator is gone
                command = json.loads(line)
                try:
                    _reply({"ok": True, **await handlers[command["cmd"]](command)})
                except Exception as exc:
                    _reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
                if command["cmd"] == "stop":
                    return
        finally:
            await worker.close()


if __name__ == "__main__":
    # Ctrl-C is the orchestrator's to handle: it stops the workers in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(serve())
