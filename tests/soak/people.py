"""The people of the soak, each one careful client as the protocol asks clients to be: resend until
acknowledged (the same ``client_id``), keep per-stream marks, and ``sync`` after every reconnect
(in the handshake), every gap in a stream's ``seq`` and every ``sync:required``. Each records how
every message and notification reached it (live, through a sync, or only through the final sync),
for the reconciliation; support agents do the same for every event of the console stream."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import time
from collections import Counter, defaultdict
from typing import Any

import socketio

from tests.soak.cluster import Cluster

CALL_TIMEOUT = 10.0
# Answers that mean "not now": the same call, sent again later, is expected to succeed. An
# internal_error is retried too, as a client would, but the reconciliation counts it as a failure.
RETRYABLE = frozenset({"db_unavailable", "presence_unavailable", "rate_limited", "internal_error"})
# What /support receives on the console stream, each with the stream's seq.
CONSOLE_EVENTS = ("item:updated", "booking:updated", "order:alert", "dispatch:escalated")
# How long a console waits for the snapshot its connect brings before asking for one.
SNAPSHOT_WITHIN = 5.0


class NotNow(Exception):
    """The call got no usable answer (disconnected, timed out, or a retryable error)."""


class Person:
    """One person's socket. Subclasses add what the person does."""

    def __init__(self, cluster: Cluster, role: str, sub: str, namespace: str, node: int) -> None:
        self.cluster, self.role, self.sub, self.namespace, self.node = cluster, role, sub, namespace, node
        self.token = cluster.token(role, sub)
        self.client: socketio.AsyncClient | None = None
        self.connected = asyncio.Event()
        self.stats: Counter[str] = Counter()
        # conversation -> seq -> how it first arrived: "live", "sync", "final" or "own" (acked)
        self.messages: dict[str, dict[int, str]] = defaultdict(dict)
        self.notifications: dict[int, str] = {}
        self.live_twice: list[tuple[str, int]] = []
        self._live: set[tuple[str, int]] = set()
        self._marks: dict[str, int] = defaultdict(int)
        self._notification_mark = 0
        self.sent: dict[str, tuple[str, int]] = {}  # client_id -> (conversation, seq), once acked
        self.acks: dict[str, dict[str, Any]] = {}  # client_id -> the ack's data, for diagnosis
        self.unacked: dict[str, str] = {}  # client_id -> conversation, while unanswered
        self.refused: dict[str, str] = {}  # client_id -> error code, refused for good
        self._sync_wanted = asyncio.Event()
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ids = itertools.count(1)

    # Connection.

    async def start(self) -> None:
        self._tasks += [
            asyncio.create_task(self._stay_connected()),
            asyncio.create_task(self._sync_when_wanted()),
        ]
        await asyncio.wait_for(self.connected.wait(), 60)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.disconnect(), 5)

    def spawn(self, work: Any) -> None:
        self._tasks.append(asyncio.create_task(work))

    async def _stay_connected(self) -> None:
        while True:
            try:
                await self._connect()
            except (socketio.exceptions.ConnectionError, OSError, TimeoutError) as exc:
                self.stats["connect_failed"] += 1
                self.stats[f"connect_failed:{type(exc).__name__}"] += 1
                await asyncio.sleep(random.uniform(0.2, 1.0))
                continue
            await self._lost.wait()
            self.connected.clear()
            await asyncio.sleep(random.uniform(0.05, 0.5))  # a phone reconnects after a moment

    async def _connect(self) -> None:
        client = socketio.AsyncClient(reconnection=False)
        ns = self.namespace
        client.on("disconnect", self._on_disconnect, namespace=ns)
        client.on("chat:message", self._on_message, namespace=ns)
        client.on("notification", self._on_notification, namespace=ns)
        client.on("sync", self._on_sync, namespace=ns)
        client.on("sync:required", self._on_sync_required, namespace=ns)
        for event, handler in self.handlers().items():
            client.on(event, handler, namespace=ns)
        self._lost = asyncio.Event()
        try:
            await client.connect(
                self.cluster.url(self.node),
                namespaces=[ns],
                auth=self._auth,  # called on every connect: the marks of that moment
                transports=["websocket"],
                wait_timeout=CALL_TIMEOUT,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 5)
            raise
        self.client = client
        self.stats["connects"] += 1
        self.connected.set()
        self.spawn(self.on_connected())

    def _auth(self) -> dict[str, Any]:
        return {"token": self.token, "sync": self.marks()}

    async def _on_disconnect(self, *reason: Any) -> None:
        self.stats["disconnects"] += 1
        self.connected.clear()
        self._lost.set()

    def handlers(self) -> dict[str, Any]:
        return {}

    async def on_connected(self) -> None:
        """What the person does after each connect (besides the handshake's sync)."""

    # Calls.

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        """One call; its ack envelope, or ``NotNow``."""
        client = self.client
        if client is None or not self.connected.is_set():
            raise NotNow("disconnected")
        try:
            ack: dict[str, Any] = await client.call(
                event, data, namespace=self.namespace, timeout=CALL_TIMEOUT
            )
        except (socketio.exceptions.TimeoutError, socketio.exceptions.SocketIOError) as exc:
            raise NotNow(type(exc).__name__) from None
        if not ack["ok"] and ack["error"]["code"] in RETRYABLE:
            self.stats[f"error:{ack['error']['code']}"] += 1
            raise NotNow(ack["error"]["code"])
        return ack

    async def persist(self, event: str, data: Any = None, within: float = 120.0) -> dict[str, Any] | None:
        """Send until an answer that is not "not now" comes, as a client must after a lost ack;
        ``None`` if none came ``within`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                return await self.call(event, data)
            except NotNow:
                self.stats["retries"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.connected.wait(), max(0.0, deadline - time.monotonic()))
                await asyncio.sleep(random.uniform(0.1, 0.5))
        return None

    async def send(self, conversation: str, body: str, within: float = 120.0) -> None:
        client_id = f"{self.sub}-{next(self._ids)}"
        self.unacked[client_id] = conversation
        data = {"conversation_id": conversation, "client_id": client_id, "body": body}
        ack = await self.persist("chat:send", data, within)
        if ack is None:
            return  # stays in unacked: reported
        del self.unacked[client_id]
        if not ack["ok"]:
            self.refused[client_id] = ack["error"]["code"]
            return
        seq = ack["data"]["seq"]
        self.sent[client_id] = (conversation, seq)
        self.acks[client_id] = {**ack["data"], "acked_at": round(time.monotonic() - self.cluster.started, 2)}
        self.stats["duplicate_acks"] += bool(ack["data"].get("duplicate"))
        self._note_gap(conversation, seq)
        self._take(conversation, seq, "own")

    # What arrives.

    async def _on_message(self, message: dict[str, Any]) -> None:
        conversation, seq = message["conversation_id"], message["seq"]
        if (conversation, seq) in self._live:
            self.live_twice.append((conversation, seq))
        self._live.add((conversation, seq))
        self._note_gap(conversation, seq)
        self._take(conversation, seq, "live")

    def _note_gap(self, conversation: str, seq: int) -> None:
        """A seq past the mark + 1, live or in an ack: something before it never came; ask."""
        if seq > self._marks[conversation] + 1 and seq not in self.messages[conversation]:
            self.stats["gaps"] += 1
            self._sync_wanted.set()

    async def _on_notification(self, notification: dict[str, Any]) -> None:
        seq = notification["seq"]
        if seq > self._notification_mark + 1 and seq not in self.notifications:
            self.stats["gaps"] += 1
            self._sync_wanted.set()
        self._take_notification(seq, "live")

    async def _on_sync(self, envelope: dict[str, Any]) -> None:
        """The answer to the sync the handshake carried."""
        self.stats["handshake_syncs"] += 1
        if not envelope.get("ok"):
            self.stats[f"sync_error:{envelope.get('error', {}).get('code')}"] += 1
            self._sync_wanted.set()
        elif self._absorb(envelope["data"], "sync"):
            self._sync_wanted.set()

    async def _on_sync_required(self, data: dict[str, Any]) -> None:
        self.stats["sync_required"] += 1
        self._sync_wanted.set()

    async def _sync_when_wanted(self) -> None:
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            try:
                await self.sync("sync")
            except NotNow:
                self._sync_wanted.set()
                await asyncio.sleep(random.uniform(0.2, 0.6))

    async def sync(self, way: str) -> None:
        """Sync from the marks until nothing more is missing."""
        while True:
            ack = await self.call("sync", self.marks())
            self.stats["syncs"] += 1
            if not ack["ok"]:
                self.stats[f"sync_error:{ack['error']['code']}"] += 1
                return
            if not self._absorb(ack["data"], way):
                return

    async def final_sync(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                await self.sync("final")
                return
            except NotNow:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.role} {self.sub} could not sync within {within}s") from None
                await asyncio.sleep(0.3)

    def _absorb(self, data: dict[str, Any], way: str) -> bool:
        """Take a sync answer; whether any stream has more."""
        more = False
        notifications = data.get("notifications") or {}
        for item in notifications.get("items", []):
            self._take_notification(item["seq"], way)
        more |= bool(notifications.get("more"))
        for conversation, part in (data.get("conversations") or {}).items():
            if "error" in part:
                self.stats[f"sync_error:{part['error']}"] += 1
                continue
            for message in part["messages"]:
                self._take(conversation, message["seq"], way)
            more |= bool(part["more"])
        return more

    def _take(self, conversation: str, seq: int, way: str) -> None:
        seen = self.messages[conversation]
        seen.setdefault(seq, way)
        mark = self._marks[conversation]
        while mark + 1 in seen:
            mark += 1
        self._marks[conversation] = mark

    def _take_notification(self, seq: int, way: str) -> None:
        self.notifications.setdefault(seq, way)
        while self._notification_mark + 1 in self.notifications:
            self._notification_mark += 1

    def marks(self) -> dict[str, Any]:
        """Up to where this client has everything, per stream: what a sync asks to continue from."""
        return {"notifications_since": self._notification_mark, "conversations": dict(self._marks)}


class Customer(Person):
    def __init__(self, cluster: Cluster, sub: str, node: int) -> None:
        super().__init__(cluster, "customer", sub, "/customer", node)
        self.support: str | None = None

    async def open_support(self) -> None:
        ack = await self.persist("support:open")
        assert ack is not None, (self.sub, ack)
        assert ack["ok"], (self.sub, ack)
        self.support = ack["data"]["conversation"]["id"]

    async def talk(self, every: float, until: asyncio.Event) -> None:
        """Write to support, and answer in the conversations of their bookings."""
        while not await _paused(every, until):
            choices = [c for c in self.messages if c != self.support]
            conversation = random.choice(choices) if choices and random.random() < 0.3 else self.support
            if conversation is not None:
                await self.send(conversation, f"{self.sub} says hello")


class Agent(Person):
    """A support agent, and a careful console: it keeps the console mark (the seq up to which it
    has every event), starts from the first connect's ``console:snapshot``, sends
    ``console_since`` in every later handshake and syncs after every gap in the seqs."""

    def __init__(self, cluster: Cluster, sub: str, node: int) -> None:
        super().__init__(cluster, "support", sub, "/support", node)
        self.chosen = "online"
        self.conversations: list[str] = []
        # seq -> how it first arrived ("live", "sync", "final"), and (event, data) as it came.
        self.console: dict[int, str] = {}
        self.console_events: dict[int, tuple[str, dict[str, Any]]] = {}
        # The first snapshot's seq: what was before it is in the state the snapshot showed.
        self.console_start: int | None = None
        self.console_mark: int | None = None  # None until that snapshot came
        self.console_live_twice: list[int] = []
        self.console_differs: list[str] = []  # a seq that came again with other contents
        self.console_resets: list[str] = []  # a sync that said "take a snapshot": never in a soak
        self._console_live: set[int] = set()
        self._snapshot_taken = asyncio.Event()
        self.opened: asyncio.Queue[str] = asyncio.Queue()  # work items the stream said were opened

    def handlers(self) -> dict[str, Any]:
        console = {event: functools.partial(self._on_console, event) for event in CONSOLE_EVENTS}
        return {"console:snapshot": self._on_snapshot, **console}

    async def on_connected(self) -> None:
        """The connect brings a snapshot; without one (the database was out) ask until it comes."""
        if self.console_mark is not None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._snapshot_taken.wait(), SNAPSHOT_WITHIN)
            return
        self.stats["console_snapshots_asked"] += 1
        ack = await self.persist("console:snapshot", within=60)
        if ack is not None and ack["ok"]:
            await self._on_snapshot(ack["data"])

    async def _on_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.stats["console_snapshots"] += 1
        if self.console_mark is not None:
            return  # a reconnect: the handshake's sync continues from the mark, nothing is skipped
        self.console_start = self.console_mark = snapshot["seq"]
        self._snapshot_taken.set()
        self._advance_console()
        if any(seq > self.console_mark + 1 for seq in self.console):
            self.stats["console_gaps"] += 1  # live events above the snapshot, with a hole before them
            self._sync_wanted.set()

    async def _on_console(self, event: str, data: dict[str, Any]) -> None:
        seq = data["seq"]
        if seq in self._console_live:
            self.console_live_twice.append(seq)
        self._console_live.add(seq)
        mark = self.console_mark
        if mark is not None and seq > mark + 1 and seq not in self.console:
            self.stats["console_gaps"] += 1
            self._sync_wanted.set()
        self._take_console(seq, event, data, "live")

    def _absorb(self, data: dict[str, Any], way: str) -> bool:
        more = super()._absorb(data, way)
        console = data.get("console")
        if console is None:
            return more
        if console["reset"]:
            self.console_resets.append(f"{self.sub} was told to reset from {self.console_mark}: {console}")
            return more
        before = self.console_mark
        for entry in console["events"]:
            self._take_console(entry["seq"], entry["event"], entry["data"], way)
        # More only if the mark moved: a hole in the stream would otherwise be asked for forever.
        return more or (console["more"] and self.console_mark != before)

    def _take_console(self, seq: int, event: str, data: dict[str, Any], way: str) -> None:
        if seq not in self.console:
            self.console[seq] = way
            self.console_events[seq] = (event, data)
            if event == "item:updated" and data["action"] == "opened":
                self.opened.put_nowait(data["item"]["id"])
        elif self.console_events[seq] != (event, data):
            self.console_differs.append(f"{self.sub} got #{seq} {way} as {event} {data}")
        self._advance_console()

    def _advance_console(self) -> None:
        if self.console_mark is None:
            return
        while self.console_mark + 1 in self.console:
            self.console_mark += 1

    def marks(self) -> dict[str, Any]:
        marks = super().marks()
        if self.console_mark is not None:  # before the first snapshot there is nothing to continue
            marks["console_since"] = self.console_mark
        return marks

    async def choose(self, status: str) -> None:
        ack = await self.persist("presence:set", {"status": status})
        assert ack is not None, (self.sub, ack)
        assert ack["ok"], (self.sub, ack)
        self.chosen = status

    async def talk(self, every: float, until: asyncio.Event) -> None:
        """Answer the customers of the conversations they hold."""
        while not await _paused(every, until):
            with contextlib.suppress(NotNow):
                ack = await self.call("conversations:list")
                if ack["ok"]:
                    held = ack["data"]["items"]
                    self.conversations = [c["id"] for c in held if c["kind"] == "support"]
            if self.conversations:
                await self.send(random.choice(self.conversations), f"{self.sub} answers")

    async def change_minds(self, every: float, until: asyncio.Event) -> None:
        while not await _paused(every, until):
            await self.choose("away" if self.chosen == "online" else "online")

    async def work_items(self, until: asyncio.Event) -> None:
        """Take each work item the stream opens: the first agent to acknowledge it owns it, notes
        what was done and resolves it. A step whose ack was lost is sent again: a second note is
        one more step in the item's history (and on the stream), a second resolve is refused."""
        while (item := await _next(self.opened, until)) is not None:
            ack = await self.persist("item:acknowledge", {"item_id": item})
            if ack is None or not ack["ok"]:
                self.stats[f"item:{ack['error']['code'] if ack else 'no_answer'}"] += 1
                continue
            if ack["data"]["owner"] != {"role": self.role, "id": self.sub}:
                continue  # a colleague was first
            for event, note in (("item:note", "called the worker"), ("item:resolve", "the worker was there")):
                ack = await self.persist(event, {"item_id": item, "note": f"{self.sub}: {note}"})
                if ack is None or not ack["ok"]:
                    self.stats[f"item:{ack['error']['code'] if ack else 'no_answer'}"] += 1


