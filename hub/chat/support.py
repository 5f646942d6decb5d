"""The support queue: open, auto-assign, pick, transfer, resolve, reopen, rate.

Every state change is a conditional UPDATE (or runs under the assignment lock), so two hub
nodes acting on the same conversation at once cannot both succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from hub.auth import Principal
from hub.chat.models import AGENT_ROLES, Conversation, Member, Message
from hub.chat.service import ConversationChange
from hub.errors import Conflict, Forbidden, NotFound
from hub.storage import chat as store
from hub.storage.db import Conn


@dataclass(frozen=True, slots=True)
class Opened:
    conversation: Conversation
    created: bool


async def open_support(pool: asyncpg.Pool, customer: Principal) -> Opened:
    async with pool.acquire() as conn, conn.transaction():
        conversation, created = await store.open_support(conn, customer.user_id)
    return Opened(conversation, created)


async def assign_waiting(
    pool: asyncpg.Pool, online_agents: Sequence[str], default_capacity: int, limit: int = 50
) -> list[ConversationChange]:
    """Give queued conversations, longest-waiting first, to online agents with room.

    One transaction for the whole pass, under the assignment lock taken once: a burst of opens
    costs one transaction per pass, not one per conversation plus one that finds nothing."""
    changes: list[ConversationChange] = []
    if not online_agents:
        return changes
    async with pool.acquire() as conn, conn.transaction():
        await store.lock_assignment(conn)
        while len(changes) < limit:
            pick = await store.next_assignment(conn, online_agents, default_capacity)
            if pick is None:
                break
            conversation, agent_id = pick
            changes.append(await _assign(conn, conversation.id, agent_id, "support", "assigned"))
    return changes


async def _assign(
    conn: Conn,
    conversation_id: uuid.UUID,
    agent_id: str,
    agent_role: str,
    verb: str,
    previous: Member | None = None,
) -> ConversationChange:
    conversation = await store.assign(conn, conversation_id, agent_id, agent_role)
    note = await _system_message(conn, conversation_id, f"agent {agent_id} {verb}")
    members = await store.active_members(conn, conversation_id)
    return ConversationChange(conversation, members, note, previous)


async def _system_message(conn: Conn, conversation_id: uuid.UUID, body: str) -> Message:
    stored = await store.insert_message(
        conn,
        message_id=uuid.uuid4(),
        conversation_id=conversation_id,
        sender_id=None,
        sender_role="system",
        client_id=None,
        kind="system",
        body=body,
        attachments=[],
        private=False,
        system=True,
    )
    assert stored is not None  # system messages bypass the write checks
    return stored[0]


async def _locked(conn: Conn, conversation_id: uuid.UUID) -> Conversation:
    conversation = await store.lock_conversation(conn, conversation_id)
    if conversation is None or conversation.kind != "support":
        raise NotFound("no such support conversation", code="conversation_not_found")
    return conversation


def _require_agent(user: Principal) -> None:
    if user.role not in AGENT_ROLES:
        raise Forbidden("only support agents can do this", code="role_forbidden")


async def pick(pool: asyncpg.Pool, agent: Principal, conversation_id: uuid.UUID) -> ConversationChange:
    """An agent takes a queued conversation, regardless of their capacity."""
    _require_agent(agent)
    async with pool.acquire() as conn, conn.transaction():
        conversation = await _locked(conn, conversation_id)
        if conversation.status != "queued":
            raise Conflict("the conversation is not waiting in the queue", code="not_queued")
        return await _assign(conn, conversation_id, agent.user_id, agent.role, "picked up the conversation")


async def transfer(
    pool: asyncpg.Pool, agent: Principal, conversation_id: uuid.UUID, to_agent_id: str, to_role: str
) -> ConversationChange:
    """The assigned agent (or an admin) hands the conversation to another agent."""
    _require_agent(agent)
    async with pool.acquire() as conn, conn.transaction():
        conversation = await _locked(conn, conversation_id)
        if conversation.status != "assigned":
            raise Conflict("only an assigned conversation can be transferred", code="not_assigned")
        if not conversation.assigned_to(agent.user_id, agent.role) and agent.role != "admin":
            raise Forbidden("the conversation is assigned to another agent", code="not_your_conversation")
        if conversation.assigned_to(to_agent_id, to_role):
            raise Conflict("the conversation is already assigned to that agent", code="same_agent")
        previous = None
        if conversation.assigned_agent_id is not None and conversation.assigned_agent_role is not None:
            previous = Member(conversation.assigned_agent_id, conversation.assigned_agent_role)
            await store.deactivate_member(conn, conversation_id, previous.user_id, previous.role)
        return await _assign(
            conn,
            conversation_id,
            to_agent_id,
            to_role,
            f"took over from {conversation.assigned_agent_id}",
            previous=previous,
        )


async def resolve(pool: asyncpg.Pool, agent: Principal, conversation_id: uuid.UUID) -> ConversationChange:
    _require_agent(agent)
    async with pool.acquire() as conn, conn.transaction():
        conversation = await _locked(conn, conversation_id)
        if conversation.status == "resolved":
            raise Conflict("the conversation is already resolved", code="already_resolved")
        mine = conversation.status != "assigned" or conversation.assigned_to(agent.user_id, agent.role)
        if not mine and agent.role != "admin":
            raise Forbidden("the conversation is assigned to another agent", code="not_your_conversation")
        note = await _system_message(conn, conversation_id, f"resolved by {agent.user_id}")
        conversation = await store.set_status(conn, conversation_id, "resolved")
        members = await store.active_members(conn, conversation_id)
        return ConversationChange(conversation, members, note)


async def reopen(pool: asyncpg.Pool, agent: Principal, conversation_id: uuid.UUID) -> ConversationChange:
    """Reopen a resolved conversation, assigned to the reopening agent."""
    _require_agent(agent)
    try:
        async with pool.acquire() as conn, conn.transaction():
            conversation = await _locked(conn, conversation_id)
            if conversation.status != "resolved":
                raise Conflict("only a resolved conversation can be reopened", code="not_resolved")
            return await _assign(
                conn, conversation_id, agent.user_id, agent.role, "reopened the conversation"
            )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            "the customer already has another open support conversation",
            code="customer_has_open_conversation",
        ) from None


async def rate(
    pool: asyncpg.Pool, customer: Principal, conversation_id: uuid.UUID, score: int, comment: str | None
) -> None:
    """Customer satisfaction (1-5), once, after the conversation is resolved."""
    if await store.rate(pool, conversation_id, customer.user_id, score, comment):
        return
    conversation = await store.get_conversation(pool, conversation_id)
    if conversation is None or conversation.customer_id != customer.user_id or conversation.kind != "support":
        raise NotFound("no such support conversation", code="conversation_not_found")
    if conversation.status != "resolved":
        raise Conflict("rate the conversation once it is resolved", code="not_resolved")
    raise Conflict("this conversation has already been rated", code="csat_already_given")


async def queue_positions(pool: asyncpg.Pool) -> list[tuple[Conversation, int]]:
    return [(c, i) for i, c in enumerate(await store.queued(pool), start=1)]
