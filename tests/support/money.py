"""Steps the points, packages and spending tests share: book, pay by hand, do the job, read the
ledger."""

from __future__ import annotations

import os
import uuid
from typing import Any

from bookings.payments.invariants import violations
from bookings.storage import points as point_store
from hub.keys import CONTEXT
from tests.support.bookings import CENTRE, booking_request
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, cli

ADMIN = ("admin", "admin-1")


async def book(
    hub: RunningHub, customer: str = "c-1", key: str | None = None, **overrides: Any
) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    return await hub.http(
        "POST",
        "/api/v1/bookings",
        hub.token("customer", customer),
        json=booking_request(**overrides),
        headers=headers,
    )


async def quote(hub: RunningHub, customer: str = "c-1", **overrides: Any) -> tuple[int, Any]:
    return await hub.http(
        "POST", "/api/v1/bookings/quote", hub.token("customer", customer), json=booking_request(**overrides)
    )


async def mark_paid(hub: RunningHub, booking_id: str, ref: str | None = None) -> dict[str, Any]:
    status, body = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking_id}/mark-paid",
        hub.token(*ADMIN),
        json={"payment_ref": ref or f"pay-{booking_id}"},
    )
    assert status == 200, body
    return dict(body)


async def do_the_job(worker: Peer, booking_id: str, *, resend_finish: bool = False) -> None:
    """Accept the booking's offer and go through every step to finish."""
    offer = await worker.next_where("offer", lambda o: o["booking_id"] == booking_id)
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    here = {"booking_id": booking_id, "lat": CENTRE[0], "lng": CENTRE[1]}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("job:depart", {**here, "eta_minutes": 5}),
        ("job:arrive", here),
        ("job:start", {"booking_id": booking_id}),
        ("job:finish", {"booking_id": booking_id}),
    ]
    if resend_finish:
        steps.append(("job:finish", {"booking_id": booking_id}))  # its ack was lost, say
    for event, data in steps:
        await worker.ok(event, data)


async def cancel(hub: RunningHub, booking_id: str, customer: str = "c-1") -> dict[str, Any]:
    status, body = await hub.http(
        "POST", f"/api/v1/bookings/{booking_id}/cancel", hub.token("customer", customer), json={}
    )
    assert status == 200, body
    return dict(body)


async def ledger_is_clean(hub: RunningHub) -> None:
    """The invariants hold, in process and as ``python -m hub ledger-check`` sees them."""
    assert await violations(hub.app[CONTEXT].pool) == []
    env = {"PATH": os.environ.get("PATH", ""), "HUB_DATABASE_URL": hub.settings.database_url or ""}
    checked = cli("ledger-check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ledger: ok" in checked.stdout


async def new_package(hub: RunningHub, **overrides: Any) -> dict[str, Any]:
    body = {
        "service_id": "test-cleaning",
        "name": "Three cleanings",
        "visits": 3,
        "visit_minutes": 180,
        "price_cents": 36001,  # a fen that does not divide: the last visit takes it
        "validity_days": 90,
        **overrides,
    }
    status, package = await hub.http("POST", "/api/v1/admin/packages", hub.token(*ADMIN), json=body)
    assert status == 201, package
    return dict(package)


async def buy_package(
    hub: RunningHub, package_id: str, customer: str = "c-1", *, pay: bool = True
) -> dict[str, Any]:
    status, order = await hub.http(
        "POST", f"/api/v1/packages/{package_id}/purchase", hub.token("customer", customer)
    )
    assert status == 201, order
    assert order["status"] == "pending_payment"
    if pay:
        status, order = await hub.http(
            "POST",
            f"/api/v1/admin/package-orders/{order['id']}/mark-paid",
            hub.token(*ADMIN),
            json={"payment_ref": f"bank-{order['id']}"},
        )
        assert status == 200, order
    return dict(order)


async def give_points(hub: RunningHub, customer: str, points: int) -> None:
    """Points from nowhere in particular (an adjustment), to spend."""
    async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
        assert await point_store.add_entry(
            conn, customer_id=customer, kind="adjusted", points=points, reference=f"gift:{uuid.uuid4()}"
        )
