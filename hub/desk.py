"""Glue between chat/presence domain results and the sockets: what to emit, to whom, when.

Kept out of the namespaces so the same reactions run whether a change came from a socket event,
a presence transition on another node, or a periodic sweep.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from functools import partial
from typing import Any

from hub.chat import support
from hub.chat.models import Member, Message
from hub.chat.service import ConversationChange
from hub.coalesce import CoalescedPasses
from hub.context import HubContext
from hub.outages import outage
from hub.presence import PRESENCE_UNAVAILABLE, PresenceChange, Status
from hub.protocol import (
    CHAT_MESSAGE,
    CONVERSATION_ASSIGNED,
    CONVERSATION_TRANSFERRED,
    PRESENCE_CHANGED,
    SUPPORT_QUEUE,
    SUPPORT_QUEUE_CHANGED,
    ServerEvent,
)
from hub.push.queue import PushMessage, queue_push
from hub.storage.db import timeouts_of

log = logging.getLogger(__name__)

LATE_LOOKUP_INTERVAL_SECONDS = 1.0
LATE_LOOKUP_WINDOW_SECONDS = 120.0  # how long a database that does not answer is asked again


async def emit_message(
    hub: HubContext, message: Message, members: list[Member], skip_sid: str | None = None
) -> None:
    await hub.realtime.to_members(
        members, CHAT_MESSAGE, message.to_dict(), agents_only=message.private, skip_sid=skip_sid
    )


async def deliver_if_stored_late(hub: HubContext, message_id: uuid.UUID) -> None:
    """Send a message whose ``chat:send`` failed (the database did not answer in time) if it was
    stored all the same.

    A statement the hub gave up on can still commit, once a stalled server resumes: the sender
    was told ``db_unavailable``, its retry finds the message as a duplicate, and a duplicate is
    not sent again. So the node that gave up asks until the database answers, and once more a
    statement's time later (a statement still running then ends within it); if the message is
    there, it gets the one live delivery (and offline push) it would have had."""
    settle = timeouts_of(hub.pool).command
    deadline = time.monotonic() + LATE_LOOKUP_WINDOW_SECONDS
    answered_at: float | None = None
    while time.monotonic() < deadline:
        await asyncio.sleep(LATE_LOOKUP_INTERVAL_SECONDS)
        try:
            found = await hub.chat.stored_late(message_id)
        except Exception as exc:
            if outage(exc) is None:
                raise
            continue
        if found is not None:
            message, members = found
            log.info("message %s was stored after its send timed out; delivering it", message_id)
            await emit_message(hub, message, members)
            await push_to_unreachable(hub, message, members)
            return
        answered_at = answered_at or time.monotonic()
        if time.monotonic() - answered_at > settle:
            return
    log.warning("could not learn whether message %s was stored; its members find it by sync", message_id)


async def push_to_unreachable(hub: HubContext, message: Message, members: list[Member]) -> None:
    """Queue an offline push of a chat message for each recipient without a foreground socket."""
    sender = Member(message.sender_id, message.sender_role) if message.sender_id is not None else None
    targets = [m for m in members if m != sender and (m.is_agent or not message.private)]
    try:
        offline = [m for m in targets if not await hub.presence.reachable(m.user_id, m.role)]
    except PRESENCE_UNAVAILABLE as exc:
        # As for notifications: a phone buzzing for a message already on screen beats a message
        # nobody is told about.
        log.warning("presence unavailable (%r); pushing message %s to every recipient", exc, message.id)
        offline = targets
    if not offline:
        return
    async with hub.pool.acquire() as conn, conn.transaction():
        for member in offline:
            await queue_push(
                conn,
                PushMessage(
                    notification_id=message.id,
                    user_id=member.user_id,
                    role=member.role,
                    kind="chat.message",
                    title="New message",
                    body=message.body[:200] or "(attachment)",
                    data={"conversation_id": str(message.conversation_id), "seq": message.seq},
                    collapse_key=str(message.conversation_id),
                ),
            )


async def publish_change(hub: HubContext, change: ConversationChange, event: ServerEvent) -> None:
    conversation = change.conversation.to_dict()
    await hub.realtime.to_members(change.members, event, conversation)
    previous = change.previous_agent
    if previous is not None:
        await hub.realtime.to_user(previous.user_id, previous.role, CONVERSATION_TRANSFERRED, conversation)
    if change.system_message is not None:
        await emit_message(hub, change.system_message, change.members)


async def run_assignment(hub: HubContext, *, queue_changed: bool = False) -> None:
    """Assign waiting conversations to online agents and tell everyone concerned; return once a
    pass that started after this call is done (requests during a pass share the next one).

    Queue positions go out only when the queue moved (an assignment here, or ``queue_changed``
    from the caller), so the periodic sweep does not re-send every waiting customer their place."""
    hub.metrics.assignment_requests.inc()
    if hub.assignment_passes is None:
        hub.assignment_passes = CoalescedPasses(partial(_assignment_pass, hub), "support-assignment")
    await hub.assignment_passes.request(queue_changed)


async def _assignment_pass(hub: HubContext, queue_changed: bool) -> None:
    hub.metrics.assignment_passes.inc()
    # Admins appear in the support snapshot but only pick conversations by hand.
    agents = [
        s.user_id
        for s in await hub.presence.snapshot("support")
        if s.role == "support" and s.status == Status.ONLINE
    ]
    changes = await support.assign_waiting(hub.pool, agents, hub.settings.chat.agent_capacity)
    for change in changes:
        await publish_change(hub, change, CONVERSATION_ASSIGNED)
    if changes or queue_changed:
        await broadcast_queue(hub)


async def broadcast_queue(hub: HubContext) -> None:
    """Each waiting customer learns their position; agents learn the queue length."""
    queue = await support.queue_positions(hub.pool)
    for conversation, position in queue:
        await hub.realtime.to_user(
            conversation.customer_id,
            "customer",
            SUPPORT_QUEUE,
            {"conversation_id": str(conversation.id), "position": position},
        )
    await hub.realtime.to_agents(SUPPORT_QUEUE_CHANGED, {"queued": len(queue)})


async def on_presence_change(hub: HubContext, change: PresenceChange) -> None:
    """Tracker callback: the support board sees workers and agents; an agent coming online may
    take waiting conversations."""
    state = change.state
    if state.role == "customer":
        return  # customers' presence is nobody's business on the console
    await hub.realtime.to_agents(PRESENCE_CHANGED, _presence_event(state.to_dict()))
    if state.role == "support" and state.status == Status.ONLINE and hub.database is not None:
        await run_assignment(hub)


def _presence_event(state: dict[str, Any]) -> dict[str, Any]:
    return {k: state[k] for k in ("user_id", "role", "status", "since", "last_seen", "booking_id")}
