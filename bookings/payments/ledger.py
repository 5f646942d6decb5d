"""The ledger: every movement of money as lines that sum to zero (double entry), in fen.

A positive amount debits an account, a negative one credits it. The accounts:

- ``cash:<method>``: money held at a provider (``wechat``, ``alipay``, ``card``) or by hand (``manual``);
- ``booking:<id>``: paid for a booking and not yet earned or given back; never above zero (more
  refunded or earned than paid);
- ``refunds:pending``: refunds asked of a provider and not yet confirmed (or refused);
- ``worker:<id>``: what the platform owes a worker; never above zero (more paid out than earned);
- ``payouts:pending``: payouts requested of what workers are owed and not yet paid (or released);
- ``platform:revenue``: commission and cancellation fees; ``platform:promotions``: discounts the
  platform funds; ``platform:complaints``: what complaints cost the platform (a refund of money a
  booking no longer held: earned at completion, or kept as a cancellation fee);
- ``package:<id>``: paid for a package order and not yet moved to the bookings its visits cover;
  never above zero.

Each posting is a pure value built here and written by ``bookings.storage.ledger.post`` in the
caller's transaction, with the state change it records and its outbox event. The database refuses
one that does not balance.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REVENUE = "platform:revenue"
PROMOTIONS = "platform:promotions"
REFUNDS_PENDING = "refunds:pending"
PAYOUTS_PENDING = "payouts:pending"
COMPLAINTS = "platform:complaints"


class Kind(enum.StrEnum):
    PAYMENT = "payment"
    REFUND_REQUESTED = "refund_requested"
    REFUND = "refund"
    REFUND_FAILED = "refund_failed"
    CANCELLATION_FEE = "cancellation_fee"
    COMPLETION = "completion"
    PAYOUT = "payout"
    PAYOUT_REQUESTED = "payout_requested"
    PAYOUT_RELEASED = "payout_released"
    PACKAGE_VISIT = "package_visit"
    PACKAGE_VISIT_RETURNED = "package_visit_returned"
    COMPLAINT_COVER = "complaint_cover"


def cash(method: str) -> str:
    return f"cash:{method}"


def booking_account(booking_id: uuid.UUID) -> str:
    return f"booking:{booking_id}"


def worker_account(worker_id: str) -> str:
    return f"worker:{worker_id}"


def package_account(order_id: uuid.UUID) -> str:
    return f"package:{order_id}"


class Unbalanced(ValueError):
    """A posting whose lines do not sum to zero: a bug in the code that built it."""


@dataclass(frozen=True, slots=True)
class Posting:
    kind: Kind
    reference: str  # unique: the same movement is never recorded twice
    lines: Mapping[str, int]  # account -> amount in fen; zero lines are dropped
    booking_id: uuid.UUID | None = None
    customer_id: str | None = None
    worker_id: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def __post_init__(self) -> None:
        lines = {account: amount for account, amount in self.lines.items() if amount != 0}
        if sum(lines.values()) != 0:
            raise Unbalanced(f"{self.kind} {self.reference} does not balance: {lines}")
        object.__setattr__(self, "lines", lines)

    def row(self) -> dict[str, Any]:
        """As ``bookings.storage.ledger.post`` takes it."""
        return {
            "transaction_id": self.id,
            "kind": self.kind.value,
            "reference": self.reference,
            "lines": self.lines,
            "booking_id": self.booking_id,
            "customer_id": self.customer_id,
            "worker_id": self.worker_id,
        }


def payment(booking_id: uuid.UUID, customer_id: str, method: str, amount: int, reference: str) -> Posting:
    """Money received for a booking: held against it until it is earned or given back."""
    return Posting(
        Kind.PAYMENT,
        f"payment:{reference}",
        {cash(method): amount, booking_account(booking_id): -amount},
        booking_id=booking_id,
        customer_id=customer_id,
    )


def refund_requested(booking_id: uuid.UUID, customer_id: str, amount: int, reference: str) -> Posting:
    """A refund is asked for: what is held for the booking is set aside, so that no other refund
    can count on it while the provider answers."""
    return Posting(
        Kind.REFUND_REQUESTED,
        f"refund_requested:{reference}",
        {booking_account(booking_id): amount, REFUNDS_PENDING: -amount},
        booking_id=booking_id,
        customer_id=customer_id,
    )


def refund(booking_id: uuid.UUID, customer_id: str, method: str, amount: int, reference: str) -> Posting:
    """The provider gave the money back."""
    return Posting(
        Kind.REFUND,
        f"refund:{reference}",
        {REFUNDS_PENDING: amount, cash(method): -amount},
        booking_id=booking_id,
        customer_id=customer_id,
    )


def refund_failed(booking_id: uuid.UUID, customer_id: str, amount: int, reference: str) -> Posting:
    """The provider could not give it back: the money is held for the booking again."""
    return Posting(
        Kind.REFUND_FAILED,
        f"refund_failed:{reference}",
        {REFUNDS_PENDING: amount, booking_account(booking_id): -amount},
        booking_id=booking_id,
        customer_id=customer_id,
    )


def complaint_cover(booking_id: uuid.UUID, customer_id: str, amount: int, reference: str) -> Posting:
    """A complaint's refund of money the booking no longer holds: the platform puts it back into
    the booking's account, to leave by the usual refund. What the worker earned is not touched."""
    return Posting(
        Kind.COMPLAINT_COVER,
        f"complaint_cover:{reference}",
        {COMPLAINTS: amount, booking_account(booking_id): -amount},
        booking_id=booking_id,
        customer_id=customer_id,
    )


