"""What admins and customers send about coupons and campaigns, and what they get back."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AwareDatetime, Field, StrictBool, StrictInt, StrictStr, model_validator

from hub.acks import Payload
from hub.cursors import NEXT_CURSOR_DESCRIPTION, CursorParam, NoNextCursor
from hub.times import Timestamp

CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$"  # case-insensitive: kept upper case
CATALOG_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TRIMMED = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
MAX_FEN = 10_000_000  # 100,000 yuan

Code = Annotated[StrictStr, Field(pattern=CODE)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=60, pattern=TRIMMED)]
Fen = Annotated[StrictInt, Field(ge=1, le=MAX_FEN)]
CatalogIds = Annotated[list[Annotated[StrictStr, Field(pattern=CATALOG_ID)]], Field(max_length=50)]
Limit = Annotated[StrictInt, Field(ge=1, le=10_000_000)]
CouponKind = Literal["fixed", "percent"]
CampaignKind = Literal["new_customer", "holiday", "group"]
WalletState = Literal["available", "used", "expired"]


def _unchanged() -> Any:
    """Left out means unchanged; null is refused (the field's type does not admit it)."""
    return Field(default=None)


# Admin: coupons ---------------------------------------------------------------------------------


class NewCoupon(Payload):
    """A fixed amount off (``amount_cents``), or a percentage (``percent``) of at most
    ``max_discount_cents``; above ``min_spend_cents``; within ``valid_from``..``valid_until``; on the
    services and categories named (none named: on everything)."""

    code: Code
    name_en: Name
    name_zh: Name
    kind: CouponKind
    amount_cents: Fen | None = None
    percent: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    max_discount_cents: Fen | None = None
    min_spend_cents: Annotated[StrictInt, Field(ge=0, le=MAX_FEN)] = 0
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    service_ids: CatalogIds = []
    category_ids: CatalogIds = []
    per_customer_limit: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    total_limit: Limit | None = None
    active: StrictBool = True
    claimable: StrictBool = True  # false: only campaigns hand it out

    @model_validator(mode="after")
    def consistent(self) -> NewCoupon:
        if self.kind == "fixed" and (self.amount_cents is None or self.percent is not None):
            raise ValueError("a fixed coupon has amount_cents and no percent")
        if self.kind == "fixed" and self.max_discount_cents is not None:
            raise ValueError("max_discount_cents is for percent coupons")
        if self.kind == "percent" and (
            self.percent is None or self.max_discount_cents is None or self.amount_cents is not None
        ):
            raise ValueError("a percent coupon has percent and max_discount_cents, and no amount_cents")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class CouponChange(Payload):
    """A partial change. The discount (kind, amount, percent, cap) and the code cannot change once
    made: customers hold it; make a new coupon instead. ``total_limit: null`` lifts the limit."""

    name_en: Name = _unchanged()
    name_zh: Name = _unchanged()
    min_spend_cents: Annotated[StrictInt, Field(ge=0, le=MAX_FEN)] = _unchanged()
    valid_from: AwareDatetime = _unchanged()
    valid_until: AwareDatetime = _unchanged()
    service_ids: CatalogIds = _unchanged()
    category_ids: CatalogIds = _unchanged()
    per_customer_limit: Annotated[StrictInt, Field(ge=1, le=100)] = _unchanged()
    total_limit: Limit | None = None
    active: StrictBool = _unchanged()
    claimable: StrictBool = _unchanged()


class CouponsQuery(Payload):
    active: bool | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    cursor: CursorParam | None = None


class Terms(pydantic.BaseModel):
    """What a coupon takes off, and where and when it applies."""

    code: str
    name_en: str
    name_zh: str
    kind: CouponKind
    amount_cents: int | None
    percent: int | None
    max_discount_cents: int | None
    min_spend_cents: int
    valid_from: Timestamp
    valid_until: Timestamp
    service_ids: list[str]
    category_ids: list[str]


class CouponView(Terms):
    """A coupon as admins see it: its terms, limits and claims so far."""

    id: uuid.UUID
    per_customer_limit: int
    total_limit: int | None
    claimed: int
    active: bool
    claimable: bool
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp


class CouponList(pydantic.BaseModel):
    items: list[CouponView]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class ClaimableCoupon(Terms):
    """A coupon a customer may claim now."""

    id: uuid.UUID
    per_customer_limit: int
    left: int | None  # claims left before the total limit; null: no limit


class ClaimableList(pydantic.BaseModel):
    items: list[ClaimableCoupon]
    next_cursor: NoNextCursor


# Customers: the wallet --------------------------------------------------------------------------


class ClaimByCode(Payload):
    code: Code


class WalletQuery(Payload):
    state: WalletState | None = None
    cursor: CursorParam | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 100


class WalletCoupon(Terms):
    """A coupon in the customer's wallet. ``id`` is this claim's (what a quote or booking names as
    ``coupon_id``); ``coupon`` is the coupon's definition."""

    id: uuid.UUID
    coupon: uuid.UUID
    state: WalletState
    source: Literal["claim", "new_customer", "holiday", "group", "complaint"]
    note: str = ""  # why it was granted: a complaint's compensation says so
    campaign_id: uuid.UUID | None
    booking_id: uuid.UUID | None
    claimed_at: Timestamp
    used_at: Timestamp | None


class Wallet(pydantic.BaseModel):
    items: list[WalletCoupon]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class ApplicableCoupon(pydantic.BaseModel):
    """A coupon of the wallet a quote could use instead, and what it would take off."""

    id: uuid.UUID
    code: str
    name_en: str
    name_zh: str
    discount_cents: int
    valid_until: Timestamp


# Campaigns --------------------------------------------------------------------------------------


class NewCampaign(Payload):
    """``new_customer``: its coupon is granted to customers who never paid for a booking, on their
    first quote or claim; ``holiday``: claimable while the campaign runs; ``group``: ``group_size``
    customers must join a group within ``group_hours`` of its start, then each gets the coupon."""

    kind: CampaignKind
    name_en: Name
    name_zh: Name
    coupon_id: uuid.UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    group_size: Annotated[StrictInt, Field(ge=2, le=100)] | None = None
    group_hours: Annotated[StrictInt, Field(ge=1, le=720)] | None = None
    active: StrictBool = True

    @model_validator(mode="after")
    def consistent(self) -> NewCampaign:
        grouped = self.group_size is not None and self.group_hours is not None
        if self.kind == "group" and not grouped:
            raise ValueError("a group campaign needs group_size and group_hours")
        if self.kind != "group" and (self.group_size is not None or self.group_hours is not None):
            raise ValueError("group_size and group_hours are for group campaigns")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CampaignChange(Payload):
    name_en: Name = _unchanged()
    name_zh: Name = _unchanged()
    starts_at: AwareDatetime = _unchanged()
    ends_at: AwareDatetime = _unchanged()
    active: StrictBool = _unchanged()


class CampaignsQuery(Payload):
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    cursor: CursorParam | None = None


class CampaignView(pydantic.BaseModel):
    id: uuid.UUID
    kind: CampaignKind
    name_en: str
    name_zh: str
    coupon_id: uuid.UUID
    starts_at: Timestamp
    ends_at: Timestamp
    group_size: int | None
    group_hours: int | None
    active: bool
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp


class CampaignList(pydantic.BaseModel):
    items: list[CampaignView]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class GroupView(pydantic.BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    size: int
    members: int
    deadline: Timestamp
    status: Literal["open", "filled", "failed"]
    created_at: Timestamp
    closed_at: Timestamp | None


class LiveCampaign(pydantic.BaseModel):
    """A campaign running now, as customers see it: its coupon's terms and, for group buying, the
    groups still open to join."""

    id: uuid.UUID
    kind: CampaignKind
    name_en: str
    name_zh: str
    starts_at: Timestamp
    ends_at: Timestamp
    group_size: int | None
    group_hours: int | None
    coupon: Terms
    open_groups: list[GroupView]


class LiveCampaignList(pydantic.BaseModel):
    items: list[LiveCampaign]
    next_cursor: NoNextCursor


class JoinGroup(Payload):
    """Join this open group, or (left out) start a new one."""

    group_id: uuid.UUID | None = None
