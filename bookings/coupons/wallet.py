"""A customer's wallet of coupons: claiming (limits enforced atomically), listing, choosing the
coupon a quote applies, redeeming it with the booking and releasing it when the booking is
cancelled before service.

Redeeming is one conditional UPDATE (available -> used) in the booking's transaction: two bookings
racing for one coupon cannot both have it, and the loser's booking is not made.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NoReturn

import asyncpg

from bookings import orders, pricing
from bookings.coupons import terms
from bookings.coupons.models import ApplicableCoupon, WalletCoupon, WalletState
from bookings.coupons.terms import Row
from bookings.orders import Actor, Booking
from bookings.storage import coupons as store
from bookings.storage.catalog import ServiceRecord
from hub import cursors
from hub.errors import Conflict, InvalidPayload, NotFound
from hub.storage.db import Conn, Executor

BEST = "best"  # no coupon_id in the request: the quote applies the best one
# A booking cancelled (or expired) before its worker set out gives its coupon back.
RELEASED_FROM = frozenset({orders.Status.PENDING_PAYMENT, orders.Status.DISPATCHING, orders.Status.ACCEPTED})


async def take(
    conn: Conn,
    customer_id: str,
    coupon_id: uuid.UUID,
    *,
    source: str = "claim",
    campaign_id: uuid.UUID | None = None,
    grant_key: str | None = None,
    note: str = "",
) -> uuid.UUID:
    """Put one claim of the coupon in the customer's wallet, in the caller's transaction; the claim's
    id. A customer claims (``source`` "claim") only a ``claimable`` coupon; campaigns (and a
    complaint's compensation, with the ``note`` the customer reads in the wallet) grant any.
    The total limit is one conditional UPDATE; the per-customer count is read under that row's lock."""
    row = await store.take_one(conn, coupon_id, direct=source == "claim")
    if row is None:
        await refuse_take(conn, coupon_id, direct=source == "claim")
    if await store.held_or_reserved(conn, coupon_id, customer_id) >= row["per_customer_limit"]:
        raise Conflict(
            "you already hold as many of this coupon as one customer may",
            code="coupon_limit_reached",
            details={"per_customer_limit": row["per_customer_limit"]},
        )
    entry_id = uuid.uuid4()
    if not await store.insert_entry(
        conn, entry_id, coupon_id, customer_id, source, campaign_id, grant_key, note
    ):
        raise Conflict("this coupon was granted already", code="coupon_already_granted")
    return entry_id


async def refuse_take(conn: Conn, coupon_id: uuid.UUID, *, direct: bool) -> NoReturn:
    """Why a claim of the coupon was not counted: 404 for a coupon the claimer cannot see, else 409."""
    row = await store.get(conn, coupon_id)
    if row is None or (direct and not row["claimable"]):
        raise NotFound("no such coupon", code="coupon_not_found")
    if not row["active"]:
        raise Conflict("this coupon can no longer be claimed", code="coupon_inactive")
    if row["total_limit"] is not None and row["claimed"] >= row["total_limit"]:
        raise Conflict("every one of this coupon has been claimed", code="coupon_exhausted")
    raise Conflict("this coupon has expired", code="coupon_expired")


async def claim(conn: Conn, customer_id: str, coupon_id: uuid.UUID) -> WalletCoupon:
    entry_id = await take(conn, customer_id, coupon_id)
    return await view(conn, entry_id, customer_id)


async def claim_by_code(conn: Conn, customer_id: str, code: str) -> WalletCoupon:
    row = await store.by_code(conn, code.upper())
    if row is None or not row["claimable"]:
        raise InvalidPayload(
            "there is no coupon with this code",
            code="unknown_coupon_code",
            details=[{"loc": ["code"], "message": "no coupon has this code"}],
        )
    return await claim(conn, customer_id, row["id"])


def state_of(row: Row, now: datetime) -> WalletState:
    if row["state"] == "used":
        return "used"
    return "expired" if now >= row["valid_until"] else "available"


def wallet_coupon(row: Row, now: datetime) -> WalletCoupon:
    data = dict(row)
    data["coupon"] = data.pop("coupon_id")
    data.pop("customer_id")
    return WalletCoupon.model_validate({**data, "state": state_of(row, now)})


async def view(db: Executor, entry_id: uuid.UUID, customer_id: str) -> WalletCoupon:
    row = await store.entry(db, entry_id, customer_id)
    if row is None:
        raise NotFound("no such coupon", code="coupon_not_found")
    return wallet_coupon(row, await _now(db))


async def listing(
    db: Executor, customer_id: str, state: WalletState | None, limit: int, cursor: str | None = None
) -> tuple[list[WalletCoupon], str | None]:
    """A page of the wallet (its state is computed here, so the page is cut here too)."""
    start = cursors.offset(cursor, "wallet")
    now = await _now(db)
    found = [wallet_coupon(row, now) for row in await store.wallet(db, customer_id, 1000)]
    kept = [c for c in found if state is None or c.state == state]
    return cursors.offset_page("wallet", kept[start : start + limit + 1], limit, start)


async def _now(db: Executor) -> datetime:
    return await store.now(db)


# Quoting ----------------------------------------------------------------------------------------

Price = Callable[[pricing.Coupon | None], pricing.Quote]


async def choose(
    db: Executor,
    customer_id: str,
    service: ServiceRecord,
    spend_cents: int,
    now: datetime,
    wanted: uuid.UUID | str | None,
    price: Price,
) -> tuple[pricing.Quote, list[ApplicableCoupon]]:
    """The quote with the coupon ``wanted`` (``BEST``: the one that makes the total lowest, if any
    makes it lower than no coupon; None: no coupon), and the other coupons that apply.

    Ties go to the coupon that ends soonest, so the wallet's coupons are used before they lapse.
    ``spend_cents`` is the price before promotions (what minimum spends are measured on)."""
    rows = await store.usable(db, customer_id)
    applicable = [
        terms.held(row)
        for row in rows
        if terms.why_not(row, row["state"], service, spend_cents, now) is None
        and terms.discount(row, spend_cents) > 0
    ]
    without = price(None)
    priced = {coupon.id: price(coupon) for coupon in applicable}
    chosen: uuid.UUID | None = None
    if wanted == BEST:
        best = min(applicable, key=lambda c: priced[c.id].total_cents, default=None)
        if best is not None and priced[best.id].total_cents < without.total_cents:
            chosen = best.id
    elif isinstance(wanted, uuid.UUID):
        if wanted not in priced:
            await _refuse(db, customer_id, wanted, service, spend_cents, now)
        chosen = wanted
    result = priced[chosen] if chosen is not None else without
    others = [
        ApplicableCoupon(
            id=coupon.id,
            code=coupon.row["code"],
            name_en=coupon.row["name_en"],
            name_zh=coupon.row["name_zh"],
            discount_cents=_coupon_line(priced[coupon.id]),
            valid_until=coupon.row["valid_until"],
        )
        for coupon in applicable
        if coupon.id != chosen
    ]
    return result, others


def _coupon_line(quote: pricing.Quote) -> int:
    return sum(-line.amount_cents for line in quote.discounts if line.code == "coupon")


async def _refuse(
    db: Executor,
    customer_id: str,
    entry_id: uuid.UUID,
    service: ServiceRecord,
    spend_cents: int,
    now: datetime,
) -> NoReturn:
    row = await store.entry(db, entry_id, customer_id)
    if row is None:
        raise InvalidPayload(
            "you hold no coupon with this id",
            code="unknown_coupon",
            details=[{"loc": ["coupon_id"], "message": "not a coupon in your wallet"}],
        )
    reason = terms.why_not(row, row["state"], service, spend_cents, now) or "nothing_off"
    raise Conflict(
        "this coupon cannot be used for this booking",
        code="coupon_not_applicable",
        details={"reason": reason, "min_spend_cents": row["min_spend_cents"], "spend_cents": spend_cents},
    )


# Redeeming and releasing ------------------------------------------------------------------------


async def redeem(conn: Conn, booking: Booking, entry_id: uuid.UUID, amount_cents: int) -> None:
    """In the booking's transaction: the coupon is used by it, or nothing is (409 ``coupon_unavailable``)."""
    row = await store.redeem(conn, entry_id, booking.customer_id, booking.id)
    if row is None:
        raise Conflict(
            "this coupon was used by another booking or is no longer valid; ask for a new quote",
            code="coupon_unavailable",
            details={"coupon_id": str(entry_id)},
        )
    await orders.record(
        conn,
        booking,
        "coupon_redeemed",
        Actor(booking.customer_id, "customer"),
        note=f"Coupon {row['code']}",
        data=_entry_data(row, amount_cents),
    )


async def release(conn: Conn, booking: Booking, was: orders.Status, actor: Actor) -> bool:
    """After the booking was cancelled or expired: its coupon goes back to the wallet if the booking
    had not gone past acceptance (still valid: available again; lapsed meanwhile: expired)."""
    if was not in RELEASED_FROM:
        return False
    row = await store.release(conn, booking.id)
    if row is None:
        return False
    amount = _redeemed_amount(booking.price)
    await orders.record(
        conn, booking, "coupon_released", actor, note=f"Coupon {row['code']}", data=_entry_data(row, amount)
    )
    return True


def _redeemed_amount(price: Mapping[str, Any]) -> int:
    return sum(
        -int(line["amount_cents"]) for line in price.get("discounts", []) if line.get("code") == "coupon"
    )


def _entry_data(row: asyncpg.Record, amount_cents: int) -> dict[str, Any]:
    return {
        "coupon_id": str(row["id"]),
        "coupon": str(row["coupon_id"]),
        "code": row["code"],
        "amount_cents": amount_cents,
    }
