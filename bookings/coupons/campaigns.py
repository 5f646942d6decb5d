"""Campaigns hand coupons out: to new customers (granted once, on their first quote or claim), on
holidays (claimable while the campaign runs), and to groups (when enough customers join a group
before its deadline, each of them; when the deadline passes first, nobody).

A group member's claim is reserved when they join (counted against the coupon's total limit and
their own), so a group that fills can always be granted; a group that fails gives the reservations
back.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import asyncpg

from bookings.coupons import wallet
from bookings.coupons.models import (
    CampaignChange,
    CampaignList,
    CampaignView,
    GroupView,
    LiveCampaign,
    NewCampaign,
    Terms,
    WalletCoupon,
)
from bookings.coupons.terms import Row
from bookings.storage import campaigns as store
from bookings.storage import coupons as coupon_store
from hub import cursors
from hub.errors import Conflict, InvalidPayload, NotFound
from hub.push.inbox import NewNotification, notify
from hub.storage.db import Conn, Executor

log = logging.getLogger(__name__)

OPEN_GROUPS_SHOWN = 20
NOTIFICATION_KIND = "coupon"


# Admin ------------------------------------------------------------------------------------------


async def create(conn: Conn, new: NewCampaign, admin_id: str) -> CampaignView:
    if await coupon_store.get(conn, new.coupon_id) is None:
        raise InvalidPayload(
            "there is no coupon with this id",
            code="unknown_coupon",
            details=[{"loc": ["coupon_id"], "message": "no such coupon"}],
        )
    row = await store.insert(conn, uuid.uuid4(), {**new.model_dump(), "created_by": admin_id})
    return CampaignView.model_validate(dict(row))


async def listing(db: Executor, limit: int, cursor: str | None) -> CampaignList:
    offset = cursors.offset(cursor, "campaigns")
    rows = await store.listing(db, limit + 1, offset)
    page, next_cursor = cursors.offset_page("campaigns", rows, limit, offset)
    return CampaignList(
        items=[CampaignView.model_validate(dict(row)) for row in page], next_cursor=next_cursor
    )


async def change(conn: Conn, campaign_id: uuid.UUID, patch: CampaignChange) -> CampaignView:
    current = await store.get(conn, campaign_id)
    if current is None:
        raise NotFound("no such campaign", code="campaign_not_found")
    changes = patch.model_dump(include=patch.model_fields_set)
    if changes.get("ends_at", current["ends_at"]) <= changes.get("starts_at", current["starts_at"]):
        raise InvalidPayload(
            "ends_at must be after starts_at",
            code="invalid_window",
            details=[{"loc": ["ends_at"], "message": "must be after starts_at"}],
        )
    row = await store.update(conn, campaign_id, changes)
    if row is None:
        raise NotFound("no such campaign", code="campaign_not_found")
    return CampaignView.model_validate(dict(row))


# Customers --------------------------------------------------------------------------------------


async def live(db: Executor) -> list[LiveCampaign]:
    """The campaigns running now, with their coupons' terms and the groups open to join."""
    found = []
    for row in await store.live(db):
        coupon = await coupon_store.get(db, row["coupon_id"])
        assert coupon is not None  # a campaign's coupon cannot be deleted
        groups = await store.open_groups(db, row["id"], OPEN_GROUPS_SHOWN) if row["kind"] == "group" else []
        found.append(
            LiveCampaign.model_validate(
                {
                    **dict(row),
                    "coupon": Terms.model_validate(dict(coupon)),
                    "open_groups": [_group(group) for group in groups],
                }
            )
        )
    return found


async def welcome(conn: Conn, customer_id: str) -> int:
    """Grant the coupons of running new-customer campaigns to a customer who never paid for a
    booking, once per campaign; how many were granted now. A campaign whose coupon has run out
    (or lapsed) grants nothing, quietly: this is a gift, not a request."""
    campaigns = await store.live(conn, "new_customer")
    if not campaigns or await coupon_store.has_paid_booking(conn, customer_id):
        return 0
    granted = 0
    for campaign in campaigns:
        key = f"new_customer:{campaign['id']}:{customer_id}"
        if await coupon_store.granted(conn, key):
            continue
        try:
            async with conn.transaction():  # a savepoint: a refused grant leaves the caller's work
                await wallet.take(
                    conn,
                    customer_id,
                    campaign["coupon_id"],
                    source="new_customer",
                    campaign_id=campaign["id"],
                    grant_key=key,
                )
        except (Conflict, NotFound) as exc:
            log.debug("new-customer coupon of %s not granted to %s: %s", campaign["id"], customer_id, exc)
            continue
        granted += 1
    return granted


