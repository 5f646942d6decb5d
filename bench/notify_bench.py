"""Payment notify handling: throughput and latency of a provider's notifies under concurrency, half
of them duplicates, then the ledger's invariants and the payments' states checked.

    .venv/bin/python -m bench.notify_bench                    # 100 payments, 200 notifies at once
    .venv/bin/python -m bench.notify_bench --payments 500 --concurrency 200

It creates a database, starts ``python -m hub serve`` with the card provider pointed at an
in-process card sandbox (bookings/payments/sandbox/card.py, which plays Stripe), loads the demo
data, makes N bookings and a card payment for each over HTTP, then sends every payment's
``checkout.session.completed`` webhook twice (the second a duplicate, as a provider's retry or a
replay), signed as the sandbox signs them, ``--concurrency`` at a time, in random order, to the
hub's notify route; each answer's time is recorded. Afterwards: every payment succeeded once, one
ledger transaction per payment, every booking dispatching, and ``python -m hub ledger-check``
clean. Results go in bench/README.md, section "Payment notifies".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from deployment import Deployment
from runner import say
from stats import percentile

from bookings.payments.sandbox.card import CardSandboxConfig, create_app, stripe_signature
from hub.auth import Role

SECRET_KEY, WEBHOOK_SECRET = "sk_test_bench", "whsec_bench"


async def run(args: argparse.Namespace) -> int:
    sandbox = TestServer(create_app(CardSandboxConfig(SECRET_KEY, WEBHOOK_SECRET)), host="127.0.0.1")
    await sandbox.start_server()
    deployment = Deployment(args.pg_admin, Path(tempfile.mkdtemp(prefix="hub-bench-notify-")))
    try:
        await deployment.create_database(
            {
                "HUB_PUBLIC_URL": "http://127.0.0.1:1",  # notifies come from this process, not the sandbox
                "HUB_PAY_CARD_SECRET_KEY": SECRET_KEY,
                "HUB_PAY_CARD_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "HUB_PAY_CARD_API_BASE": str(sandbox.make_url("")).rstrip("/"),
                "HUB_PAY_CARD_RETURN_URL": "https://app.example.com/done",
                "HUB_BOOKING_MAX_DAYS_AHEAD": "366",
                "HUB_DB_POOL_MAX": str(args.pool),
            }
        )
        seeded = await _hub_command(deployment, "demo-seed")
        if seeded.returncode != 0:
            raise SystemExit(seeded.stderr)
        await deployment.start_hubs(["A"])
        url = deployment.nodes[0].url
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            payments = await _payments(http, url, deployment, args.payments)
            notifies = [p for p in payments for _ in range(2)]  # each twice: half are duplicates
            random.Random(args.seed).shuffle(notifies)
            say(f"{len(payments)} payments; {len(notifies)} notifies, {args.concurrency} at a time")
            latencies, statuses, wall = await _send(http, url, notifies, args.concurrency)
        problems = await _check(deployment, payments)
        _report(args, latencies, statuses, wall, problems, deployment)
        return 0 if not problems and set(statuses) == {200} else 1
    finally:
        await deployment.stop()
        await sandbox.close()


async def _payments(
    http: aiohttp.ClientSession, url: str, deployment: Deployment, count: int
) -> list[dict[str, Any]]:
    """``count`` bookings on distinct days and a card payment for each."""
    customers = [f"customer-0{n}" for n in range(1, 7)]
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()

    async def one(n: int) -> dict[str, Any]:
        customer = customers[n % len(customers)]
        token = deployment.token(Role.CUSTOMER, customer)
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{url}/api/v1/customers/me/addresses", headers=headers) as response:
            address = (await response.json())["items"][0]["id"]
        day: date = today + timedelta(days=1 + n // 4)
        body = {
            "service_id": "daily-cleaning",
            "date": day.isoformat(),
            "start_time": f"{9 + 2 * (n % 4):02d}:00",
            "address_id": address,
        }
        async with http.post(f"{url}/api/v1/bookings", json=body, headers=headers) as response:
            booking = await response.json()
            assert response.status == 201, booking
        pay = {"method": "card", "channel": "hosted"}
        async with http.post(
            f"{url}/api/v1/bookings/{booking['id']}/payments", json=pay, headers=headers
        ) as response:
            payment = await response.json()
            assert response.status == 201, payment
        return {**payment, "booking_id": booking["id"]}

    made: list[dict[str, Any]] = []
    for start in range(0, count, 20):  # 20 at a time: creating them is not what is measured
        made += await asyncio.gather(*(one(n) for n in range(start, min(count, start + 20))))
    return made


def _event(payment: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{payment['out_trade_no']}",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": payment["client"].get("session_id", "cs_bench"),
                    "object": "checkout.session",
                    "client_reference_id": payment["out_trade_no"],
                    "metadata": {"out_trade_no": payment["out_trade_no"]},
                    "amount_total": payment["amount_cents"],
                    "currency": "cny",
                    "payment_status": "paid",
                    "status": "complete",
                    "payment_intent": f"pi_{payment['out_trade_no']}",
                }
            },
        }
    ).encode()


async def _send(
    http: aiohttp.ClientSession, url: str, notifies: list[dict[str, Any]], concurrency: int
) -> tuple[list[float], list[int], float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    statuses: list[int] = []

    async def one(payment: dict[str, Any]) -> None:
        body = _event(payment)
        headers = {
            "Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body, int(time.time())),
            "Content-Type": "application/json",
        }
        async with gate:
            began = time.perf_counter()
            async with http.post(f"{url}/api/v1/payments/notify/card", data=body, headers=headers) as answer:
                await answer.read()
                latencies.append((time.perf_counter() - began) * 1000)
                statuses.append(answer.status)

    began = time.perf_counter()
    await asyncio.gather(*(one(p) for p in notifies))
    return latencies, statuses, time.perf_counter() - began


async def _check(deployment: Deployment, payments: list[dict[str, Any]]) -> list[str]:
    assert deployment.dsn is not None
    conn = await asyncpg.connect(deployment.dsn)
    try:
        succeeded = await conn.fetchval("SELECT count(*) FROM payments WHERE status = 'succeeded'")
        postings = await conn.fetchval("SELECT count(*) FROM ledger_transactions WHERE kind = 'payment'")
        dispatched = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE status = 'dispatching' AND id = ANY($1::uuid[])",
            [p["booking_id"] for p in payments],
        )
    finally:
        await conn.close()
    problems = []
    for name, found in (
        ("payments succeeded", succeeded),
        ("payment postings", postings),
        ("bookings dispatching", dispatched),
    ):
        if found != len(payments):
            problems.append(f"{name}: {found}, expected {len(payments)}")
    checked = await _hub_command(deployment, "ledger-check")
    if checked.returncode != 0:
        problems.append(f"ledger-check: {checked.stdout.strip()} {checked.stderr.strip()}")
    return problems


async def _hub_command(deployment: Deployment, command: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "hub", command]
    return await asyncio.to_thread(subprocess.run, args, env=deployment.env, capture_output=True, text=True)


def _report(
    args: argparse.Namespace,
    latencies: list[float],
    statuses: list[int],
    wall: float,
    problems: list[str],
    deployment: Deployment,
) -> None:
    ordered = sorted(latencies)
    say(
        f"{len(latencies)} notifies ({len(latencies) // 2} duplicates) at concurrency {args.concurrency}: "
        f"{len(latencies) / wall:.0f}/s; latency p50 {percentile(ordered, 0.5):.1f} ms, "
        f"p99 {percentile(ordered, 0.99):.1f} ms, max {ordered[-1]:.1f} ms; statuses {sorted(set(statuses))}"
    )
    say(
        "checks: "
        + (
            "all payments succeeded once, one posting each, ledger-check clean"
            if not problems
            else "; ".join(problems)
        )
    )
    noisy = [line for lines in deployment.log_problems.values() for line in lines]
    if noisy:
        say(f"hub logged {len(noisy)} warnings or errors, first: {noisy[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notify_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--pool", type=int, default=20, help="HUB_DB_POOL_MAX of the hub")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