class Worker(Person):
    """A worker who takes every offer, does the job step by step, and writes to the customer."""

    def __init__(self, cluster: Cluster, sub: str, node: int, takes_offers: bool = True) -> None:
        super().__init__(cluster, "worker", sub, "/worker", node)
        self.takes_offers = takes_offers
        self.chosen = "online"
        self.offers: asyncio.Queue[str] = asyncio.Queue()
        self.jobs: dict[str, str] = {}  # booking -> conversation
        self.done: list[str] = []

    def handlers(self) -> dict[str, Any]:
        return {"offer": self._on_offer}

    async def _on_offer(self, offer: dict[str, Any]) -> None:
        self.offers.put_nowait(offer["offer_id"])

    async def on_connected(self) -> None:
        if self.takes_offers:  # open offers are sent again on connect; ask as well, in case
            with contextlib.suppress(NotNow):
                ack = await self.call("offer:list")
                for offer in ack["data"]["items"] if ack["ok"] else []:
                    self.offers.put_nowait(offer["offer_id"])

    async def choose(self, status: str) -> None:
        ack = await self.persist("presence:set", {"status": status})
        assert ack is not None, (self.sub, ack)
        assert ack["ok"], (self.sub, ack)
        self.chosen = status

    async def change_minds(self, every: float, until: asyncio.Event) -> None:
        while not await _paused(every, until):
            await self.choose("on_leave" if self.chosen == "online" else "online")

    async def work(self, every: float) -> None:
        tried: set[str] = set()
        while True:
            offer = await self.offers.get()
            if offer in tried:
                continue
            tried.add(offer)
            ack = await self.persist("offer:accept", {"offer_id": offer})
            if ack is None or not ack["ok"]:
                self.stats[f"offer:{ack['error']['code'] if ack else 'no_answer'}"] += 1
                continue
            booking, conversation = ack["data"]["booking"]["id"], ack["data"]["conversation_id"]
            self.jobs[booking] = conversation
            await self._do(booking, conversation, every)

    async def _do(self, booking: str, conversation: str, every: float) -> None:
        here = {"lat": 31.2304, "lng": 121.4737}
        # Every other job (the first included) is reported from a kilometre away: the arrival is
        # flagged to support, which opens a work item and an order:alert on the console stream.
        there = {**here, "lat": here["lat"] + 0.01} if len(self.jobs) % 2 else here
        steps: list[tuple[str, dict[str, Any]]] = [
            ("job:depart", {"booking_id": booking, **here, "eta_minutes": 20}),
            ("job:arrive", {"booking_id": booking, **there}),
            ("job:start", {"booking_id": booking}),
            ("job:finish", {"booking_id": booking}),
        ]
        for event, data in steps:
            await self.send(conversation, f"{self.sub}: {event}")
            ack = await self.persist(event, data)
            assert ack is not None, (self.sub, event, ack)
            assert ack["ok"], (self.sub, event, ack)
            await asyncio.sleep(every)
        self.done.append(booking)


async def _next(queue: asyncio.Queue[str], until: asyncio.Event) -> str | None:
    """The next item of ``queue``, or None once ``until`` is set."""
    taking = asyncio.ensure_future(queue.get())
    stopping = asyncio.ensure_future(until.wait())
    await asyncio.wait([taking, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if taking.done():
        return taking.result()
    taking.cancel()
    return None


async def _paused(every: float, until: asyncio.Event) -> bool:
    """Wait about ``every`` seconds; whether ``until`` was set meanwhile (then do nothing more)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until.wait(), random.uniform(0.5, 1.5) * every)
    return until.is_set()
