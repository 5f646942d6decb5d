"""The conversation of a booking: its customer and whichever worker has the job, for an
extension that books jobs. Every other party reaches chat through these functions, never
through ``hub.storage``."""

from __future__ import annotations

from hub.chat.models import Conversation
from hub.storage import chat as store
from hub.storage.db import Conn, Executor


async def open_booking_conversation(
    conn: Conn, booking_id: str, customer_id: str, worker_id: str | None
) -> Conversation:
    """Create or update the booking's conversation in the caller's transaction: the customer is
    a member, ``worker_id`` (None while the job has no worker) is the only active worker, and a
    worker who lost the job no longer receives its messages."""
    conversation = await store.upsert_booking_conversation(conn, booking_id, customer_id, worker_id)
    await store.add_member(conn, conversation.id, customer_id, "customer")
    await store.deactivate_other_workers(conn, conversation.id, worker_id)
    if worker_id is not None:
        await store.add_member(conn, conversation.id, worker_id, "worker")
    return conversation


async def close_booking_conversation(conn: Executor, booking_id: str, read_only_after_seconds: float) -> None:
    """The job is over or off: the conversation turns read-only after ``read_only_after_seconds``
    (time for a last word about the job)."""
    await store.close_booking_conversation(conn, booking_id, read_only_after_seconds)
