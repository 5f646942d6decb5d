"""``HUB_PAY_SANDBOX``: the hub serves the providers' sandboxes itself, with keys made at start-up,
so a booking is paid end to end through each provider's real protocol on a machine with no
merchant account; and the setting is refused where it would be wrong."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest

from bookings.extension import BookingsExtension
from hub.env import ConfigError
from tests.support.bookings import booking_request, start, tomorrow_at
from tests.support.hubs import RunningHub, StartHub
from tests.support.services import free_port
from tests.support.waiting import WAIT, wait_until

CHANNELS = {"card": "hosted", "wechat": "app", "alipay": "page"}


async def post(url: str, body: dict[str, Any]) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session,
        session.post(url, json=body) as response,
    ):
        return response.status


async def get(url: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session,
        session.get(url) as response,
    ):
        return response.status, await response.text()


async def test_each_provider_pays_a_booking_through_its_sandbox_on_the_hub(start_hub: StartHub) -> None:
    port = free_port()
    hub: RunningHub = await start(
        start_hub, workers=1, port=port, HUB_PAY_SANDBOX="all", HUB_PUBLIC_URL=f"http://127.0.0.1:{port}"
    )
    customer = hub.token("customer", "c-1")
    for n, (method, channel) in enumerate(CHANNELS.items(), start=1):
        status, booking = await hub.http(
            "POST", "/api/v1/bookings", customer, json=booking_request(date=_day(n))
        )
        assert status == 201, booking
        status, payment = await hub.http(
            "POST",
            f"/api/v1/bookings/{booking['id']}/payments",
            customer,
            json={"method": method, "channel": channel},
        )
        assert status == 201, payment
        if method == "alipay":  # a page payment exists at Alipay once the payer's browser opens it
            status, page = await get(payment["client"]["url"])
            assert status == 200, page
        paid = await post(f"{hub.url}/sandbox/{method}/sandbox/pay/{payment['out_trade_no']}", {})
        assert paid == 200

        async def dispatching(booking_id: str = booking["id"]) -> bool:
            _, body = await hub.http("GET", f"/api/v1/bookings/{booking_id}", customer)
            return body["status"] == "dispatching"

        await wait_until(dispatching)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HUB_PAY_SANDBOX": "paypal"}, "HUB_PAY_SANDBOX"),
        (
            {
                "HUB_PAY_SANDBOX": "card",
                "HUB_PAY_CARD_SECRET_KEY": "sk_test_real",
                "HUB_PAY_CARD_WEBHOOK_SECRET": "whsec_real",
            },
            "HUB_PAY_SANDBOX",
        ),
    ],
)
def test_the_sandbox_setting_is_refused_where_it_would_be_wrong(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as refused:
        BookingsExtension.from_env(env)
    assert refused.value.variable == variable


def _day(offset: int) -> str:
    return (date.fromisoformat(tomorrow_at()[0]) + timedelta(days=offset)).isoformat()
