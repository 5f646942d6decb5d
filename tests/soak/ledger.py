"""The reconciliation: what PostgreSQL holds at the end against what each person was acknowledged
and received. A message is owed to every member of its conversation (private notes to agents
only), a notification to its person; owed and never received is lost. Stored twice for one
``client_id``, or delivered live twice, is duplicated. Statuses people chose must be what the hub
shows, and every booking must end completed with one accepted offer.

The console stream is owed to every agent from the seq of its first snapshot on: every entry of
``console_feed`` (1 to ``last_seq``, without holes) held once by seq with the stored contents.
The stream itself must carry every booking timeline entry once as ``booking:updated`` (with its
alert, if it is one) and every step of every work item once as ``item:updated``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bookings.live import ALERTS
from tests.soak.cluster import Cluster, Fault
from tests.soak.people import Agent, Person, Worker

STAFF = ("support", "admin")


@dataclass
class Report:
    seconds: float
    faults: list[Fault]
    messages_stored: int = 0
    messages_acked: int = 0
    owed: int = 0  # (person, message) deliveries owed to someone other than the sender
    arrived: Counter[str] = field(default_factory=Counter)  # by first way: live, sync, final
    notifications_stored: int = 0
    notifications_arrived: Counter[str] = field(default_factory=Counter)
    console_stored: Counter[str] = field(default_factory=Counter)  # entries of the stream, by event
    console_owed: int = 0  # (agent, entry) deliveries owed
    console_arrived: Counter[str] = field(default_factory=Counter)  # by first way: live, sync, final
    console_live_twice: int = 0  # emitted again with its first seq (a redelivery): dropped by seq
    console_resets: list[str] = field(default_factory=list)
    console_wrong: list[str] = field(default_factory=list)  # contents unlike the stored, or no snapshot
    timeline_entries: int = 0  # of the soak's bookings, each owed a booking:updated
    work_items: int = 0
    work_item_steps: int = 0  # history entries, each owed an item:updated
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    presence_wrong: list[str] = field(default_factory=list)
    bookings: Counter[str] = field(default_factory=Counter)
    bookings_wrong: list[str] = field(default_factory=list)
    clients: Counter[str] = field(default_factory=Counter)  # summed client statistics

    # After each fault, what was stored by then and had not reached its people within the bound.
    late_at: dict[str, list[str]] = field(default_factory=dict)

    @property
    def late(self) -> int:
        return sum(len(items) for items in self.late_at.values())

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.late or self.duplicated or self.unacknowledged or self.refused
            or self.presence_wrong or self.bookings_wrong or self.clients["error:internal_error"]
            or self.console_resets or self.console_wrong
        )  # fmt: skip

    def text(self) -> str:
        faults = "".join(
            f"\n  {f.kind}{' (' + f.detail + ')' if f.detail else ''} at {f.started}s, {f.seconds}s long: "
            f"all connected {f.reconnected}s and all caught up {f.caught_up}s after its start"
            for f in self.faults
        )
        clients = ", ".join(f"{k} {v}" for k, v in sorted(self.clients.items()))
        lines = [
            f"soak: {self.seconds:.0f} s; faults:{faults}",
            f"messages: {self.messages_stored} stored, {self.messages_acked} acknowledged, "
            f"{self.owed} deliveries owed: {dict(self.arrived)}",
            f"notifications: {self.notifications_stored} stored: {dict(self.notifications_arrived)}",
            f"console: {sum(self.console_stored.values())} stored {dict(self.console_stored)}, "
            f"{self.console_owed} deliveries owed: {dict(self.console_arrived)}; live twice "
            f"{self.console_live_twice}, resets {len(self.console_resets)}, wrong {len(self.console_wrong)}; "
            f"{self.timeline_entries} "
            f"timeline entries, {self.work_items} work items with {self.work_item_steps} steps",
            f"bookings: {dict(self.bookings)}",
            f"lost {len(self.lost)}, late {self.late}, duplicated {len(self.duplicated)}, unacknowledged "
            f"{len(self.unacknowledged)}, refused {dict(self.refused)}, presence wrong "
            f"{len(self.presence_wrong)}, bookings wrong {len(self.bookings_wrong)}",
            f"clients: {clients}",
        ]
        for fault, items in self.late_at.items():
            lines += [f"  late after {fault}: {item}" for item in items[:10]]
        for name in (
            "lost",
            "duplicated",
            "unacknowledged",
            "presence_wrong",
            "bookings_wrong",
            "console_resets",
            "console_wrong",
        ):
            items: list[str] = getattr(self, name)
            lines += [f"  {name}: {item}" for item in items[:20]]
        return "\n".join(lines)


@dataclass
class Stored:
    """What PostgreSQL holds at one moment: the messages, notifications and console entries owed by then."""

    messages: list[Any]
    members: list[Any]
    notifications: list[Any]
    console: list[int]  # the seqs of console_feed

    def owed(self, people: dict[tuple[str, str], Person]) -> Iterator[tuple[Person, str, str, int]]:
        """Every (person, stream, conversation or "", seq) owed to one of ``people``."""
        by_conv: dict[str, list[Any]] = {}
        for message in self.messages:
            by_conv.setdefault(message["conv"], []).append(message)
        for member in self.members:
            person = people.get((member["role"], member["user_id"]))
            if person is None:
                continue
            for message in by_conv.get(member["conv"], []):
                if message["private"] and member["role"] not in STAFF:
                    continue
                if (message["sender_role"], message["sender_id"]) == (member["role"], member["user_id"]):
                    continue  # one's own message is acknowledged, not delivered
                yield person, "message", member["conv"], message["seq"]
        for row in self.notifications:
            person = people.get((row["role"], row["user_id"]))
            if person is not None:
                yield person, "notification", "", row["seq"]
        for person in people.values():
            if isinstance(person, Agent):
                start = person.console_start or 0  # no snapshot yet: everything is owed
                yield from ((person, "console", "", seq) for seq in self.console if seq > start)


async def read_stored(conn: asyncpg.Connection) -> Stored:
    return Stored(
        messages=await conn.fetch(
            """SELECT conversation_id::text AS conv, seq, sender_id, sender_role, client_id, private
               FROM messages"""
        ),
        members=await conn.fetch(
            "SELECT conversation_id::text AS conv, user_id, role FROM conversation_members WHERE active"
        ),
        notifications=await conn.fetch("SELECT user_id, role, seq FROM notifications"),
        console=[row["seq"] for row in await conn.fetch("SELECT seq FROM console_feed ORDER BY seq")],
    )


def way(person: Person, stream: str, conversation: str, seq: int) -> str | None:
    """How the item first reached the person, or None."""
    if stream == "message":
        return person.messages.get(conversation, {}).get(seq)
    if stream == "console":
        return person.console.get(seq) if isinstance(person, Agent) else None
    return person.notifications.get(seq)


def missing(stored: Stored, people: list[Person]) -> list[str]:
    by_identity = {(p.role, p.sub): p for p in people}
    return [
        f"{person.role} {person.sub} lacks {stream} {conv} #{seq}"
        for person, stream, conv, seq in stored.owed(by_identity)
        if way(person, stream, conv, seq) is None
    ]


async def reconcile(
    cluster: Cluster, people: list[Person], bookings: list[str], seconds: float, late_at: dict[str, list[str]]
) -> Report:
    report = Report(seconds=round(seconds, 1), faults=cluster.faults, late_at=late_at)
    by_identity = {(p.role, p.sub): p for p in people}
    conn = await cluster.connect_db()
    try:
        stored = await read_stored(conn)
        twice = await conn.fetch(
            """SELECT conversation_id::text AS conv, client_id, count(*) AS n FROM messages
               WHERE client_id IS NOT NULL
               GROUP BY 1, sender_id, sender_role, client_id HAVING count(*) > 1"""
        )
        booking_rows = await conn.fetch(
            """SELECT b.id::text AS id, b.status,
                      (SELECT count(*) FROM offers o
                        WHERE o.booking_id = b.id AND o.status = 'accepted') AS accepted
               FROM bookings b"""
        )
        console = await read_console(conn, bookings)
    finally:
        await conn.close()

    report.messages_stored = len(stored.messages)
    report.notifications_stored = len(stored.notifications)
    kept = {(m["conv"], m["seq"]): m for m in stored.messages}
    for person in people:
        report.messages_acked += len(person.sent)
        for client_id, (conv, seq) in person.sent.items():
            row = kept.get((conv, seq))
            if row is None or (row["sender_id"], row["client_id"]) != (person.sub, client_id):
                found = row and f"{row['sender_id']}'s {row['client_id']}"
                report.lost.append(
                    f"{person.sub}'s {client_id} acknowledged as {conv} #{seq} "
                    f"({person.acks.get(client_id)}); stored there: {found}"
                )
    report.duplicated += [f"{row['client_id']} stored {row['n']} times in {row['conv']}" for row in twice]
    counters = {"message": report.arrived, "notification": report.notifications_arrived}
    for person, stream, conv, seq in stored.owed(by_identity):
        arrived = way(person, stream, conv, seq)
        counter = counters.get(stream, report.console_arrived)
        report.owed += stream == "message"
        report.console_owed += stream == "console"
        if arrived is None:
            report.lost.append(f"{person.role} {person.sub} never got {stream} {conv} #{seq}")
        else:
            counter[arrived] += 1
    _bookings(report, bookings, booking_rows)
    _console(report, people, console)
    await _presence(report, people)
    for person in people:
        report.clients.update({k: v for k, v in person.stats.items() if not k.startswith("connect_failed:")})
        report.unacknowledged += [f"{person.sub} {cid} in {conv}" for cid, conv in person.unacked.items()]
        report.refused.update(person.refused.values())
        report.duplicated += [f"{person.sub} got {conv} #{seq} live twice" for conv, seq in person.live_twice]
    return report


@dataclass
class Console:
    """The console stream as stored, and what it must carry."""

    last_seq: int
    feed: dict[int, tuple[str, dict[str, Any]]]  # seq -> (event, data as sent: the payload and seq)
    timeline: list[Any]  # the soak's bookings' timeline entries
    items: list[Any]  # work items with their history, step by step

    def carried(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, int, str]]]:
        """(timeline entry ids by event, (item id, version, action)) as the stream has them."""
        entries: Counter[tuple[str, str]] = Counter()
        steps: Counter[tuple[str, int, str]] = Counter()
        for event, data in self.feed.values():
            if event == "item:updated":
                steps[(data["item"]["id"], data["item"]["version"], data["action"])] += 1
            else:
                entries[(event, str(data["entry"]["id"]))] += 1
        return entries, steps


async def read_console(conn: asyncpg.Connection, bookings: list[str]) -> Console:
    rows = await conn.fetch("SELECT seq, event, payload FROM console_feed ORDER BY seq")
    return Console(
        last_seq=await conn.fetchval("SELECT last_seq FROM console_stream"),
        feed={r["seq"]: (r["event"], {**json.loads(r["payload"]), "seq": r["seq"]}) for r in rows},
        timeline=await conn.fetch(
            """SELECT id::text AS id, booking_id::text AS booking, kind FROM booking_timeline
                WHERE booking_id = ANY($1::uuid[]) ORDER BY id""",
            bookings,
        ),
        items=await conn.fetch(
            """SELECT i.id::text AS id, i.kind, i.version,
                      array_agg(h.action ORDER BY h.id) AS steps
                 FROM work_items i JOIN work_item_history h ON h.item_id = i.id
                GROUP BY i.id"""
        ),
    )


def _console(report: Report, people: list[Person], console: Console) -> None:
    """The stream against the tables it announces, then each agent against the stream."""
    report.console_stored.update(event for event, _ in console.feed.values())
    if holes := sorted(set(range(1, console.last_seq + 1)) - set(console.feed)):
        report.lost.append(f"console_feed lacks {len(holes)} of seq 1..{console.last_seq}: {holes[:20]}")
    if extra := sorted(set(console.feed) - set(range(1, console.last_seq + 1))):
        report.duplicated.append(f"console_feed holds seqs past last_seq {console.last_seq}: {extra[:20]}")
    entries, steps = console.carried()
    report.timeline_entries = len(console.timeline)
    for entry in console.timeline:
        owed = ["booking:updated"]
        owed += ["order:alert"] if entry["kind"] in ALERTS else []
        owed += ["dispatch:escalated"] if entry["kind"] == "escalated" else []
        for event in owed:
            _once(report, entries.pop((event, entry["id"]), 0), f"{event} of timeline entry {entry['id']}")
    report.console_wrong += [
        f"{event} of entry {e}, of no soak booking, {n} times" for (event, e), n in entries.items()
    ]
    report.work_items = len(console.items)
    for item in console.items:
        report.work_item_steps += len(item["steps"])
        if item["version"] != len(item["steps"]):
            report.lost.append(
                f"work item {item['id']} is at version {item['version']} after {len(item['steps'])} steps"
            )
        for version, action in enumerate(item["steps"], start=1):
            seen = steps.pop((item["id"], version, action), 0)
            _once(report, seen, f"item:updated {action} of {item['kind']} {item['id']} v{version}")
    report.console_wrong += [
        f"item:updated {step}, which no history has, {n} times" for step, n in steps.items()
    ]
    for agent in (p for p in people if isinstance(p, Agent)):
        report.console_live_twice += len(agent.console_live_twice)
        report.console_resets += agent.console_resets
        report.console_wrong += agent.console_differs
        if agent.console_start is None:
            report.console_wrong.append(f"{agent.sub} never got a console snapshot")
        for seq, (event, data) in agent.console_events.items():
            stored = console.feed.get(seq)
            if stored is not None and stored != (event, data):
                report.console_wrong.append(f"{agent.sub} got #{seq} as {event} {data}; stored: {stored}")


def _once(report: Report, seen: int, what: str) -> None:
    if seen == 0:
        report.lost.append(f"the console stream never carried {what}")
    elif seen > 1:
        report.duplicated.append(f"the console stream carried {what} {seen} times")


def _bookings(report: Report, made: list[str], rows: list[Any]) -> None:
    found = {row["id"]: row for row in rows}
    for booking in made:
        row = found.get(booking)
        if row is None:
            report.bookings_wrong.append(f"{booking} was acknowledged and is not stored")
            continue
        report.bookings[row["status"]] += 1
        if row["status"] != "completed" or row["accepted"] != 1:
            wrong = f"{booking} is {row['status']} with {row['accepted']} accepted offers"
            report.bookings_wrong.append(wrong)
    if extra := set(found) - set(made):
        report.bookings_wrong.append(f"{len(extra)} bookings nobody asked for (a retry made two?)")


async def _presence(report: Report, people: list[Person]) -> None:
    """Asked of the hub as a console asks: a snapshot from an agent's socket."""
    agents = [p for p in people if isinstance(p, Agent)]
    ack = await agents[0].persist("presence:snapshot", within=60)
    assert ack is not None, "no presence snapshot"
    assert ack["ok"], ack
    states = [*ack["data"]["workers"], *ack["data"]["agents"]]
    shown = {(s["role"], s["user_id"]): s["status"] for s in states}
    for person in people:
        if isinstance(person, (Agent, Worker)):
            status = shown.get((person.role, person.sub))
            if status != person.chosen:
                wrong = f"{person.role} {person.sub} chose {person.chosen}, shows {status}"
                report.presence_wrong.append(wrong)
