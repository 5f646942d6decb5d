"""SQL for conversations, members and messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub import jsoncodec
from hub.chat.models import Conversation, Member, Message
from hub.storage.db import Conn, Executor

# Serialises support assignment across hub nodes; a transaction-scoped advisory lock is released
# by commit or rollback, so a crashed node never leaves it held.
ASSIGNMENT_LOCK_KEY = 0x68756222

_CONVERSATION_COLUMNS = """id, kind, customer_id, booking_id, worker_id, status, assigned_agent_id,
    assigned_agent_role, queued_at, read_only_after, last_seq, last_message_at, csat_score, created_at"""
_MESSAGE_COLUMNS = """id, conversation_id, seq, sender_id, sender_role, client_id, kind, body, attachments,
    private, created_at"""


def conversation_from(row: asyncpg.Record) -> Conversation:
    return Conversation(
        id=row["id"],
        kind=row["kind"],
        customer_id=row["customer_id"],
        booking_id=row["booking_id"],
        worker_id=row["worker_id"],
        status=row["status"],
        assigned_agent_id=row["assigned_agent_id"],
        assigned_agent_role=row["assigned_agent_role"],
        queued_at=row["queued_at"],
        read_only_after=row["read_only_after"],
        last_seq=row["last_seq"],
        last_message_at=row["last_message_at"],
        csat_score=row["csat_score"],
        created_at=row["created_at"],
    )


def message_from(row: asyncpg.Record) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        sender_id=row["sender_id"],
        sender_role=row["sender_role"],
        client_id=row["client_id"],
        kind=row["kind"],
        body=row["body"],
        attachments=row["attachments"],
        private=row["private"],
        created_at=row["created_at"],
    )


def _members_from(encoded: Sequence[str]) -> list[Member]:
    # "role:user_id"; roles never contain a colon, user ids may.
    return [Member(user_id=e.split(":", 1)[1], role=e.split(":", 1)[0]) for e in encoded]


async def get_conversation(conn: Executor, conversation_id: uuid.UUID) -> Conversation | None:
    row = await conn.fetchrow(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = $1", conversation_id
    )
    return None if row is None else conversation_from(row)


async def heads(db: Executor, conversation_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """``id, kind, customer_id, worker_id, last_seq`` of each conversation that exists: enough to
    check who may see it and whether anything is new, without loading it."""
    return await db.fetch(
        """SELECT id, kind, customer_id, worker_id, last_seq FROM conversations
            WHERE id = ANY($1::uuid[])""",
        list(conversation_ids),
    )


async def lock_conversation(conn: Conn, conversation_id: uuid.UUID) -> Conversation | None:
    row = await conn.fetchrow(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 FOR UPDATE", conversation_id
    )
    return None if row is None else conversation_from(row)


async def active_members(conn: Executor, conversation_id: uuid.UUID) -> list[Member]:
    rows = await conn.fetch(
        "SELECT user_id, role FROM conversation_members WHERE conversation_id = $1 AND active",
        conversation_id,
    )
    return [Member(r["user_id"], r["role"]) for r in rows]


async def insert_message(
    conn: Executor,
    *,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    sender_id: str | None,
    sender_role: str,
    client_id: str | None,
    kind: str,
    body: str,
    attachments: list[dict[str, Any]],
    private: bool,
    system: bool = False,
) -> tuple[Message, list[Member]] | None:
    """Allocate the next seq and store the message in one statement (atomic on its own).

    Returns None when the sender may not write there (not a member, resolved, read-only).
    Raises ``asyncpg.UniqueViolationError`` when ``client_id`` was used before by this sender.
    The sender is (``sender_id``, ``sender_role``): membership and assignment match both.
    """
    row = await conn.fetchrow(
        f"""
        WITH conv AS (
            UPDATE conversations c
               SET last_seq = c.last_seq + 1, last_message_at = now()
             WHERE c.id = $1
               AND ($10 OR (
                       c.status <> 'resolved'
                   AND (c.read_only_after IS NULL OR now() < c.read_only_after)
                   AND (EXISTS (SELECT 1 FROM conversation_members m
                                 WHERE m.conversation_id = c.id AND m.user_id = $3 AND m.role = $4
                                   AND m.active)
                        OR $4 = 'admin'
                        OR ($4 = 'support'
                            AND (c.kind = 'booking' OR $9
                                 OR (c.assigned_agent_id = $3 AND c.assigned_agent_role = $4))))))
         RETURNING c.id, c.last_seq
        ), msg AS (
            INSERT INTO messages ({_MESSAGE_COLUMNS})
            SELECT $2, conv.id, conv.last_seq, $3, $4, $5, $6, $7, $8, $9, now() FROM conv
         RETURNING {_MESSAGE_COLUMNS}
        ), me AS (
            INSERT INTO conversation_members AS m
                   (conversation_id, user_id, role, last_read_seq, last_delivered_seq)
            SELECT msg.conversation_id, msg.sender_id, msg.sender_role, msg.seq, msg.seq
              FROM msg WHERE msg.sender_id IS NOT NULL
            ON CONFLICT (conversation_id, user_id, role) DO UPDATE
               SET last_read_seq = GREATEST(m.last_read_seq, excluded.last_read_seq),
                   last_delivered_seq = GREATEST(m.last_delivered_seq, excluded.last_delivered_seq),
                   active = true
        )
        SELECT msg.*,
               ARRAY(SELECT role || ':' || user_id FROM conversation_members
                      WHERE conversation_id = $1 AND active) AS members
          FROM msg
        """,
        conversation_id,
        message_id,
        sender_id,
        sender_role,
        client_id,
        kind,
        body,
        attachments,
        private,
        system,
    )
    if row is None:
        return None
    members = _members_from(row["members"])
    if sender_id is not None and Member(sender_id, sender_role) not in members:
        members.append(Member(sender_id, sender_role))  # joined in this very statement
    return message_from(row), members


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A person's text message to store (``insert_messages``)."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    sender_id: str
    sender_role: str
    client_id: str
    body: str
    attachments: list[dict[str, Any]]
    private: bool


# One message's outcome: (message, recipients, duplicate); None when the sender may not write there.
# A duplicate is the original message, with no recipients: it is not sent again.
Written = tuple[Message, list[Member], bool] | None

# $1 in id order; by key, one probe each, as ``locked`` below.
_LOCK_CONVERSATIONS = """SELECT 1 FROM unnest($1::uuid[]) AS k(id)
 CROSS JOIN LATERAL (SELECT 1 FROM conversations WHERE id = k.id LIMIT 1 FOR UPDATE) l"""

# Each message is checked exactly as ``insert_message`` checks it. Arrival order is ``ord``: seqs
# follow it, the first of several sends with one client_id is the one stored, and a sender whose
# earlier message in the batch is stored counts as a member for the later ones (that message made
# them one, as it would have one statement earlier). ``{on_conflict}`` is filled in below.
_INSERT_MESSAGES_TEMPLATE = f"""
WITH input AS (
    SELECT * FROM unnest($1::int[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::bool[])
        AS t(ord, conversation_id, id, sender_id, sender_role, client_id, body, attachments, private)
), checked AS (
    SELECT i.*,
           before.id AS before_id,
           first_value(i.id) OVER (PARTITION BY i.conversation_id, i.sender_id, i.sender_role, i.client_id
                                   ORDER BY i.ord) AS first_id,
           COALESCE(c.status <> 'resolved'
               AND (c.read_only_after IS NULL OR now() < c.read_only_after)
               AND (member.active
                    OR i.sender_role = 'admin'
                    OR (i.sender_role = 'support'
                        AND (c.kind = 'booking' OR i.private
                             OR (c.assigned_agent_id = i.sender_id
                                 AND c.assigned_agent_role = i.sender_role)))),
               false) AS may_write
      FROM input i
      -- One index probe per message (LIMIT keeps them so), however large the tables grow.
      LEFT JOIN LATERAL (SELECT * FROM conversations WHERE id = i.conversation_id LIMIT 1) c ON true
      LEFT JOIN LATERAL (SELECT m.active FROM conversation_members m
                          WHERE m.conversation_id = i.conversation_id AND m.user_id = i.sender_id
                            AND m.role = i.sender_role AND m.active LIMIT 1) member ON true
      LEFT JOIN LATERAL (SELECT x.id FROM messages x
                          WHERE x.conversation_id = i.conversation_id AND x.sender_id = i.sender_id
                            AND x.sender_role = i.sender_role AND x.client_id = i.client_id LIMIT 1) before
             ON true
), decided AS (
    -- fresh: neither stored before nor sent earlier in the batch with the same client_id.
    SELECT ch.*,
           ch.fresh AND (ch.may_write OR COALESCE(bool_or(ch.may_write AND ch.fresh) OVER earlier, false))
           AS store
      FROM (SELECT *, before_id IS NULL AND first_id = id AS fresh FROM checked) ch
    WINDOW earlier AS (PARTITION BY ch.conversation_id, ch.sender_id, ch.sender_role ORDER BY ch.ord
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), locked AS (
    -- In id order, so that two batches never wait on each other in a cycle. One probe by key per
    -- conversation (LIMIT keeps it so): the chat writer's one plan, made on whatever the table held
    -- then (often nearly nothing), would otherwise scan it, and a scan grows with every row and
    -- with every update's dead row of a busy conversation until a vacuum.
    SELECT l.id FROM (SELECT DISTINCT conversation_id FROM decided WHERE store ORDER BY 1) k
     CROSS JOIN LATERAL (SELECT id FROM conversations WHERE id = k.conversation_id LIMIT 1 FOR UPDATE) l
), counts AS (
    SELECT d.conversation_id, count(*) AS n FROM decided d JOIN locked l ON l.id = d.conversation_id
     WHERE d.store GROUP BY d.conversation_id
), bumped AS (
    -- Checked again on the row as it is once locked, as insert_message's UPDATE does: a
    -- conversation resolved meanwhile takes none of these messages, and uses no seq.
    UPDATE conversations c SET last_seq = c.last_seq + k.n, last_message_at = now()
      FROM counts k
     WHERE c.id = k.conversation_id
       AND c.id = ANY(ARRAY(SELECT conversation_id FROM counts))  -- by the primary key, never a scan
       AND c.status <> 'resolved' AND (c.read_only_after IS NULL OR now() < c.read_only_after)
 RETURNING c.id, c.last_seq - k.n AS base
), numbered AS (
    SELECT d.*, b.base + row_number() OVER (PARTITION BY d.conversation_id ORDER BY d.ord) AS seq
      FROM decided d JOIN bumped b ON b.id = d.conversation_id
     WHERE d.store
), ins AS (
    INSERT INTO messages ({_MESSAGE_COLUMNS})
    SELECT id, conversation_id, seq, sender_id, sender_role, client_id, 'text', body, attachments::jsonb,
           private, now()
      FROM numbered ORDER BY ord
    {{on_conflict}}
 RETURNING {_MESSAGE_COLUMNS}
), me AS (
    INSERT INTO conversation_members AS m
           (conversation_id, user_id, role, last_read_seq, last_delivered_seq)
    SELECT conversation_id, sender_id, sender_role, max(seq), max(seq)
      FROM ins GROUP BY conversation_id, sender_id, sender_role
    ON CONFLICT (conversation_id, user_id, role) DO UPDATE
       SET last_read_seq = GREATEST(m.last_read_seq, excluded.last_read_seq),
           last_delivered_seq = GREATEST(m.last_delivered_seq, excluded.last_delivered_seq),
           active = true
)
-- Stored now (or the same client_id's first in the batch, stored now), then stored before;
-- a message with no row here was refused. A message to store that was not comes back with no
-- message.
SELECT d.ord, d.store, {", ".join("ins." + c.strip() for c in _MESSAGE_COLUMNS.split(","))},
       CASE WHEN d.store THEN ARRAY(SELECT role || ':' || user_id FROM conversation_members
                                     WHERE conversation_id = d.conversation_id AND active) END AS members
  FROM decided d LEFT JOIN ins ON ins.id = d.first_id
 WHERE d.store OR ins.id IS NOT NULL
 UNION ALL
SELECT d.ord, false, {", ".join("x." + c.strip() for c in _MESSAGE_COLUMNS.split(","))}, NULL
  FROM decided d JOIN messages x ON x.id = d.before_id
 WHERE x.id = ANY(ARRAY(SELECT before_id FROM decided WHERE before_id IS NOT NULL))
"""


# Alone, the statement allocates seqs and checks client_ids as they were when it began: a retry
# stored by another transaction while it waited for a conversation's lock makes the insert fail
# (a unique violation, and nothing is written), as it does for ``insert_message``.
_INSERT_MESSAGES = _INSERT_MESSAGES_TEMPLATE.format(on_conflict="")
# After _LOCK_CONVERSATIONS in the same transaction, its snapshot is taken with the locks held and
# sees every message stored there: nothing can conflict, and DO NOTHING only guards the batch.
_INSERT_MESSAGES_LOCKED = _INSERT_MESSAGES_TEMPLATE.format(on_conflict="ON CONFLICT DO NOTHING")


async def insert_messages(pool: asyncpg.Pool, batch: Sequence[NewMessage]) -> list[Written]:
    """Store ``batch`` in one transaction, each message with the outcome ``insert_message``
    would have given it alone, in this order; one ``Written`` per message.

    One statement does it. If another transaction stored one of the client_ids while the
    statement waited (a retry racing its original), the batch is written again after locking
    its conversations first, in a transaction of two statements."""
    args = _batch_arguments(batch)
    try:
        rows = await pool.fetch(_INSERT_MESSAGES, *args)
    except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK_CONVERSATIONS, sorted({m.conversation_id for m in batch}))
            rows = await conn.fetch(_INSERT_MESSAGES_LOCKED, *args)
            if any(r["store"] and r["id"] is None for r in rows):
                # Cannot happen under the locks; if it did, a seq would be missing: undo the
                # batch rather than store a gap.
                raise RuntimeError("a message of a batch was not stored") from None
    return _outcomes(batch, {r["ord"]: r for r in rows})


def _batch_arguments(batch: Sequence[NewMessage]) -> list[list[Any]]:
    return [
        list(range(len(batch))),
        [m.conversation_id for m in batch],
        [m.id for m in batch],
        [m.sender_id for m in batch],
        [m.sender_role for m in batch],
        [m.client_id for m in batch],
        [m.body for m in batch],
        [jsoncodec.dumps(m.attachments) for m in batch],
        [m.private for m in batch],
    ]


def _outcomes(batch: Sequence[NewMessage], rows: dict[int, asyncpg.Record]) -> list[Written]:
    joined: dict[uuid.UUID, list[Member]] = {}  # senders who joined a conversation in this batch
    outcomes: list[Written] = []
    for ord_, message in enumerate(batch):
        row = rows.get(ord_)
        if row is None or row["id"] is None:  # refused, or its conversation was closed meanwhile
            outcomes.append(None)
        elif not row["store"]:
            outcomes.append((message_from(row), [], True))
        else:
            sender = Member(message.sender_id, message.sender_role)
            senders = joined.setdefault(message.conversation_id, [])
            if sender not in senders:
                senders.append(sender)
            # As each message would have seen them alone: the members before the batch, and the
            # senders of the messages stored up to this one.
            members = _members_from(row["members"])
            members += [s for s in senders if s not in members]
            outcomes.append((message_from(row), members, False))
    return outcomes


async def find_by_client_id(
    conn: Executor, conversation_id: uuid.UUID, sender_id: str, sender_role: str, client_id: str
) -> Message | None:
    row = await conn.fetchrow(
        f"""SELECT {_MESSAGE_COLUMNS} FROM messages
             WHERE conversation_id = $1 AND sender_id = $2 AND sender_role = $3 AND client_id = $4""",
        conversation_id,
        sender_id,
        sender_role,
        client_id,
    )
    return None if row is None else message_from(row)


async def find_message(conn: Executor, message_id: uuid.UUID) -> Message | None:
    row = await conn.fetchrow(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = $1", message_id)
    return None if row is None else message_from(row)


async def history(
    conn: Executor, conversation_id: uuid.UUID, before_seq: int | None, limit: int, include_private: bool
) -> list[Message]:
    """Up to ``limit`` messages before ``before_seq`` (the latest when None), newest first."""
    rows = await conn.fetch(
        f"""SELECT {_MESSAGE_COLUMNS} FROM messages
             WHERE conversation_id = $1 AND ($2::bigint IS NULL OR seq < $2) AND (NOT private OR $4)
             ORDER BY seq DESC LIMIT $3""",
        conversation_id,
        before_seq,
        limit,
        include_private,
    )
    return [message_from(r) for r in rows]


async def messages_after(
    conn: Executor, conversation_id: uuid.UUID, after_seq: int, limit: int, include_private: bool
) -> list[Message]:
    rows = await conn.fetch(
        f"""SELECT {_MESSAGE_COLUMNS} FROM messages
             WHERE conversation_id = $1 AND seq > $2 AND (NOT private OR $4)
             ORDER BY seq LIMIT $3""",
        conversation_id,
        after_seq,
        limit,
        include_private,
    )
    return [message_from(r) for r in rows]


async def record_receipt(
    conn: Executor,
    conversation_id: uuid.UUID,
    user_id: str,
    role: str,
    delivered_seq: int,
    read_seq: int | None,
) -> tuple[int, int] | None:
    """Move the member's delivered/read marks forward (never back, never past the last seq).

    Returns (delivered_seq, read_seq) after the update, or None if the user is not a member.
    """
    row = await conn.fetchrow(
        """UPDATE conversation_members m
              SET last_delivered_seq = GREATEST(m.last_delivered_seq, LEAST($3, c.last_seq),
                                                LEAST(COALESCE($4, 0), c.last_seq)),
                  last_read_seq = GREATEST(m.last_read_seq, LEAST(COALESCE($4, 0), c.last_seq))
             FROM conversations c
            WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.role = $5 AND c.id = m.conversation_id
        RETURNING m.last_delivered_seq, m.last_read_seq""",
        conversation_id,
        user_id,
        delivered_seq,
        read_seq,
        role,
    )
    return None if row is None else (row["last_delivered_seq"], row["last_read_seq"])


async def list_for_member(
    conn: Executor, user_id: str, role: str, include_private: bool, limit: int
) -> list[tuple[Conversation, int, int, int]]:
    """The user's conversations, most recent first, with (last_read_seq, last_delivered_seq, unread).

    Unread counts only other people's text messages: system lines are not worth a badge."""
    rows = await conn.fetch(
        f"""SELECT {", ".join("c." + c.strip() for c in _CONVERSATION_COLUMNS.split(","))},
                   m.last_read_seq, m.last_delivered_seq,
                   (SELECT count(*) FROM messages x
                     WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq AND x.kind = 'text'
                       AND (x.sender_id, x.sender_role) IS DISTINCT FROM ($1, $4)
                       AND (NOT x.private OR $2)) AS unread
              FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = $1 AND m.role = $4 AND m.active
             ORDER BY c.last_message_at DESC NULLS LAST, c.created_at DESC
             LIMIT $3""",
        user_id,
        include_private,
        limit,
        role,
    )
    return [(conversation_from(r), r["last_read_seq"], r["last_delivered_seq"], r["unread"]) for r in rows]


async def member_marks(conn: Executor, user_id: str, role: str) -> dict[uuid.UUID, int]:
    """conversation id → last_read_seq for every active membership (what to replay on sync)."""
    rows = await conn.fetch(
        """SELECT conversation_id, last_read_seq FROM conversation_members
            WHERE user_id = $1 AND role = $2 AND active""",
        user_id,
        role,
    )
    return {r["conversation_id"]: r["last_read_seq"] for r in rows}


async def add_member(conn: Executor, conversation_id: uuid.UUID, user_id: str, role: str) -> None:
    await conn.execute(
        """INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, $3)
           ON CONFLICT (conversation_id, user_id, role) DO UPDATE SET active = true""",
        conversation_id,
        user_id,
        role,
    )


async def deactivate_member(conn: Executor, conversation_id: uuid.UUID, user_id: str, role: str) -> None:
    await conn.execute(
        """UPDATE conversation_members SET active = false
            WHERE conversation_id = $1 AND user_id = $2 AND role = $3""",
        conversation_id,
        user_id,
        role,
    )


# Support conversations ------------------------------------------------------------------------


async def open_support(conn: Conn, customer_id: str) -> tuple[Conversation, bool]:
    """The customer's unresolved support conversation, creating a queued one if there is none."""
    row = await conn.fetchrow(
        f"""INSERT INTO conversations (id, kind, customer_id, status, queued_at)
            VALUES ($1, 'support', $2, 'queued', now())
            ON CONFLICT (customer_id) WHERE kind = 'support' AND status <> 'resolved' DO NOTHING
            RETURNING {_CONVERSATION_COLUMNS}""",
        uuid.uuid4(),
        customer_id,
    )
    if row is not None:
        await add_member(conn, row["id"], customer_id, "customer")
        return conversation_from(row), True
    row = await conn.fetchrow(
        f"""SELECT {_CONVERSATION_COLUMNS} FROM conversations
             WHERE customer_id = $1 AND kind = 'support' AND status <> 'resolved'""",
        customer_id,
    )
    assert row is not None  # the conflicting row exists and is never deleted
    return conversation_from(row), False


async def lock_assignment(conn: Conn) -> None:
    """Serialise assignment passes across nodes until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ASSIGNMENT_LOCK_KEY)


async def next_assignment(
    conn: Conn, online_agents: Sequence[str], default_capacity: int
) -> tuple[Conversation, str] | None:
    """Inside a transaction holding ``lock_assignment``: the longest-waiting queued conversation
    and the agent to take it.

    Agents below capacity are ranked by current load, then by how long ago they were last
    assigned (round robin among equals).
    """
    conv = await conn.fetchrow(
        f"""SELECT {_CONVERSATION_COLUMNS} FROM conversations
             WHERE status = 'queued' ORDER BY queued_at, id LIMIT 1 FOR UPDATE"""
    )
    if conv is None or not online_agents:
        return None
    agent = await conn.fetchval(
        """SELECT a.agent_id
             FROM unnest($1::text[]) AS a(agent_id)
             LEFT JOIN support_agents s ON s.agent_id = a.agent_id
            CROSS JOIN LATERAL (SELECT count(*) AS load FROM conversations x
                                 WHERE x.assigned_agent_id = a.agent_id AND x.assigned_agent_role = 'support'
                                   AND x.status = 'assigned') l
            WHERE l.load < COALESCE(s.capacity, $2)
            ORDER BY l.load, s.last_assigned_at NULLS FIRST, a.agent_id
            LIMIT 1""",
        list(online_agents),
        default_capacity,
    )
    return None if agent is None else (conversation_from(conv), agent)


async def assign(conn: Conn, conversation_id: uuid.UUID, agent_id: str, agent_role: str) -> Conversation:
    row = await conn.fetchrow(
        f"""UPDATE conversations SET status = 'assigned', assigned_agent_id = $2, assigned_agent_role = $3,
                   assigned_at = now(), resolved_at = NULL
             WHERE id = $1 RETURNING {_CONVERSATION_COLUMNS}""",
        conversation_id,
        agent_id,
        agent_role,
    )
    assert row is not None
    await add_member(conn, conversation_id, agent_id, agent_role)
    if agent_role == "support":  # the round robin is among support agents; admins pick by hand
        await conn.execute(
            """INSERT INTO support_agents (agent_id, last_assigned_at) VALUES ($1, now())
               ON CONFLICT (agent_id) DO UPDATE SET last_assigned_at = now()""",
            agent_id,
        )
    return conversation_from(row)


async def set_status(
    conn: Conn, conversation_id: uuid.UUID, status: str, *, clear_agent: bool = False
) -> Conversation:
    row = await conn.fetchrow(
        f"""UPDATE conversations
               SET status = $2,
                   resolved_at = CASE WHEN $2 = 'resolved' THEN now() ELSE NULL END,
                   queued_at = CASE WHEN $2 = 'queued' THEN now() ELSE queued_at END,
                   assigned_agent_id = CASE WHEN $3 THEN NULL ELSE assigned_agent_id END,
                   assigned_agent_role = CASE WHEN $3 THEN NULL ELSE assigned_agent_role END
             WHERE id = $1 RETURNING {_CONVERSATION_COLUMNS}""",
        conversation_id,
        status,
        clear_agent,
    )
    assert row is not None
    return conversation_from(row)


async def queued(conn: Executor, limit: int = 500) -> list[Conversation]:
    rows = await conn.fetch(
        f"""SELECT {_CONVERSATION_COLUMNS} FROM conversations
             WHERE status = 'queued' ORDER BY queued_at, id LIMIT $1""",
        limit,
    )
    return [conversation_from(r) for r in rows]


async def with_queue_position(
    conn: Executor, conversation_id: uuid.UUID
) -> tuple[Conversation, int | None] | None:
    """The conversation and, while it is queued, its place in the queue (1 for the next to be
    assigned), read together in one snapshot."""
    row = await conn.fetchrow(
        f"""SELECT {_CONVERSATION_COLUMNS},
                   CASE WHEN status = 'queued' THEN
                       (SELECT count(*) FROM conversations q
                         WHERE q.status = 'queued' AND (q.queued_at, q.id) <= (c.queued_at, c.id))
                   END AS position
              FROM conversations c WHERE id = $1""",
        conversation_id,
    )
    if row is None:
        return None
    position = row["position"]
    return conversation_from(row), None if position is None else int(position)


async def rate(
    conn: Executor, conversation_id: uuid.UUID, customer_id: str, score: int, comment: str | None
) -> bool:
    status = await conn.execute(
        """UPDATE conversations SET csat_score = $3, csat_comment = $4, csat_at = now()
            WHERE id = $1 AND customer_id = $2 AND kind = 'support' AND status = 'resolved'
              AND csat_score IS NULL""",
        conversation_id,
        customer_id,
        score,
        comment,
    )
    return status.endswith(" 1")


async def set_agent_capacity(conn: Executor, agent_id: str, capacity: int | None) -> None:
    await conn.execute(
        """INSERT INTO support_agents (agent_id, capacity) VALUES ($1, $2)
           ON CONFLICT (agent_id) DO UPDATE SET capacity = excluded.capacity""",
        agent_id,
        capacity,
    )


# Booking conversations ------------------------------------------------------------------------


async def upsert_booking_conversation(
    conn: Executor, booking_id: str, customer_id: str, worker_id: str | None
) -> Conversation:
    """The booking's conversation, created on first use, with ``worker_id`` as its worker."""
    row = await conn.fetchrow(
        f"""INSERT INTO conversations (id, kind, customer_id, booking_id, worker_id, status)
            VALUES ($1, 'booking', $2, $3, $4, 'open')
            ON CONFLICT (booking_id) DO UPDATE SET worker_id = excluded.worker_id
            RETURNING {_CONVERSATION_COLUMNS}""",
        uuid.uuid4(),
        customer_id,
        booking_id,
        worker_id,
    )
    assert row is not None
    return conversation_from(row)


async def deactivate_other_workers(conn: Executor, conversation_id: uuid.UUID, worker_id: str | None) -> None:
    await conn.execute(
        """UPDATE conversation_members SET active = false
            WHERE conversation_id = $1 AND role = 'worker' AND user_id IS DISTINCT FROM $2""",
        conversation_id,
        worker_id,
    )


async def close_booking_conversation(conn: Executor, booking_id: str, read_only_after_seconds: float) -> None:
    await conn.execute(
        """UPDATE conversations SET read_only_after = now() + make_interval(secs => $2)
            WHERE booking_id = $1""",
        booking_id,
        read_only_after_seconds,
    )
