"""The accept race (``dispatch.py race``): one booking at a time offered to every worker at once,
all of them accepting together, and whether exactly one wins by every account (acks, rows,
``offer:taken``)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import cpushare
import hubproc
import socketio
from clientside import error_code, ms
from dispatch_data import CENTRE, add_service, add_workers, around, booking_request, local_today
from dispatch_fleet import Worker
from dispatch_hub import Hub
from runner import say

RACE_STARTS = ("08:00", "09:30", "11:00", "12:30", "14:00", "15:30", "17:00", "18:30")
RACE_MINUTES = 60  # with the 30 min travel buffer on each side, these starts never overlap


@dataclass
class RaceRun:
    hub: Hub
    args: argparse.Namespace
    rng: random.Random
    winners: collections.Counter[str] = field(default_factory=collections.Counter)
    winner_position: collections.Counter[int] = field(default_factory=collections.Counter)
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    trial_ms: list[float] = field(default_factory=list)
    offer_ms: list[float] = field(default_factory=list)
    race_ms: list[float] = field(default_factory=list)
    win_ack_ms: list[float] = field(default_factory=list)
    lose_ack_ms: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    async def prepare(self) -> None:
        assert self.hub.pool is not None
        await add_service(self.hub.pool)
        rows = []
        for n in range(self.args.race_workers):
            lat, lng = around(self.rng, 3.0)
            rows.append((f"w-{n}", lat, lng, 15.0, self.rng.randint(0, 15), 0, 0))
        await add_workers(self.hub.pool, rows)
        await self.hub.connect_workers([r[0] for r in rows])

    async def trial(self, t: int) -> None:
        hub, args = self.hub, self.args
        began = time.perf_counter()
        day = local_today() + timedelta(days=1 + t // len(RACE_STARTS))
        request = booking_request(day, RACE_STARTS[t % len(RACE_STARTS)], RACE_MINUTES, *CENTRE)
        status, booking = await hub.book(f"c-{t % 50}", request)
        if status != 201:
            raise RuntimeError(f"trial {t}: booking refused {status} {booking}")
        booking_id = booking["id"]
        paid_at = time.perf_counter()
        status, paid = await hub.mark_paid(booking_id)
        if status != 200:
            raise RuntimeError(f"trial {t}: mark-paid refused {status} {paid}")
        offers = await self._offers(booking_id)
        problems: list[str] = []
        if len(offers) != args.race_workers:
            problems.append(f"{len(offers)} offers received, expected {args.race_workers}")
        self.offer_ms.append(ms(max(received for _, received, _ in offers), paid_at) if offers else 0.0)
        order = list(offers)
        self.rng.shuffle(order)  # who emits first changes every trial

        async def accept(worker: Worker, offer_id: str) -> tuple[Any, float]:
            try:
                ack = await worker.call("offer:accept", {"offer_id": offer_id}, args.timeout)
            except socketio.exceptions.SocketIOError as exc:
                ack = {"ok": False, "error": {"code": f"no_ack ({type(exc).__name__})"}}
            if not isinstance(ack, dict):
                ack = {"ok": False, "error": {"code": "malformed_ack"}}
            return ack, time.perf_counter()

        raced = time.perf_counter()
        replies = await asyncio.gather(*(accept(w, event["offer_id"]) for w, _, event in order))
        self.race_ms.append(ms(max(at for _, at in replies), raced))
        won = [
            (pos, w)
            for pos, ((w, _, _), (ack, _)) in enumerate(zip(order, replies, strict=True))
            if ack.get("ok")
        ]
        for (_, _, event), (ack, at) in zip(order, replies, strict=True):
            if ack.get("ok"):
                self.win_ack_ms.append(ms(at, raced))
            else:
                self.codes[error_code(ack)] += 1
                self.lose_ack_ms.append(ms(at, raced))
                if error_code(ack) != "offer_taken":
                    problems.append(f"error ack {error_code(ack)} for {event['offer_id']}")
        if len(won) != 1:
            problems.append(f"{len(won)} ok acks")
        winner = won[0][1].sub if len(won) == 1 else None
        if winner is not None:
            self.winners[winner] += 1
            self.winner_position[won[0][0]] += 1
            ack_worker = next(a for a, _ in replies if a.get("ok"))["data"]["booking"]["worker_id"]
            if ack_worker != winner:
                problems.append(f"the ok ack names {ack_worker}, sent by {winner}")
        problems += await self._check_rows(booking_id, winner, [w.sub for w, _, _ in offers])
        problems += await self._check_taken(booking_id, winner, offers)
        self.trial_ms.append(ms(time.perf_counter(), began))
        if problems:
            self.anomalies.append({"trial": t, "booking": booking_id, "problems": problems})
            say(f"trial {t}: {problems}")

    async def _offers(self, booking_id: str) -> list[tuple[Worker, float, Any]]:
        """Wait until every worker has the booking's offer (or --timeout)."""

        def found() -> list[tuple[Worker, float, Any]]:
            return [
                (w, at, event)
                for w in self.hub.fleet.workers
                for at, event in w.events["offer"]
                if event.get("booking_id") == booking_id
            ]

        await self.hub.fleet.until(lambda: len(found()) >= self.args.race_workers, self.args.timeout)
        return found()

    async def _check_rows(self, booking_id: str, winner: str | None, offered: list[str]) -> list[str]:
        assert self.hub.pool is not None
        problems = []
        row = await self.hub.pool.fetchrow(
            "SELECT status, worker_id FROM bookings WHERE id = $1", uuid.UUID(booking_id)
        )
        if row is None or row["status"] != "accepted" or row["worker_id"] != winner:
            problems.append(f"booking row {dict(row) if row else None}, winner {winner}")
        rows = await self.hub.pool.fetch(
            "SELECT worker_id, status FROM offers WHERE booking_id = $1", uuid.UUID(booking_id)
        )
        statuses = collections.Counter(r["status"] for r in rows)
        accepted = [r["worker_id"] for r in rows if r["status"] == "accepted"]
        expected = {"accepted": 1, "taken": self.args.race_workers - 1}
        if dict(statuses) != expected or accepted != [winner]:
            problems.append(f"offer rows {dict(statuses)}, accepted by {accepted}, winner {winner}")
        if sorted(r["worker_id"] for r in rows) != sorted(offered):
            problems.append("offer rows and received offers name different workers")
        return problems

    async def _check_taken(
        self, booking_id: str, winner: str | None, offers: list[tuple[Worker, float, Any]]
    ) -> list[str]:
        """Every loser is also told offer:taken (sent before the winner's ack, so soon here)."""
        losers = [w for w, _, _ in offers if w.sub != winner]

        def told(worker: Worker) -> bool:
            return any(e.get("booking_id") == booking_id for _, e in worker.events["offer:taken"])

        await self.hub.fleet.until(lambda: all(told(w) for w in losers), 2.0)
        missing = [w.sub for w in losers if not told(w)]
        return [f"no offer:taken for {missing}"] if missing else []

    async def run(self) -> None:
        hub = self.hub
        assert hub.node is not None
        assert hub.dsn is not None
        pids = [hub.node.pid, os.getpid()]
        first = hubproc.sample_cpu(pids, cpushare.cpu_groups(hub.dsn))
        started = time.perf_counter()
        for t in range(self.args.trials):
            await self.trial(t)
            if (t + 1) % 100 == 0:
                say(f"{t + 1} trials, {len(self.anomalies)} anomalies, {time.perf_counter() - started:.0f} s")
        self.wall = time.perf_counter() - started
        usage = hubproc.cpu_between(first, hubproc.sample_cpu(pids, cpushare.cpu_groups(hub.dsn)))
        self.cpu = {
            "hub": round(usage.per_pid[hub.node.pid], 1),
            "load generator (this process)": round(usage.per_pid[os.getpid()], 1),
            "postgres": round(usage.groups["postgres"], 1),
            "untracked (other programs)": round(usage.untracked, 1),
        }


async def race(args: argparse.Namespace, hub: Hub) -> RaceRun:
    await hub.start(
        {
            "HUB_DISPATCH_WAVE_SIZE": str(args.race_workers),
            "HUB_DISPATCH_OFFER_SECONDS": "120",
            "HUB_BOOKING_MAX_DAYS_AHEAD": "366",  # 8 slots a day: 1,000 trials need 125 days
        }
    )
    run = RaceRun(hub, args, random.Random(args.seed))
    await run.prepare()
    await run.run()
    return run
