"""An offer reaches a worker with no live socket as an urgent push, through quiet hours."""

from __future__ import annotations

from hub.keys import CONTEXT
from tests.support.bookings import add_service, add_worker, book_and_pay
from tests.support.hubs import StartHub
from tests.support.webhooks import SECRET, Receiver, register


async def test_offer_to_a_worker_without_a_socket_is_an_urgent_push(
    start_hub: StartHub, receiver: Receiver
) -> None:
    """Quiet hours all day long: only an urgent push may get through, and the offer does."""
    hub = await start_hub(
        HUB_WEBHOOK_SECRET=SECRET, HUB_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", HUB_BOOKING_MIN_LEAD_MINUTES="0"
    )
    pool = hub.app[CONTEXT].pool
    await add_service(pool)
    await add_worker(pool, "w-1")
    await register(hub, "worker", "w-1", receiver.url)
    status, _ = await hub.http(
        "PUT",
        "/api/v1/notification-preferences",
        hub.token("worker", "w-1"),
        json={"quiet_hours": {"start": "00:00", "end": "23:59", "time_zone": "Asia/Shanghai"}},
    )
    assert status == 200
    booking = await book_and_pay(hub)
    pushed = await receiver.next()
    assert (pushed["kind"], pushed["urgent"], pushed["user_id"]) == ("offer", True, "w-1")
    assert pushed["data"]["booking_id"] == booking["id"]
