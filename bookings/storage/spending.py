"""SQL for a customer's spending, read from the ledger: what they paid, got back and were charged."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from hub.storage.db import Executor

# The ledger transactions a customer sees: money in (payment), money back (refund), money kept
# (cancellation_fee). Each one's amount is the customer's side of it: the cash line of a payment or
# a refund, the revenue line of a fee.
SEEN = ["payment", "refund", "cancellation_fee"]


async def movements(
    db: Executor, customer_id: str, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """The customer's movements, newest first, after ``after`` (created_at, id) when given."""
    at, transaction_id = after or (None, None)
    return await db.fetch(
        """SELECT t.id, t.kind, t.booking_id, t.created_at AS at, p.package_order_id,
                  (SELECT substr(l.account, 6) FROM ledger_lines l
                    WHERE l.transaction_id = t.id AND l.account LIKE 'cash:%' LIMIT 1) AS method,
                  (SELECT abs(sum(l.amount_cents))::bigint FROM ledger_lines l
                    WHERE l.transaction_id = t.id
                      AND (l.account LIKE 'cash:%'
                           OR (t.kind = 'cancellation_fee' AND l.account = 'platform:revenue')))
                      AS amount_cents
             FROM ledger_transactions t
             LEFT JOIN payments p ON t.kind = 'payment' AND p.out_trade_no = substr(t.reference, 9)
            WHERE t.customer_id = $1 AND t.kind = ANY($2::text[])
              AND ($3::timestamptz IS NULL OR (t.created_at, t.id) < ($3, $5::uuid))
            ORDER BY t.created_at DESC, t.id DESC
            LIMIT $4""",
        customer_id,
        SEEN,
        at,
        limit,
        transaction_id,
    )


async def totals(db: Executor, customer_id: str) -> asyncpg.Record:
    """Everything the customer ever paid, got back, and was charged in fees."""
    row: asyncpg.Record | None = await db.fetchrow(
        """SELECT coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'payment' AND cash), 0)
                      ::bigint AS paid_cents,
                  -coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'refund' AND cash), 0)
                      ::bigint AS refunded_cents,
                  -coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'cancellation_fee'
                                                          AND l.account = 'platform:revenue'), 0)
                      ::bigint AS fees_cents
             FROM ledger_transactions t JOIN ledger_lines l ON l.transaction_id = t.id,
                  LATERAL (SELECT l.account LIKE 'cash:%' AS cash) AS line
            WHERE t.customer_id = $1""",
        customer_id,
    )
    assert row is not None  # an aggregate always answers one row
    return row


async def bookings(db: Executor, customer_id: str, booking_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The price breakdown of the customer's bookings among ``booking_ids``."""
    return await db.fetch(
        """SELECT b.id, b.service_id, s.name_en AS service_name_en, s.name_zh AS service_name_zh,
                  b.status, b.total_cents, b.price
             FROM bookings b JOIN services s ON s.id = b.service_id
            WHERE b.customer_id = $1 AND b.id = ANY($2::uuid[])
            ORDER BY b.created_at DESC""",
        customer_id,
        booking_ids,
    )