def cancellation_fee(booking_id: uuid.UUID, customer_id: str, fee: int) -> Posting:
    """The fee a late cancellation keeps, earned by the platform; the rest stays to be refunded."""
    return Posting(
        Kind.CANCELLATION_FEE,
        f"cancellation_fee:{booking_id}",
        {booking_account(booking_id): fee, REVENUE: -fee},
        booking_id=booking_id,
        customer_id=customer_id,
    )


def completion(
    booking_id: uuid.UUID, customer_id: str, worker_id: str, paid: int, discount: int, worker_pay: int
) -> Posting:
    """A completed booking is earned: the worker's pay becomes owed to them, the platform keeps the
    rest as commission, and pays for the discount it gave (``discount``) from its promotions."""
    return Posting(
        Kind.COMPLETION,
        f"completion:{booking_id}",
        {
            booking_account(booking_id): paid,
            PROMOTIONS: discount,
            worker_account(worker_id): -worker_pay,
            REVENUE: worker_pay - paid - discount,
        },
        booking_id=booking_id,
        customer_id=customer_id,
        worker_id=worker_id,
    )


def payout_requested(worker_id: str, amount: int, reference: str) -> Posting:
    """A payout is asked for: what the worker is owed is set aside, so that no other payout can
    count on it while finance decides."""
    return Posting(
        Kind.PAYOUT_REQUESTED,
        f"payout_requested:{reference}",
        {worker_account(worker_id): amount, PAYOUTS_PENDING: -amount},
        worker_id=worker_id,
    )


def payout(worker_id: str, method: str, amount: int, reference: str) -> Posting:
    """Money set aside for a payout leaves: paid to the worker."""
    return Posting(
        Kind.PAYOUT,
        f"payout:{reference}",
        {PAYOUTS_PENDING: amount, cash(method): -amount},
        worker_id=worker_id,
    )


def payout_released(worker_id: str, amount: int, reference: str) -> Posting:
    """A payout rejected or failed: what was set aside is owed to the worker again."""
    return Posting(
        Kind.PAYOUT_RELEASED,
        f"payout_released:{reference}",
        {PAYOUTS_PENDING: amount, worker_account(worker_id): -amount},
        worker_id=worker_id,
    )


def package_payment(
    order_id: uuid.UUID, customer_id: str, method: str, amount: int, reference: str
) -> Posting:
    """Money received for a package order: held against it until its visits are used."""
    return Posting(
        Kind.PAYMENT,
        f"payment:{reference}",
        {cash(method): amount, package_account(order_id): -amount},
        customer_id=customer_id,
    )


def package_visit(order_id: uuid.UUID, booking_id: uuid.UUID, customer_id: str, amount: int) -> Posting:
    """A visit of the package pays a booking: its share moves to the booking, to be earned at
    completion like any payment. Once per booking."""
    return Posting(
        Kind.PACKAGE_VISIT,
        f"package_visit:{booking_id}",
        {package_account(order_id): amount, booking_account(booking_id): -amount},
        booking_id=booking_id,
        customer_id=customer_id,
    )


def package_visit_returned(
    order_id: uuid.UUID, booking_id: uuid.UUID, customer_id: str, amount: int
) -> Posting:
    """The booking was cancelled before service: what it still holds goes back to the package."""
    return Posting(
        Kind.PACKAGE_VISIT_RETURNED,
        f"package_visit_returned:{booking_id}",
        {booking_account(booking_id): amount, package_account(order_id): -amount},
        booking_id=booking_id,
        customer_id=customer_id,
    )
