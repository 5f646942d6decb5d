"""Services and workers suggested to one customer, each saying why.

Signals, each weighed by how recent it is (halved every ``HALF_LIFE_DAYS``):

- a service they booked (paid, not expired): ``BOOKED``, a little more for each repeat;
  the worker of the booking, the same;
- with their consent (``bookings.history``), a service they looked at: ``VIEWED``; a worker
  profile they looked at: ``VIEWED`` for the worker, ``WORKER_SERVICES`` for each service the
  worker is certified for; a search: ``SEARCHED`` for its first result, half as much for the
  next and a quarter for the third.

A service's (or worker's) score is the sum of its signals; signals of the same reason (looking at
育儿嫂 five times) count up to ``REASON_CAP`` times their weight. Its reasons are the strongest
few: "because you looked at 月嫂 26天住家套餐", "because you searched 照顾小孩".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Literal

import pydantic

from bookings import catalog, history
from bookings.people.models import WorkerCard
from bookings.people.workers import cards_by_ids
from bookings.storage import bookings as booking_store
from bookings.storage import catalog as catalog_store
from hub.storage.db import Executor
from hub.times import Timestamp

HALF_LIFE_DAYS = 14.0
BOOKED = 3.0
REPEAT_BONUS = 0.25  # per repeat booking, up to MAX_REPEATS
MAX_REPEATS = 4
VIEWED = 1.0
WORKER_SERVICES = 0.5
SEARCHED = 1.5
SEARCH_RANKS = (1.0, 0.5, 0.25)
REASON_CAP = 3.0
MAX_REASONS = 3
PAST_BOOKINGS = 20

ReasonKind = Literal["booked", "viewed_service", "viewed_worker", "searched"]
_TEXT: dict[ReasonKind, str] = {
    "booked": "because you booked {}",
    "viewed_service": "because you looked at {}",
    "viewed_worker": "because you looked at {}",
    "searched": "because you searched {}",
}


class Reason(pydantic.BaseModel):
    kind: ReasonKind
    subject: str  # the service's name (Chinese), the worker's name, or the words searched
    text: str  # "because you looked at 李桂兰", "because you searched 照顾小孩"
    at: Timestamp  # the latest time it happened


class SuggestedService(pydantic.BaseModel):
    service: catalog.Service
    score: float
    because: list[Reason]  # strongest first


class SuggestedWorker(pydantic.BaseModel):
    worker: WorkerCard
    score: float
    because: list[Reason]


class ForYou(pydantic.BaseModel):
    history: bool  # whether browsing and search history is kept (and so used here)
    services: list[SuggestedService]
    workers: list[SuggestedWorker]


@dataclasses.dataclass(frozen=True, slots=True)
class Signal:
    target: tuple[Literal["service", "worker"], str]
    kind: ReasonKind
    subject: str
    weight: float  # before decay
    at: datetime


_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclasses.dataclass(slots=True)
class _Tally:
    score: float = 0.0
    latest: datetime = _EPOCH
    reasons: dict[tuple[ReasonKind, str], tuple[float, datetime]] = dataclasses.field(default_factory=dict)


def decay(at: datetime, now: datetime) -> float:
    age_days = max((now - at).total_seconds(), 0.0) / 86400
    return float(0.5 ** (age_days / HALF_LIFE_DAYS))


def tally(signals: Iterable[Signal], now: datetime) -> dict[tuple[str, str], _Tally]:
    """Scores and reasons per target."""
    tallies: dict[tuple[str, str], _Tally] = {}
    for signal in signals:
        t = tallies.setdefault(signal.target, _Tally())
        key = (signal.kind, signal.subject)
        before, at = t.reasons.get(key, (0.0, signal.at))
        added = min(before + signal.weight * decay(signal.at, now), REASON_CAP * signal.weight)
        t.reasons[key] = (added, max(at, signal.at))
        t.score += added - before
        t.latest = max(t.latest, signal.at)
    return tallies


def reasons(t: _Tally) -> list[Reason]:
    strongest = sorted(t.reasons.items(), key=lambda item: (-item[1][0], -item[1][1].timestamp()))
    return [
        Reason(kind=kind, subject=subject, text=_TEXT[kind].format(subject), at=at)
        for (kind, subject), (_, at) in strongest[:MAX_REASONS]
    ]


async def suggest(
    db: Executor, customer_id: str, today: date, limit: int, now: datetime | None = None
) -> ForYou:
    now = now or datetime.now(UTC)
    consent = await history.privacy(db, customer_id)
    events = await history.events(db, customer_id) if consent.history else []
    booked = await booking_store.services_booked_by(db, customer_id, PAST_BOOKINGS)
    booked_workers = await booking_store.workers_booked_by(db, customer_id, PAST_BOOKINGS)
    worker_ids = {r["worker_id"] for r in booked_workers} | {e.worker_id for e in events if e.worker_id}
    workers = await cards_by_ids(db, sorted(worker_ids), today)  # bookable ones only
    skills = sorted({skill for w in workers.values() for skill in w.certified_skills})
    skilled = {skill: await catalog_store.service_ids_for_skills(db, [skill]) for skill in skills}
    service_ids = (
        {r["service_id"] for r in booked}
        | {e.service_id for e in events if e.service_id}
        | {sid for e in events for sid in e.found}
        | {sid for ids in skilled.values() for sid in ids}
    )
    services = await catalog.services_by_ids(db, sorted(service_ids), active_only=True)
    signals: list[Signal] = []
    for r in booked:
        if (s := services.get(r["service_id"])) is not None:
            weight = BOOKED * (1 + REPEAT_BONUS * min(r["n"] - 1, MAX_REPEATS))
            signals.append(Signal(("service", s.id), "booked", s.name_zh, weight, r["last_at"]))
    for r in booked_workers:
        if (w := workers.get(r["worker_id"])) is not None:
            weight = BOOKED * (1 + REPEAT_BONUS * min(r["n"] - 1, MAX_REPEATS))
            signals.append(Signal(("worker", w.id), "booked", w.name, weight, r["last_at"]))
    for e in events:
        signals.extend(_signals_of(e, services, workers, skilled))
    tallies = tally(signals, now)
    return ForYou(
        history=consent.history,
        services=[
            SuggestedService(service=services[sid], score=round(t.score, 3), because=reasons(t))
            for sid, t in _ranked(tallies, "service", services, limit)
        ],
        workers=[
            SuggestedWorker(worker=workers[wid], score=round(t.score, 3), because=reasons(t))
            for wid, t in _ranked(tallies, "worker", workers, limit)
        ],
    )


def _signals_of(
    e: history.HistoryEvent,
    services: dict[str, catalog.Service],
    workers: dict[str, WorkerCard],
    skilled: dict[str, list[str]],
) -> Iterable[Signal]:
    if e.kind == "service_view" and e.service_id in services:
        yield Signal(
            ("service", e.service_id), "viewed_service", services[e.service_id].name_zh, VIEWED, e.at
        )
    elif e.kind == "worker_view" and e.worker_id in workers:
        worker = workers[e.worker_id]
        yield Signal(("worker", worker.id), "viewed_worker", worker.name, VIEWED, e.at)
        offered = {sid for skill in worker.certified_skills for sid in skilled.get(skill, [])}
        for sid in sorted(offered & services.keys()):
            yield Signal(("service", sid), "viewed_worker", worker.name, WORKER_SERVICES, e.at)
    elif e.kind == "search" and e.query is not None:
        for rank, sid in zip(SEARCH_RANKS, e.found, strict=False):
            if sid in services:
                yield Signal(("service", sid), "searched", e.query, SEARCHED * rank, e.at)


def _ranked(
    tallies: dict[tuple[str, str], _Tally], kind: str, known: Iterable[str], limit: int
) -> list[tuple[str, _Tally]]:
    """The ``limit`` best targets of ``kind`` still known (active, bookable): score, then the
    most recent."""
    ids = set(known)
    chosen = [(key[1], t) for key, t in tallies.items() if key[0] == kind and key[1] in ids]
    chosen.sort(key=lambda pair: (-pair[1].score, -pair[1].latest.timestamp(), pair[0]))
    return chosen[:limit]
