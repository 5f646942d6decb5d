"""Notifications inbox, missed-message recovery, booking conversations and uploads."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from hub.chat.bookings import close_booking_conversation, open_booking_conversation
from hub.keys import CONTEXT
from hub.push.inbox import NewNotification, notify, notify_many
from tests.support.clients import Peer
from tests.support.hubs import RunningHub

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def send_notification(
    hub: RunningHub, user_id: str, role: str, title: str, **kw: Any
) -> dict[str, Any]:
    async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
        return await notify(
            conn, NewNotification(user_id, role, kw.pop("kind", "booking.updated"), title, "", **kw)
        )


async def test_notification_live_list_and_read(hub: RunningHub) -> None:
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    try:
        first = await send_notification(
            hub, "w-1", "worker", "New job nearby", kind="offer", data={"offer": 1}
        )
        live = await worker.next("notification")
        assert live["seq"] == first["seq"] == 1
        assert (live["title"], live["urgent"], live["data"]) == ("New job nearby", True, {"offer": 1})
        for i in range(3):
            await send_notification(hub, "w-1", "worker", f"update {i}")
        seqs = [(await worker.next("notification"))["seq"] for _ in range(3)]
        assert seqs == [2, 3, 4]

        page = await worker.ok("notifications:list", {"limit": 2})
        assert [n["seq"] for n in page["items"]] == [4, 3]
        assert page["unread"] == 4
        older = await worker.ok("notifications:list", {"limit": 2, "cursor": page["next_cursor"]})
        assert [n["seq"] for n in older["items"]] == [2, 1]
        assert older["next_cursor"] is None
        bad = await worker.call("notifications:list", {"cursor": "bm9wZQ"})
        assert bad["error"]["code"] == "invalid_cursor"

        assert (await worker.ok("notifications:read", {"seq": 2}))["unread"] == 3
        assert await worker.error("notifications:read", {"seq": 99}) == "notification_not_found"
        assert (await worker.ok("notifications:read", {"all": True}))["unread"] == 0

        status, body = await hub.http("GET", "/api/v1/notifications?limit=3", hub.token("worker", "w-1"))
        assert status == 200
        assert [n["seq"] for n in body["items"]] == [4, 3, 2]
        assert body["unread"] == 0
        status, body = await hub.http("GET", "/api/v1/notifications?limit=0", hub.token("worker", "w-1"))
        assert status == 422
        status, body = await hub.http("GET", "/api/v1/notifications", hub.token("worker", "w-2"))
        assert body["items"] == []  # nobody sees another person's inbox
    finally:
        await worker.close()


async def test_notification_rolled_back_is_never_shown(hub: RunningHub) -> None:
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    try:
        pool = hub.app[CONTEXT].pool
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await notify(conn, NewNotification("w-1", "worker", "offer", "phantom", ""))
            await tx.rollback()
        await send_notification(hub, "w-1", "worker", "real")
        live = await worker.next("notification")
        assert (live["title"], live["seq"]) == ("real", 1)
    finally:
        await worker.close()


async def test_notifications_written_together_keep_each_persons_order(hub: RunningHub) -> None:
    """``notify_many`` (a dispatch wave's offers) stores a batch in two statements; each person's
    seqs continue from their inbox and follow the batch order, live and in the list."""
    seven = await Peer("/worker").connect(hub.url, hub.token("worker", "w-7"))
    eight = await Peer("/worker").connect(hub.url, hub.token("worker", "w-8"))
    try:
        await send_notification(hub, "w-7", "worker", "before")
        assert (await seven.next("notification"))["seq"] == 1
        batch = [
            NewNotification("w-7", "worker", "offer", "a", "", {"n": 1}),
            NewNotification("w-8", "worker", "offer", "b", "", {"n": 2}),
            NewNotification("w-7", "worker", "promotion", "c", "", {"n": 3}),
            NewNotification("w-7", "customer", "promotion", "d", ""),  # another inbox of that id
            NewNotification("w-8", "worker", "offer", "e", "", urgent=False),
        ]
        async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
            stored = await notify_many(conn, batch)
        assert [(n["user_id"], n["role"], n["title"], n["seq"]) for n in stored] == [
            ("w-7", "worker", "a", 2),
            ("w-8", "worker", "b", 1),
            ("w-7", "worker", "c", 3),
            ("w-7", "customer", "d", 1),
            ("w-8", "worker", "e", 2),
        ]
        assert [n["urgent"] for n in stored] == [True, True, False, False, False]
        live_seven = [await seven.next("notification") for _ in range(2)]
        assert [(n["title"], n["seq"], n["data"]) for n in live_seven] == [
            ("a", 2, {"n": 1}),
            ("c", 3, {"n": 3}),
        ]
        live_eight = [await eight.next("notification") for _ in range(2)]
        assert [(n["title"], n["seq"]) for n in live_eight] == [("b", 1), ("e", 2)]
        page = await seven.ok("notifications:list", {})
        assert [n["title"] for n in page["items"]] == ["c", "a", "before"]
        async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
            assert await notify_many(conn, []) == []
    finally:
        await seven.close()
        await eight.close()


async def test_concurrent_notification_batches_leave_no_gap(hub: RunningHub) -> None:
    """Batches that share people, written at once, neither deadlock nor lose or repeat a seq;
    one that rolls back leaves nothing behind."""
    pool = hub.app[CONTEXT].pool
    people = [f"w-{i}" for i in range(20, 26)]

    async def wave(k: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await notify_many(
                conn, [NewNotification(p, "worker", "offer", f"{k}", "") for p in people[k % 3 :] + people]
            )

    await asyncio.wait_for(asyncio.gather(*(wave(k) for k in range(12))), timeout=30)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await notify_many(conn, [NewNotification(p, "worker", "offer", "phantom", "") for p in people])
        await tx.rollback()
        rows = await conn.fetch(
            "SELECT user_id, array_agg(seq ORDER BY seq) AS seqs FROM notifications"
            " WHERE user_id = ANY($1::text[]) AND role = 'worker' GROUP BY user_id",
            people,
        )
    expected = {p: 12 + sum(1 for k in range(12) if p in people[k % 3 :]) for p in people}
    assert {r["user_id"]: list(r["seqs"]) for r in rows} == {
        p: list(range(1, n + 1)) for p, n in expected.items()
    }


async def test_sync_replays_what_was_missed_in_order(hub: RunningHub) -> None:
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    try:
        conv = (await customer.ok("support:open"))["conversation"]["id"]
        seen = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "1", "body": "before"})
        await send_notification(hub, "c-1", "customer", "seen")
        await customer.next("notification")
        await customer.close()  # the phone goes away

        for i in range(3):
            await agent.ok(
                "chat:send", {"conversation_id": conv, "client_id": f"away{i}", "body": f"missed {i}"}
            )
        await agent.ok(
            "chat:send", {"conversation_id": conv, "client_id": "n", "body": "note", "private": True}
        )
        await send_notification(hub, "c-1", "customer", "missed")

        back = Peer("/customer")
        await back.connect(
            hub.url,
            hub.token("customer", "c-1"),
            sync={"notifications_since": 1, "conversations": {conv: seen["seq"]}},
        )
        customer = back
        replay = await back.next("sync")
        assert replay["ok"] is True
        data = replay["data"]
        assert [n["title"] for n in data["notifications"]["items"]] == ["missed"]
        messages = data["conversations"][conv]["messages"]
        assert [m["body"] for m in messages] == ["missed 0", "missed 1", "missed 2"]  # no private note
        assert [m["seq"] for m in messages] == sorted({m["seq"] for m in messages})
        assert data["conversations"][conv]["more"] is False

        # The same over the sync event; nothing new means nothing replayed.
        last = messages[-1]["seq"]
        again = await back.ok("sync", {"notifications_since": 2, "conversations": {conv: last + 1}})
        assert again["notifications"]["items"] == []
        assert conv not in again["conversations"]
    finally:
        await agent.close()
        await customer.close()


async def test_sync_pages_a_long_absence(hub: RunningHub) -> None:
    pool = hub.app[CONTEXT].pool
    async with pool.acquire() as conn, conn.transaction():
        for i in range(250):
            await notify(conn, NewNotification("c-5", "customer", "promotion", f"#{i}", ""))
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-5"))
    try:
        first = await customer.ok("sync", {"notifications_since": 0})
        items = first["notifications"]["items"]
        assert first["notifications"]["more"] is True
        second = await customer.ok("sync", {"notifications_since": items[-1]["seq"]})
        assert second["notifications"]["more"] is False
        assert [n["seq"] for n in items + second["notifications"]["items"]] == list(range(1, 251))
    finally:
        await customer.close()


async def test_booking_conversation_worker_customer_and_support(hub: RunningHub) -> None:
    pool = hub.app[CONTEXT].pool
    async with pool.acquire() as conn, conn.transaction():
        conv = str((await open_booking_conversation(conn, "b-1", "c-1", "w-1")).id)
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    other = await Peer("/worker").connect(hub.url, hub.token("worker", "w-2"))
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    try:
        await worker.ok("chat:send", {"conversation_id": conv, "client_id": "eta", "body": "ETA 10 min"})
        assert (await customer.next("chat:message"))["body"] == "ETA 10 min"
        assert await other.error("chat:history", {"conversation_id": conv}) == "conversation_not_found"
        listed = await worker.ok("conversations:list")
        assert [c["id"] for c in listed["items"]] == [conv]

        await agent.ok("chat:join", {"conversation_id": conv})
        await customer.ok(
            "chat:send", {"conversation_id": conv, "client_id": "door", "body": "Gate code 1234"}
        )
        assert (await agent.next("chat:message"))["body"] == "Gate code 1234"
        assert (await worker.next("chat:message"))["body"] == "Gate code 1234"

        await close_booking_conversation(pool, "b-1", 0)
        code = await worker.error("chat:send", {"conversation_id": conv, "client_id": "late", "body": "bye"})
        assert code == "conversation_closed"
        history = await customer.ok("chat:history", {"conversation_id": conv})
        assert len(history["items"]) == 2  # still readable
    finally:
        for peer in (customer, worker, other, agent):
            await peer.close()


async def upload(hub: RunningHub, token: str, body: bytes, content_type: str) -> tuple[int, Any]:
    return await hub.http("POST", "/api/v1/uploads", token, data=body, headers={"Content-Type": content_type})


async def test_uploads_and_attachments(start_hub: Any) -> None:
    hub = await start_hub(HUB_UPLOAD_MAX_BYTES="2048")
    token = hub.token("customer", "c-1")
    status, stored = await upload(hub, token, PNG, "image/png")
    assert status == 201
    assert (stored["content_type"], stored["size"]) == ("image/png", len(PNG))
    assert (await upload(hub, token, b"<script>alert(1)</script>", "image/png"))[1]["error"]["code"] == (
        "upload_type_mismatch"
    )
    assert (await upload(hub, token, b"#!/bin/sh", "text/x-shellscript"))[1]["error"]["code"] == (
        "upload_type_not_allowed"
    )
    assert (await upload(hub, token, PNG + b"\x00" * 4096, "image/png"))[0] == 422
    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="kitchen.png", content_type="image/png")
    status, multipart = await hub.http("POST", "/api/v1/uploads", token, data=form)
    assert (status, multipart["filename"]) == (201, "kitchen.png")

    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    customer = await Peer("/customer").connect(hub.url, token)
    try:
        conv = (await customer.ok("support:open"))["conversation"]["id"]
        ack = await customer.ok(
            "chat:send",
            {
                "conversation_id": conv,
                "client_id": "pic",
                "attachments": [{"upload_id": stored["upload_id"]}],
            },
        )
        got = await agent.next_where("chat:message", lambda m: m["id"] == ack["id"])
        assert got["attachments"][0]["url"] == stored["url"]
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                hub.url + stored["url"], headers={"Authorization": f"Bearer {hub.token('support', 'a-1')}"}
            ) as response,
        ):
            assert response.status == 200
            assert await response.read() == PNG
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        # Someone else's upload cannot be attached.
        _, foreign = await upload(hub, hub.token("customer", "c-2"), PNG, "image/png")
        code = await customer.error(
            "chat:send",
            {
                "conversation_id": conv,
                "client_id": "x",
                "attachments": [{"upload_id": foreign["upload_id"]}],
            },
        )
        assert code == "invalid_attachment"
        missing = await hub.http("GET", f"/api/v1/uploads/{uuid.uuid4()}", token)
        assert missing[0] == 404
    finally:
        await agent.close()
        await customer.close()


async def download(hub: RunningHub, url: str, role: str, sub: str) -> int:
    """The status of a download as (role, sub); when it is 200, the bytes are the file's."""
    headers = {"Authorization": f"Bearer {hub.token(role, sub)}"}
    async with aiohttp.ClientSession() as session, session.get(hub.url + url, headers=headers) as response:
        if response.status == 200:
            assert await response.read() == PNG
        return response.status


async def attach(hub: RunningHub, peer: Peer, role: str, sub: str, conv: str, **message: Any) -> str:
    """Upload a file as (role, sub) and send it in ``conv``; its download URL."""
    status, stored = await upload(hub, hub.token(role, sub), PNG, "image/png")
    assert status == 201, stored
    attachments = [{"upload_id": stored["upload_id"]}]
    send = {"conversation_id": conv, "client_id": stored["upload_id"], "attachments": attachments}
    await peer.ok("chat:send", {**send, **message})
    return str(stored["url"])


async def test_an_upload_is_seen_by_whoever_sees_its_message(hub: RunningHub) -> None:
    pool = hub.app[CONTEXT].pool
    async with pool.acquire() as conn, conn.transaction():
        booking_conv = str((await open_booking_conversation(conn, "b-1", "c-1", "w-1")).id)
        await open_booking_conversation(conn, "b-2", "c-2", "w-2")
        # A job of a worker whose id is the customer c-1's: another person altogether.
        foreign_conv = str((await open_booking_conversation(conn, "b-3", "c-3", "c-1")).id)
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    impostor = await Peer("/worker").connect(hub.url, hub.token("worker", "c-1"))
    try:
        support_conv = (await customer.ok("support:open"))["conversation"]["id"]
        _, unsent = await upload(hub, hub.token("customer", "c-1"), PNG, "image/png")
        mine = await attach(hub, customer, "customer", "c-1", support_conv)
        theirs = await attach(hub, worker, "worker", "w-1", booking_conv)
        note = await attach(hub, agent, "support", "a-1", support_conv, private=True)

        # The uploader, attached or not; nobody else while it is attached nowhere.
        assert await download(hub, unsent["url"], "customer", "c-1") == 200
        for role, sub in [("customer", "c-2"), ("support", "a-1"), ("worker", "c-1")]:
            assert await download(hub, unsent["url"], role, sub) == 404, (role, sub)
        # Attached: whoever may see the conversation, and nobody else.
        assert await download(hub, mine, "support", "a-2") == 200
        assert await download(hub, mine, "admin", "boss") == 200
        assert await download(hub, mine, "customer", "c-2") == 404
        assert await download(hub, mine, "worker", "c-1") == 404
        assert await download(hub, theirs, "customer", "c-1") == 200  # the other member
        assert await download(hub, theirs, "worker", "w-2") == 404  # another booking's worker
        assert await download(hub, theirs, "customer", "c-2") == 404
        # A private note's attachment: agents only.
        assert await download(hub, note, "support", "a-2") == 200
        assert await download(hub, note, "customer", "c-1") == 404
        # Nor may the impostor pass the customer's upload on by attaching it.
        attachments = [{"upload_id": unsent["upload_id"]}]
        send = {"conversation_id": foreign_conv, "client_id": "x", "attachments": attachments}
        assert await impostor.error("chat:send", send) == "invalid_attachment"
    finally:
        for peer in (customer, worker, agent, impostor):
            await peer.close()
