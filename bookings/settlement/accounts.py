"""A worker's payout settings: how often they are settled (weekly or monthly) and where the money
goes (a bank card, Alipay or WeChat), edited by the worker or an admin.

The account is kept whole, for whoever pays; every answer masks it (the last digits of a card, a
phone or an e-mail address half hidden), so a leaked answer or screenshot does not give it away.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import asyncpg
import pydantic
from pydantic import Field, StrictStr, model_validator

from bookings.storage import payouts as store
from hub.acks import Payload
from hub.errors import NotFound
from hub.storage.db import Executor
from hub.times import Timestamp

Method = Literal["bank_card", "alipay", "wechat"]
PeriodKind = Literal["weekly", "monthly"]
# One line, no surrounding spaces, not empty.
TRIMMED = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
CARD = re.compile(r"^[0-9]{12,19}$")  # UnionPay and other cards
PHONE = re.compile(r"^1[0-9]{10}$")  # a mainland mobile number (Alipay logins)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")
OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")  # WeChat transfers go to the payee's openid


class PayoutSettingsIn(Payload):
    """Everything at once (PUT): the period, the method and its account."""

    period: PeriodKind
    method: Method
    account_name: Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=TRIMMED)]
    account_no: Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=TRIMMED)]
    bank_name: Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=TRIMMED)] | None = None

    @model_validator(mode="after")
    def _account_of_method(self) -> PayoutSettingsIn:
        if self.method == "bank_card":
            if not CARD.fullmatch(self.account_no):
                raise ValueError("a bank card number is 12 to 19 digits")
            if self.bank_name is None:
                raise ValueError("a bank card needs bank_name")
        elif self.bank_name is not None:
            raise ValueError("bank_name is only for a bank card")
        if self.method == "alipay" and not (
            PHONE.fullmatch(self.account_no) or EMAIL.fullmatch(self.account_no)
        ):
            raise ValueError("an Alipay account is a mobile number or an e-mail address")
        if self.method == "wechat" and not OPENID.fullmatch(self.account_no):
            raise ValueError("a WeChat account is the payee's openid")
        return self


class PayoutAccount(pydantic.BaseModel):
    """Where a payout goes, masked."""

    method: Method
    account_name: str
    account_no: str
    bank_name: str | None


class PayoutSettings(pydantic.BaseModel):
    worker_id: str
    period: PeriodKind
    account: PayoutAccount | None  # None until set: no payout can be asked for
    updated_by: str | None
    updated_at: Timestamp | None


def mask_number(value: str) -> str:
    if EMAIL.fullmatch(value):
        name, domain = value.split("@", 1)
        return f"{name[:1]}{'*' * max(3, len(name) - 1)}@{domain}"
    keep = 4 if len(value) > 8 else 2
    return "*" * max(4, len(value) - keep) + value[-keep:]


def mask_name(value: str) -> str:
    return value[:1] + "*" * max(1, len(value) - 1)


def masked(account: dict[str, str | None]) -> PayoutAccount:
    return PayoutAccount.model_validate(
        {
            **account,
            "account_name": mask_name(account["account_name"] or ""),
            "account_no": mask_number(account["account_no"] or ""),
        }
    )


def account_of(row: asyncpg.Record) -> dict[str, str | None]:
    """The whole account, as a payout keeps it."""
    return {key: row[key] for key in ("method", "account_name", "account_no", "bank_name")}


async def get(db: Executor, worker_id: str, default_period: str) -> PayoutSettings:
    await _require_worker(db, worker_id)
    row = await store.settings_of(db, worker_id)
    if row is None:
        return PayoutSettings.model_validate(
            {
                "worker_id": worker_id,
                "period": default_period,
                "account": None,
                "updated_by": None,
                "updated_at": None,
            }
        )
    return _view(row)


async def put(db: Executor, worker_id: str, wanted: PayoutSettingsIn, actor: str) -> PayoutSettings:
    await _require_worker(db, worker_id)
    row = await store.put_settings(
        db,
        worker_id,
        period=wanted.period,
        method=wanted.method,
        account_name=wanted.account_name,
        account_no=wanted.account_no,
        bank_name=wanted.bank_name,
        updated_by=actor,
    )
    return _view(row)


def _view(row: asyncpg.Record) -> PayoutSettings:
    return PayoutSettings(
        worker_id=row["worker_id"],
        period=row["period"],
        account=masked(account_of(row)),
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


async def _require_worker(db: Executor, worker_id: str) -> None:
    if not await store.worker_exists(db, worker_id):
        raise NotFound("no worker profile: an admin onboards workers first", code="worker_not_found")
