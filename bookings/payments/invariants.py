"""The ledger's invariants, checked against what PostgreSQL holds (``python -m hub ledger-check``):
every transaction balanced; no booking refunded (or earned) beyond what was paid for it, refunds in
flight included; no refund settled that was not asked for; no worker paid out beyond what they
earned, payouts in flight included; no payout paid or released that was not set aside; no
package giving its visits more than was paid for it."""

from __future__ import annotations

from bookings.storage import ledger as ledger_store
from hub.storage.db import Executor


async def violations(db: Executor) -> list[str]:
    """One line per broken invariant; empty for a healthy ledger."""
    found = [
        f"transaction {row['reference']} does not balance (sum {row['total']})"
        for row in await ledger_store.unbalanced_transactions(db)
    ]
    found += [
        f"booking {row['booking_id']}: refunded {row['refunded']} of {row['paid'] or 0} paid"
        for row in await ledger_store.refunds_above_payments(db)
    ]
    found += [
        f"{row['account']} is {row['total']} above zero: more went out than came in"
        for prefix in ("booking:", "worker:", "refunds:pending", "payouts:pending", "package:")
        for row in await ledger_store.overdrawn(db, prefix)
    ]
    return found
