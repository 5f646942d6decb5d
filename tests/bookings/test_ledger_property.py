"""The ledger's invariants under any sequence of what happens to money: random sequences of pay,
cancel (keeping a fee), refund, complete, pay out, and payouts set aside then paid or released,
over a few bookings and workers, each step in its own transaction on the real database, some of
them refused by their guards. After every step:
every transaction balances, no booking gives back or earns more than was paid for it, no worker is
paid more than they earned, and the money at the providers is what came in minus what went out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from bookings import orders
from bookings.payments import money, paying
from bookings.payments.invariants import violations
from bookings.payments.ledger import cash
from bookings.storage import bookings as booking_store
from bookings.storage import ledger as ledger_store
from hub.errors import Conflict
from tests.support.bookings import SERVICE, add_service

BOOKINGS, WORKERS = 3, 2
METHOD = "manual"

step = st.one_of(
    st.tuples(st.just("pay"), st.integers(0, BOOKINGS - 1)),
    st.tuples(st.just("cancel"), st.integers(0, BOOKINGS - 1), st.integers(0, 20_000)),
    st.tuples(st.just("refund"), st.integers(0, BOOKINGS - 1), st.integers(1, 20_000)),
    st.tuples(st.just("complete"), st.integers(0, BOOKINGS - 1)),
    st.tuples(st.just("payout"), st.integers(0, WORKERS - 1), st.integers(1, 20_000)),
    st.tuples(st.just("reserve"), st.integers(0, WORKERS - 1), st.integers(1, 20_000)),
)


async def new_bookings(pool: asyncpg.Pool, totals: list[int]) -> list[uuid.UUID]:
    if await pool.fetchval("SELECT count(*) FROM services WHERE id = $1", SERVICE) == 0:
        await add_service(pool)
    made = []
    start = datetime.now(UTC) + timedelta(days=1)
    for total in totals:
        booking_id = uuid.uuid4()
        async with pool.acquire() as conn:
            await booking_store.insert(
                conn,
                booking_id,
                customer_id="c-1",
                service_id=SERVICE,
                chosen_worker_id=None,
                slot_start=start,
                slot_end=start + timedelta(hours=3),
                duration_minutes=180,
                address={"label": "", "line": "1 Rd", "city": "", "lat": 31.2, "lng": 121.4},
                lat=31.2,
                lng=121.4,
                special_requests="",
                price={"discounts_cents": total // 10},
                total_cents=total,
                worker_pay_cents=total * 7 // 10,
                payment_seconds=600,
            )
        made.append(booking_id)
    return made


@seed(20261202)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    totals=st.lists(st.integers(1, 30_000), min_size=BOOKINGS, max_size=BOOKINGS),
    steps=st.lists(step, min_size=5, max_size=30),
)
async def test_the_ledger_invariants_hold_whatever_happens(
    pool: asyncpg.Pool, totals: list[int], steps: list[tuple[Any, ...]]
) -> None:
    bookings = await new_bookings(pool, totals)
    workers = [f"w-{uuid.uuid4().hex[:8]}-{n}" for n in range(WORKERS)]
    for n, booking_id in enumerate(bookings):  # this example's own workers
        await pool.execute(
            "UPDATE bookings SET worker_id = $2 WHERE id = $1", booking_id, workers[n % WORKERS]
        )
    came_in = went_out = 0
    pending: list[tuple[uuid.UUID, int, str]] = []  # refunds asked for, not yet answered
    requested: list[tuple[str, int, str]] = []  # payouts set aside, not yet paid or released
    before = await ledger_store.balance(pool, cash(METHOD))
    for number, (action, *args) in enumerate(steps):
        try:
            async with pool.acquire() as conn, conn.transaction():
                if action == "payout":
                    worker, amount = workers[args[0]], args[1]
                    await money.pay_out(conn, worker, METHOD, amount, f"{worker}-{number}")
                    went_out += amount
                    event("payout: done")
                    continue
                if action == "reserve":
                    worker, amount = workers[args[0]], args[1]
                    await money.reserve_payout(conn, worker, amount, f"{worker}-{number}")
                    requested.append((worker, amount, f"{worker}-{number}"))
                    event("reserve: done")
                    continue
                booking = await orders.require(conn, bookings[args[0]])
                if action == "pay":
                    await paying.mark_paid_by_hand(
                        conn, booking, f"pay-{booking.id}", orders.Actor("a", "admin")
                    )
                    came_in += booking.total_cents if booking.paid_at is None else 0
                elif action == "cancel":
                    await money.keep_cancellation_fee(conn, booking, args[1])
                elif action == "refund":
                    # Asked for, then the provider's answer in a later transaction: given or refused.
                    reference = f"{booking.id}-{number}"
                    await money.request_refund(conn, booking.id, "c-1", args[1], reference)
                    pending.append((booking.id, args[1], reference))
                else:
                    await money.complete(conn, booking, 20)
            event(f"{action}: done")
        except Conflict as exc:
            event(f"{action}: {exc.code}")  # a guard refused it: nothing was written
        if pending and number % 2:  # some answers come later than others
            booking_id, amount, reference = pending.pop(0)
            given = amount % 3 != 0  # a provider refuses some refunds
            async with pool.acquire() as conn, conn.transaction():
                await money.settle_refund(conn, booking_id, "c-1", METHOD, amount, reference, succeeded=given)
            went_out += amount if given else 0
        if requested and number % 3 == 2:  # finance pays some payouts and rejects others
            worker, amount, reference = requested.pop(0)
            async with pool.acquire() as conn, conn.transaction():
                if amount % 2:
                    await money.pay_out(conn, worker, METHOD, amount, reference)
                    went_out += amount
                else:
                    await money.release_payout(conn, worker, amount, reference)
        assert await violations(pool) == []
        assert await ledger_store.balance(pool, cash(METHOD)) - before == came_in - went_out
