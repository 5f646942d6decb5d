"""The settlement use cases of one process: commission, income, payout settings, statements and
payouts. Each is one transaction; a payout's transfer is asked for after the approval commits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from bookings.payments import commission
from bookings.payments.commission import CommissionRate
from bookings.settlement import accounts, payouts, periods, statements
from bookings.settlement import income as earned
from bookings.settlement.accounts import PayoutSettings, PayoutSettingsIn
from bookings.settlement.config import SettlementConfig
from bookings.settlement.payouts import PayoutList, PayoutView
from bookings.settlement.transfers import ByHand, PayoutProvider, TransferStatus
from bookings.storage import payouts as payout_store
from bookings.storage import statements as statement_store
from hub import cursors
from hub.errors import Conflict
from hub.storage.db import Conn, Executor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SettlementRun:
    period: str
    statements: int  # made by this run
    payouts: int  # asked for by the statements this run made


class Settlement:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: SettlementConfig,
        timezone: str,
        providers: Mapping[str, PayoutProvider] | None = None,
    ) -> None:
        self.pool = pool
        self.config = config
        self.timezone = timezone
        self.providers = dict(providers or {})  # by payout method; the rest are paid by hand

    def today(self) -> date:
        return datetime.now(UTC).astimezone(ZoneInfo(self.timezone)).date()

    # Commission ----------------------------------------------------------------------------------

    async def commission(self, db: Executor | None = None) -> CommissionRate:
        return await commission.current(db or self.pool, self.config.commission_pct)

    async def set_commission(self, rate: CommissionRate, admin_id: str) -> CommissionRate:
        return await commission.change(self.pool, rate, admin_id)

    # Income --------------------------------------------------------------------------------------

    async def income(self, worker_id: str, query: earned.IncomeQuery) -> earned.IncomeList:
        first, last = earned.local_range(query.start, query.to, self.today(), 30)
        return await earned.listing(
            self.pool, worker_id, self.timezone, first, last, query.limit, query.cursor
        )

    async def income_summary(self, worker_id: str, query: earned.SummaryQuery) -> earned.IncomeSummary:
        default_days = {"day": 30, "week": 7 * 12, "month": 365}[query.period]
        first, last = earned.local_range(query.start, query.to, self.today(), default_days)
        return await earned.summary(self.pool, worker_id, self.timezone, query.period, first, last)

    async def balance(self, worker_id: str) -> earned.Balance:
        return await earned.balance(self.pool, worker_id)

    async def statements(self, worker_id: str, limit: int, cursor: str | None) -> statements.StatementList:
        return await statements.of_worker(self.pool, worker_id, limit, cursor)

    # Payout settings -----------------------------------------------------------------------------

    async def payout_settings(self, worker_id: str) -> PayoutSettings:
        return await accounts.get(self.pool, worker_id, self.config.default_period)

    async def set_payout_settings(
        self, worker_id: str, wanted: PayoutSettingsIn, actor: str
    ) -> PayoutSettings:
        return await accounts.put(self.pool, worker_id, wanted, actor)

    # Payouts -------------------------------------------------------------------------------------

    async def request_payout(self, conn: Conn, worker_id: str, amount: int, actor: str) -> PayoutView:
        """In the caller's transaction (an Idempotency-Key's)."""
        row = await payouts.request(conn, worker_id, amount, actor)
        return await payouts.view(conn, row["id"])

    async def payouts(self, query: payouts.PayoutQuery, worker_id: str | None = None) -> PayoutList:
        offset = cursors.offset(query.cursor, "payouts")
        rows = await payout_store.listing(
            self.pool,
            worker_id=worker_id or query.worker_id,
            statuses=query.status,
            limit=query.limit + 1,
            offset=offset,
        )
        rows, next_cursor = cursors.offset_page("payouts", rows, query.limit, offset)
        return PayoutList(items=await payouts.views(self.pool, rows), next_cursor=next_cursor)

    async def approve(self, payout_id: uuid.UUID, actor: str) -> PayoutView:
        """Approved, then sent through the method's transfer provider (by hand when there is none)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await payouts.approve(conn, payout_id, actor)
        await self.send(row)
        return await payouts.view(self.pool, payout_id)

    async def send(self, row: asyncpg.Record) -> None:
        provider = self.providers.get(row["method"], ByHand())
        result = await provider.transfer(
            row["out_transfer_no"], row["amount_cents"], row["method"], dict(row["account"]), "payout"
        )
        if result.status in (TransferStatus.BY_HAND, TransferStatus.PROCESSING):
            return  # finance records it, or the provider answers later
        async with self.pool.acquire() as conn, conn.transaction():
            if result.status == TransferStatus.SUCCEEDED:
                await payouts.paid(conn, row["id"], "system", result.transfer_ref or "", provider.cash_method)
            else:
                await payouts.fail(conn, row["id"], "system", result.error or "refused by the provider")

    async def reject(self, payout_id: uuid.UUID, actor: str, reason: str) -> PayoutView:
        async with self.pool.acquire() as conn, conn.transaction():
            await payouts.reject(conn, payout_id, actor, reason)
        return await payouts.view(self.pool, payout_id)

    async def paid_by_hand(self, payout_id: uuid.UUID, actor: str, transfer_ref: str) -> PayoutView:
        async with self.pool.acquire() as conn, conn.transaction():
            await payouts.paid(conn, payout_id, actor, transfer_ref, ByHand.cash_method)
        return await payouts.view(self.pool, payout_id)

    async def failed(self, payout_id: uuid.UUID, actor: str, reason: str) -> PayoutView:
        async with self.pool.acquire() as conn, conn.transaction():
            await payouts.fail(conn, payout_id, actor, reason)
        return await payouts.view(self.pool, payout_id)

    # Settlement runs -----------------------------------------------------------------------------

    async def settle(self, period: periods.Period) -> SettlementRun:
        """A statement for every worker settled by ``period``'s kind with earnings to count."""
        if period.end(self.timezone) > datetime.now(UTC):
            raise Conflict(
                f"{period.key} has not ended yet", code="period_not_ended", details={"period": period.key}
            )
        made = asked = 0
        workers = await statement_store.workers_to_settle(
            self.pool, period.end(self.timezone), period.kind, self.config.default_period
        )
        for worker_id in workers:
            async with self.pool.acquire() as conn, conn.transaction():
                settled = await statements.settle_worker(conn, worker_id, period, self.timezone)
            if settled is not None:
                made += 1
                asked += settled.payout_id is not None
        if made:
            log.info("settled %s: %d statements, %d payouts asked for", period.key, made, asked)
        return SettlementRun(period.key, made, asked)

    async def settle_due(self) -> None:
        """The timer: the last ended week and month, for the workers settled by each (every node
        runs it; a statement made by one is found by the others)."""
        today = self.today()
        kinds: tuple[periods.Kind, ...] = ("weekly", "monthly")
        for kind in kinds:
            await self.settle(periods.last_ended(kind, today))