async def claim_holiday(conn: Conn, customer_id: str, campaign_id: uuid.UUID) -> WalletCoupon:
    campaign = await _running(conn, campaign_id, "holiday")
    await welcome(conn, customer_id)
    entry_id = await wallet.take(
        conn, customer_id, campaign["coupon_id"], source="holiday", campaign_id=campaign["id"]
    )
    return await wallet.view(conn, entry_id, customer_id)


async def join(conn: Conn, customer_id: str, campaign_id: uuid.UUID, group_id: uuid.UUID | None) -> GroupView:
    """Join an open group of a group-buying campaign, or start one. The customer's claim is
    reserved now; the group that this join fills grants every member the coupon."""
    campaign = await _running(conn, campaign_id, "group")
    if group_id is None:
        group_id = uuid.uuid4()
        now = await coupon_store.now(conn)
        deadline = min(now + timedelta(hours=campaign["group_hours"]), campaign["ends_at"])
        await store.insert_group(conn, group_id, campaign_id, campaign["group_size"], deadline, customer_id)
    group = await store.lock_group(conn, group_id, campaign_id)
    if group is None:
        raise NotFound("no such group in this campaign", code="group_not_found")
    if group["status"] != "open" or group["overdue"]:
        raise Conflict("this group is closed", code="group_closed", details={"status": group["status"]})
    if not await store.add_member(conn, group_id, customer_id):
        raise Conflict("you are in this group already", code="already_in_group")
    # Reserve the claim (after joining, so the per-customer count sees this membership once).
    reserved = await coupon_store.take_one(conn, campaign["coupon_id"], direct=False)
    if reserved is None:
        await wallet.refuse_take(conn, campaign["coupon_id"], direct=False)
    if (
        await coupon_store.held_or_reserved(conn, campaign["coupon_id"], customer_id)
        > reserved["per_customer_limit"]
    ):
        raise Conflict(
            "you already hold as many of this coupon as one customer may",
            code="coupon_limit_reached",
            details={"per_customer_limit": reserved["per_customer_limit"]},
        )
    members = await store.members(conn, group_id)
    if len(members) >= group["size"]:
        await _fill(conn, group_id, campaign, members)
    return _group(await store.group(conn, group_id))


async def _fill(conn: Conn, group_id: uuid.UUID, campaign: Row, members: list[str]) -> None:
    """Every member's reserved claim becomes a coupon in their wallet."""
    await store.close_group(conn, group_id, "filled")
    for member in members:
        inserted = await coupon_store.insert_entry(
            conn,
            uuid.uuid4(),
            campaign["coupon_id"],
            member,
            "group",
            campaign["id"],
            f"group:{group_id}:{member}",
        )
        assert inserted  # one grant per group and member
        await _tell(
            conn,
            member,
            "Your group is complete",
            f"{campaign['name_en']}: the coupon is in your wallet.",
            campaign["id"],
            group_id,
        )


async def fail_overdue_groups(conn: Conn, limit: int = 100) -> int:
    """The sweep: groups whose deadline passed unfilled fail; their reservations are given back and
    their members told. Each group in its own transaction; safe on every node at once."""
    failed = 0
    for _ in range(limit):
        async with conn.transaction():
            row = await store.fail_one_overdue(conn)
            if row is None:
                break
            members = await store.members(conn, row["id"])
            await coupon_store.give_back(conn, row["coupon_id"], len(members))
            for member in members:
                await _tell(
                    conn,
                    member,
                    "Your group did not fill in time",
                    f"{row['name_en']}: not enough people joined; no coupon this time.",
                    row["campaign_id"],
                    row["id"],
                )
        failed += 1
    return failed


async def _running(conn: Conn, campaign_id: uuid.UUID, kind: str) -> asyncpg.Record:
    row = await store.get(conn, campaign_id)
    if row is None:
        raise NotFound("no such campaign", code="campaign_not_found")
    if row["kind"] != kind:
        raise Conflict(
            f"this is a {row['kind']} campaign", code="wrong_campaign_kind", details={"kind": row["kind"]}
        )
    now = await coupon_store.now(conn)
    if not (row["active"] and row["starts_at"] <= now < row["ends_at"]):
        raise Conflict("this campaign is not running", code="campaign_not_running")
    return row


def _group(row: Row) -> GroupView:
    return GroupView.model_validate(dict(row))


async def _tell(
    conn: Conn, customer_id: str, title: str, body: str, campaign_id: uuid.UUID, group_id: uuid.UUID
) -> None:
    await notify(
        conn,
        NewNotification(
            user_id=customer_id,
            role="customer",
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            data={"campaign_id": str(campaign_id), "group_id": str(group_id)},
        ),
    )
