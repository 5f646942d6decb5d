"""The reconciliation: what PostgreSQL holds at the end against what each person was acknowledged
and received. A message is owed to every member of its conversation (private notes to agents
only), a notification to its person; owed and never received is lost. Stored twice for one
``client_id``, or delivered live twice, is duplicated. Statuses people chose must be what the hub
shows, and every booking must end completed with one accepted offer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

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
            f"bookings: {dict(self.bookings)}",
            f"lost {len(self.lost)}, late {self.late}, duplicated {len(self.duplicated)}, unacknowledged "
            f"{len(self.unacknowledged)}, refused {dict(self.refused)}, presence wrong "
            f"{len(self.presence_wrong)}, bookings wrong {len(self.bookings_wrong)}",
            f"clients: {clients}",
        ]
        for fault, items in self.late_at.items():
            lines += [f"  late after {fault}: {item}" for item in items[:10]]
        for name in ("lost", "duplicated", "unacknowledged", "presence_wrong", "bookings_wrong"):
            items: list[str] = getattr(self, name)
            lines += [f"  {name}: {item}" for item in items[:20]]
        return "\n".join(lines)


@dataclass
class Stored:
    """What PostgreSQL holds at one moment: the messages and notifications owed by then."""

    messages: list[Any]
    members: list[Any]
    notifications: list[Any]

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
    )


def way(person: Person, stream: str, conversation: str, seq: int) -> str | None:
    """How the item first reached the person, or None."""
    if stream == "message":
        return person.messages.get(conversation, {}).get(seq)
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
    for person, stream, conv, seq in stored.owed(by_identity):
        arrived = way(person, stream, conv, seq)
        counter = report.arrived if stream == "message" else report.notifications_arrived
        report.owed += stream == "message"
        if arrived is None:
            report.lost.append(f"{person.role} {person.sub} never got {stream} {conv} #{seq}")
        else:
            counter[arrived] += 1
    _bookings(report, bookings, booking_rows)
    await _presence(report, people)
    for person in people:
        report.clients.update({k: v for k, v in person.stats.items() if not k.startswith("connect_failed:")})
        report.unacknowledged += [f"{person.sub} {cid} in {conv}" for cid, conv in person.unacked.items()]
        report.refused.update(person.refused.values())
        report.duplicated += [f"{person.sub} got {conv} #{seq} live twice" for conv, seq in person.live_twice]
    return report


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
