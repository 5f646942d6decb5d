"""Coupons as admins write them: create, read, change (not the discount), delete an unused one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bookings.coupons.models import ClaimableCoupon, CouponChange, CouponList, CouponView, NewCoupon
from bookings.storage import coupons as store
from hub import cursors
from hub.errors import Conflict, InvalidPayload, NotFound
from hub.storage.db import Conn, Executor


async def create(conn: Conn, new: NewCoupon, admin_id: str) -> CouponView:
    fields = new.model_dump()
    fields["code"] = new.code.upper()
    await _check_catalog(conn, fields)
    row = await store.insert(conn, uuid.uuid4(), {**fields, "created_by": admin_id})
    if row is None:
        raise Conflict(
            "another coupon has this code", code="coupon_code_taken", details={"code": fields["code"]}
        )
    return CouponView.model_validate(dict(row))


async def get(db: Executor, coupon_id: uuid.UUID) -> CouponView:
    row = await store.get(db, coupon_id)
    if row is None:
        raise NotFound("no such coupon", code="coupon_not_found")
    return CouponView.model_validate(dict(row))


async def listing(db: Executor, active: bool | None, limit: int, cursor: str | None) -> CouponList:
    offset = cursors.offset(cursor, "coupons")
    rows = await store.listing(db, active, limit + 1, offset)
    page, next_cursor = cursors.offset_page("coupons", rows, limit, offset)
    return CouponList(items=[CouponView.model_validate(dict(row)) for row in page], next_cursor=next_cursor)


async def claimable(db: Executor, limit: int) -> list[ClaimableCoupon]:
    return [
        ClaimableCoupon.model_validate(
            {**dict(row), "left": None if row["total_limit"] is None else row["total_limit"] - row["claimed"]}
        )
        for row in await store.claimable(db, limit)
    ]


async def change(conn: Conn, coupon_id: uuid.UUID, patch: CouponChange) -> CouponView:
    """Apply what ``patch`` names, under the coupon's lock (claims counted meanwhile are seen)."""
    current = await store.get(conn, coupon_id, lock=True)
    if current is None:
        raise NotFound("no such coupon", code="coupon_not_found")
    changes = patch.model_dump(include=patch.model_fields_set)
    await _check_catalog(conn, changes)
    valid_from = changes.get("valid_from", current["valid_from"])
    valid_until = changes.get("valid_until", current["valid_until"])
    if valid_until <= valid_from:
        raise InvalidPayload(
            "valid_until must be after valid_from",
            code="invalid_window",
            details=[{"loc": ["valid_until"], "message": "must be after valid_from"}],
        )
    limit = changes.get("total_limit", current["total_limit"])
    if limit is not None and limit < current["claimed"]:
        raise Conflict(
            "the total limit cannot be below the claims already made",
            code="total_limit_below_claimed",
            details={"claimed": current["claimed"]},
        )
    row = await store.update(conn, coupon_id, changes)
    assert row is not None  # locked above
    return CouponView.model_validate(dict(row))


async def delete(conn: Conn, coupon_id: uuid.UUID) -> None:
    if await store.get(conn, coupon_id) is None:
        raise NotFound("no such coupon", code="coupon_not_found")
    if not await store.delete_unused(conn, coupon_id):
        raise Conflict(
            "customers hold this coupon or a campaign hands it out; set active to false instead",
            code="coupon_in_use",
        )


async def _check_catalog(db: Executor, fields: Mapping[str, Any]) -> None:
    """Services and categories named must exist: a typo would make a coupon that never applies."""
    for name, code, exists in (
        ("service_ids", "unknown_service", store.existing_services),
        ("category_ids", "unknown_category", store.existing_categories),
    ):
        wanted = list(fields.get(name) or [])
        if not wanted:
            continue
        found = await exists(db, wanted)
        missing = [i for i, value in enumerate(wanted) if value not in found]
        if missing:
            raise InvalidPayload(
                f"some of {name} do not exist",
                code=code,
                details=[{"loc": [name, i], "message": f"no such id {wanted[i]!r}"} for i in missing],
            )
