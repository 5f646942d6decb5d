"""The authorisation matrix of the sockets, as HTTP has one: every client event that names an object
(a conversation, a booking, an offer) by every intruder who may connect to its namespace — another
person of the same role, and someone with the owner's id in another role — is refused with a
``*_not_found`` code (existence is not revealed) and changes nothing. The same events from the
owners succeed, so the matrix cannot pass by refusing everyone.

Support agents see every conversation by design; the console namespace has no intruder role."""

from __future__ import annotations

import uuid
from typing import Any

from hub.keys import CONTEXT
from hub.web.asyncapi import PROTOCOL
from tests.support.bookings import CENTRE, book_and_pay, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub

OBJECT_FIELDS = ("conversation_id", "booking_id", "offer_id")
# The rest of a payload that is valid except for whose object it names.
FILLERS: dict[str, Any] = {
    "client_id": "intruder-1",
    "body": "let me in",
    "attachments": [],
    "private": False,
    "typing": True,
    "seq": 1,
    "cursor": None,
    "limit": 10,
    "score": 5,
    "comment": "",
    "lat": CENTRE[0],
    "lng": CENTRE[1],
    "eta_minutes": 10,
    "reason": "busy",
}
INTRUDERS = {  # namespace -> (role, id) of people who may connect there and own none of it
    "/customer": [("customer", "c-2"), ("customer", "w-1")],
    "/worker": [("worker", "w-2"), ("worker", "c-1")],
}


async def world(hub: RunningHub, peers: list[Peer]) -> dict[str, str]:
    """c-1's support conversation (agent a-1), c-1's booking accepted by w-1 with its conversation,
    and an open offer to w-1 for another booking."""
    agent = await open_peer(hub, peers, "/support", "support", "a-1")
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    support = (await customer.ok("support:open"))["conversation"]["id"]
    await customer.ok("chat:send", {"conversation_id": support, "client_id": "c1", "body": "hello"})
    await agent.next_where("chat:message", lambda m: m["kind"] == "text")
    booking = await book_and_pay(hub, worker_id="w-1")
    offer = await worker.next_where("offer", lambda o: o["booking_id"] == booking["id"])
    accepted = await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    later = await book_and_pay(hub, worker_id="w-1", start_time="15:00")
    pending = await worker.next_where("offer", lambda o: o["booking_id"] == later["id"])
    return {
        "support": support,
        "job_chat": accepted["conversation_id"],
        "booking": booking["id"],
        "offer": pending["offer_id"],
    }


async def state(hub: RunningHub, objects: dict[str, str]) -> tuple[Any, ...]:
    pool = hub.app[CONTEXT].pool
    return (
        await pool.fetchval("SELECT count(*) FROM messages"),
        await pool.fetchval("SELECT count(*) FROM conversation_members WHERE active"),
        tuple(
            await pool.fetchrow(
                "SELECT status, worker_id FROM bookings WHERE id = $1", uuid.UUID(objects["booking"])
            )
        ),
        await pool.fetchval("SELECT status FROM offers WHERE id = $1", uuid.UUID(objects["offer"])),
        await pool.fetchval("SELECT count(*) FROM booking_timeline"),
    )


def payloads(model: Any, objects: dict[str, str]) -> list[dict[str, Any]]:
    """One payload per object the event could name."""
    fields = model.model_fields
    targets = {
        "conversation_id": [objects["support"], objects["job_chat"]],
        "booking_id": [objects["booking"]],
        "offer_id": [objects["offer"]],
    }
    base = {name: FILLERS[name] for name in fields if name in FILLERS}
    return [
        {**base, field: target} for field in OBJECT_FIELDS if field in fields for target in targets[field]
    ]


async def test_no_socket_event_reaches_anothers_object(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=2)
    objects = await world(hub, peers)
    before = await state(hub, objects)
    checked = 0
    for namespace, intruders in INTRUDERS.items():
        handlers = hub.app[PROTOCOL].namespaces[namespace].handlers
        for role, user_id in intruders:
            intruder = await open_peer(hub, peers, namespace, role, user_id)
            for event, (_call, declared) in sorted(handlers.items()):
                if declared.payload is None:
                    continue
                for payload in payloads(declared.payload, objects):
                    ack = await intruder.call(event, payload)
                    assert ack["ok"] is False, (role, user_id, event, payload, ack)
                    assert ack["error"]["code"].endswith("_not_found"), (role, user_id, event, ack)
                    checked += 1
            # sync names conversations in a map: each foreign one answers not found, empty.
            synced = await intruder.ok(
                "sync", {"conversations": {objects["support"]: 0, objects["job_chat"]: 0}}
            )
            for conversation in (objects["support"], objects["job_chat"]):
                assert synced["conversations"][conversation]["error"] == "conversation_not_found"
                assert synced["conversations"][conversation]["messages"] == []
            await intruder.close()
    assert checked >= 30, checked  # the matrix is not empty
    assert await state(hub, objects) == before  # and nothing anywhere changed


async def test_the_owners_reach_their_objects(start_hub: StartHub, peers: list[Peer]) -> None:
    """The control: the same kinds of event from the owners are not refused as unknown."""
    hub = await start(start_hub, workers=2)
    objects = await world(hub, peers)
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    for conversation in (objects["support"], objects["job_chat"]):
        await customer.ok("chat:history", {"conversation_id": conversation, "limit": 10})
    await worker.ok("chat:history", {"conversation_id": objects["job_chat"], "limit": 10})
    await worker.ok("offer:seen", {"offer_id": objects["offer"]})
    lat, lng = CENTRE
    await worker.ok("job:location", {"booking_id": objects["booking"], "lat": lat, "lng": lng})
