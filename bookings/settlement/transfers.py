"""How an approved payout reaches the worker: a ``PayoutProvider``.

A provider sends money from the platform's account at a payment provider (WeChat Pay's transfer to
a user's balance, Alipay's single transfer, a bank's payment file) and answers at once, later, or
not at all. Only the by-hand provider exists today: finance pays from the bank and records the
transfer (``POST /api/v1/admin/payouts/{id}/paid``). A real one must also be asked again with the
same ``out_transfer_no`` when it did not answer, and apply its notifies; neither exists yet.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass


class TransferStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"  # the money is with the worker
    PROCESSING = "processing"  # accepted; the provider answers later
    FAILED = "failed"  # refused: the payout is released back to the worker's balance
    BY_HAND = "by_hand"  # nobody sent it: finance pays it and records it


@dataclass(frozen=True, slots=True)
class TransferResult:
    status: TransferStatus
    transfer_ref: str | None = None
    error: str | None = None


class PayoutProvider(abc.ABC):
    cash_method: str  # the ledger's cash account the money leaves from (``cash:<method>``)

    @abc.abstractmethod
    async def transfer(
        self,
        out_transfer_no: str,
        amount_cents: int,
        method: str,
        account: Mapping[str, str | None],
        reason: str,
    ) -> TransferResult:
        """Send ``amount_cents`` to ``account`` once per ``out_transfer_no`` (asking again with the
        same number must never pay twice)."""


class ByHand(PayoutProvider):
    """Finance pays from the bank and records it; the money leaves ``cash:manual``."""

    cash_method = "manual"

    async def transfer(
        self,
        out_transfer_no: str,
        amount_cents: int,
        method: str,
        account: Mapping[str, str | None],
        reason: str,
    ) -> TransferResult:
        return TransferResult(TransferStatus.BY_HAND)
