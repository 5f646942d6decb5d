"""Campaigns: admins run them; customers see the running ones, claim a holiday coupon and join
(or start) a group."""

from __future__ import annotations

from aiohttp import web

from bookings.coupons import campaigns
from bookings.coupons.models import (
    CampaignChange,
    CampaignList,
    CampaignsQuery,
    CampaignView,
    GroupView,
    JoinGroup,
    LiveCampaignList,
    NewCampaign,
    WalletCoupon,
)
from bookings.http.idempotency import create_once
from bookings.http.inputs import path_uuid, pool_of, required_body
from hub.auth import STAFF, Role
from hub.storage.db import Conn
from hub.web.openapi import Operation, caller, read_body, read_query, reply

CAMPAIGN_PARAM = {"campaign_id": {"type": "string", "format": "uuid"}}


async def list_campaigns(request: web.Request) -> web.Response:
    query = read_query(request, CampaignsQuery)
    return reply(await campaigns.listing(pool_of(request), query.limit, query.cursor))


async def create_campaign(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, NewCampaign)

    async def make(conn: Conn) -> CampaignView:
        return await campaigns.create(conn, body, user.user_id)

    return await create_once(request, pool_of(request), user, make)


async def change_campaign(request: web.Request) -> web.Response:
    campaign_id = path_uuid(request, "campaign_id", "campaign")
    body = await required_body(request, CampaignChange)
    async with pool_of(request).acquire() as conn, conn.transaction():
        return reply(await campaigns.change(conn, campaign_id, body))


async def running(request: web.Request) -> web.Response:
    return reply(LiveCampaignList(next_cursor=None, items=await campaigns.live(pool_of(request))))


async def claim(request: web.Request) -> web.Response:
    user = caller(request)
    campaign_id = path_uuid(request, "campaign_id", "campaign")

    async def make(conn: Conn) -> WalletCoupon:
        return await campaigns.claim_holiday(conn, user.user_id, campaign_id)

    return await create_once(request, pool_of(request), user, make)


async def join(request: web.Request) -> web.Response:
    user = caller(request)
    campaign_id = path_uuid(request, "campaign_id", "campaign")
    body = await read_body(request, JoinGroup)
    async with pool_of(request).acquire() as conn, conn.transaction():
        return reply(await campaigns.join(conn, user.user_id, campaign_id, body.group_id))


_TAG = "campaigns"
OPERATIONS = [
    Operation(
        "GET", "/api/v1/admin/campaigns", list_campaigns, "Campaigns, newest first", _TAG,
        roles=STAFF, query=CampaignsQuery, responses={200: CampaignList},
    ),
    Operation(
        "POST", "/api/v1/admin/campaigns", create_campaign,
        "Create a campaign: new customers, a holiday, or group buying", _TAG,
        roles=(Role.ADMIN,), body=NewCampaign, responses={201: CampaignView}, idempotent=True,
    ),
    Operation(
        "PUT", "/api/v1/admin/campaigns/{campaign_id}", change_campaign,
        "Change a campaign's names, window or active flag (partial)", _TAG,
        roles=(Role.ADMIN,), body=CampaignChange, responses={200: CampaignView}, errors=(404,),
        path_params=CAMPAIGN_PARAM,
    ),
    Operation(
        "GET", "/api/v1/campaigns", running, "Campaigns running now, with open groups to join", _TAG,
        roles=(Role.CUSTOMER,), responses={200: LiveCampaignList},
    ),
    Operation(
        "POST", "/api/v1/campaigns/{campaign_id}/claim", claim, "Claim a running holiday campaign's coupon",
        _TAG, roles=(Role.CUSTOMER,), responses={201: WalletCoupon}, errors=(404, 409), idempotent=True,
        path_params=CAMPAIGN_PARAM,
    ),
    Operation(
        "POST", "/api/v1/campaigns/{campaign_id}/join", join,
        "Join an open group of a group-buying campaign, or start one", _TAG,
        roles=(Role.CUSTOMER,), body=JoinGroup, responses={200: GroupView}, errors=(404, 409),
        path_params=CAMPAIGN_PARAM,
    ),
]  # fmt: skip
