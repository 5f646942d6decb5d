"""Demo mode: ``python -m hub demo`` (``make demo``) loads the demo data, pays through the sandboxes,
gives people time, prints the apps' addresses, and its development login signs a token for any of
the demo's people; without demo mode that login is refused, whatever is sent."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from hub.app import build_app
from hub.settings import Settings
from tests.support.hubs import ROOT, HubTestServer, RunningHub, stop_hub
from tests.support.services import free_port
from tests.support.waiting import WAIT, wait_until

StartDemoHub = Callable[..., Any]


@pytest.fixture
async def start_demo_hub(hub_env: dict[str, str]) -> AsyncIterator[StartDemoHub]:
    """A hub in demo mode, as ``python -m hub demo`` builds it (the mode is not an environment
    variable, so it is set on the settings)."""
    running: list[RunningHub] = []

    async def start(**overrides: str) -> RunningHub:
        settings = dataclasses.replace(Settings.from_env({**hub_env, **overrides}), demo_mode=True)
        server = HubTestServer(build_app(settings), host="127.0.0.1", port=free_port())
        await server.start_server()
        hub = RunningHub(server.app, server, settings)
        running.append(hub)
        return hub

    yield start
    for hub in running:
        await stop_hub(hub)


async def test_without_demo_mode_the_login_is_refused_whatever_is_sent(hub: RunningHub) -> None:
    assert not hub.settings.demo_mode
    for body in ({"role": "admin", "sub": "admin-01"}, {"role": "nobody"}, {}):
        status, answer = await hub.http("POST", "/api/v1/demo/login", json=body)
        assert (status, answer["error"]["code"]) == (404, "demo_mode_off"), answer
    status, answer = await hub.http("GET", "/api/v1/demo/people")
    assert (status, answer["error"]["code"]) == (404, "demo_mode_off")
    # Nothing was loaded either: the demo data comes with the mode.
    status, services = await hub.http("GET", "/api/v1/services")
    assert (status, services["items"]) == (200, [])


async def test_demo_mode_loads_the_data_and_signs_in_its_people(start_demo_hub: StartDemoHub) -> None:
    hub = await start_demo_hub()
    status, people = await hub.http("GET", "/api/v1/demo/people")
    assert status == 200, people
    pairs = {(p["role"], p["sub"]) for p in people["items"]}
    assert {("customer", "customer-01"), ("worker", "worker-03"), ("support", "support-01")} <= pairs
    assert ("admin", "admin-01") in pairs
    assert len([p for p in people["items"] if p["role"] == "worker"]) == 27
    pending = next(p for p in people["items"] if p["sub"] == "worker-26")
    assert "vetting pending" in pending["note"]

    status, session = await hub.http(
        "POST", "/api/v1/demo/login", json={"role": "worker", "sub": "worker-03"}
    )
    assert status == 200, session
    assert (session["role"], session["sub"], session["name"]) == ("worker", "worker-03", "张丽")
    status, me = await hub.http("GET", "/api/v1/me", session["token"])
    assert (status, me["user_id"], me["role"]) == (200, "worker-03", "worker")
    assert me["expires_at"] == session["expires_at"]
    # The token opens the worker's namespace like any other.
    worker = await hub.connect("/worker", session["token"])
    assert (await worker.call("ping", namespace="/worker", timeout=WAIT))["ok"] is True

    # The demo data was loaded at start-up: worker-03's profile is there.
    status, profile = await hub.http("GET", "/api/v1/workers/worker-03")
    assert (status, profile["name"]) == (200, "张丽")

    for body, code in (
        ({"role": "worker", "sub": "worker-99"}, "demo_person_not_found"),
        ({"role": "customer", "sub": "worker-03"}, "demo_person_not_found"),  # a person is a role and an id
        ({"role": "worker"}, "invalid_payload"),
        ({"role": "boss", "sub": "worker-03"}, "invalid_payload"),
        ({"role": "worker", "sub": "worker-03", "admin": True}, "invalid_payload"),
    ):
        status, answer = await hub.http("POST", "/api/v1/demo/login", json=body)
        assert answer["error"]["code"] == code, (body, answer)
        assert status == (404 if code == "demo_person_not_found" else 422)


def test_make_demo_runs_the_demo_command() -> None:
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert planned.stdout.strip().splitlines()[-1] == ".venv/bin/python -m hub demo"


class DemoProcess:
    """``python -m hub demo`` in its own process, its output in a file."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "demo", "--port", str(port)],
            env={"PATH": os.environ.get("PATH", ""), **env},
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def demo_processes() -> Any:
    started: list[DemoProcess] = []
    yield started
    for process in started:
        process.stop()


async def call(
    method: str, url: str, token: str | None = None, body: Any = None, **headers: str
) -> tuple[int, Any]:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, headers=headers) as r,
    ):
        return r.status, await r.json() if r.content_type == "application/json" else await r.text()


async def test_the_demo_command_prints_the_apps_and_a_booking_is_paid_through_the_sandbox(
    demo_processes: list[DemoProcess], database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    demo = DemoProcess(
        {"HUB_DATABASE_URL": database_url, "HUB_DATA_DIR": str(tmp_path / "var"), "HUB_LOG_LEVEL": "INFO"},
        port,
        tmp_path / "demo.log",
    )
    demo_processes.append(demo)

    def printed() -> bool:
        if demo.proc.poll() is not None:
            raise AssertionError(f"the demo exited early:\n{demo.output()}")
        return "Support console:" in demo.output()

    await wait_until(printed, within=60, interval=0.2)
    out = demo.output()
    assert "Demo mode (development only" in out
    for app in ("customer", "worker", "support"):
        url = f"http://127.0.0.1:{port}/demo/{app}/"
        assert url in out, out
        status, page = await call("GET", url)
        assert status == 200, (url, page)
        assert "<html" in page

    # Anyone of the demo data can log in; the data was loaded before the addresses were printed.
    tokens = {}
    for role, sub in (("customer", "customer-01"), ("admin", "admin-01")):
        status, session = await call("POST", f"{demo.url}/api/v1/demo/login", body={"role": role, "sub": sub})
        assert status == 200, session
        tokens[role] = session["token"]

    # People are given time: ten minutes an offer, an hour to pay, lateness timers a day.
    status, rules = await call("GET", f"{demo.url}/api/v1/admin/settings/dispatch", tokens["admin"])
    assert (status, rules["offer_seconds"], rules["chosen_offer_seconds"]) == (200, 600.0, 900.0), rules

    # Book as customer-01 and pay by card through the sandbox the hub serves itself.
    customer = tokens["customer"]
    status, addresses = await call("GET", f"{demo.url}/api/v1/customers/me/addresses", customer)
    assert status == 200, addresses
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date().isoformat()
    request = {
        "service_id": "daily-cleaning",
        "date": day,
        "start_time": "10:00",
        "address_id": addresses["items"][0]["id"],
    }
    status, booking = await call("POST", f"{demo.url}/api/v1/bookings", customer, request)
    assert status == 201, booking
    created = datetime.fromisoformat(booking["created_at"])
    assert datetime.fromisoformat(booking["payment_due_at"]) - created >= timedelta(minutes=59)
    status, payment = await call(
        "POST",
        f"{demo.url}/api/v1/bookings/{booking['id']}/payments",
        customer,
        {"method": "card", "channel": "hosted"},
    )
    assert status == 201, payment
    assert payment["client"]["url"].startswith(f"http://127.0.0.1:{port}/sandbox/card/")
    status, paid = await call(
        "POST", f"{demo.url}/sandbox/card/sandbox/pay/{payment['out_trade_no']}", body={"outcome": "success"}
    )
    assert status == 200, paid

    async def dispatched() -> bool:
        _, now = await call("GET", f"{demo.url}/api/v1/bookings/{booking['id']}", customer)
        return now["status"] == "dispatching"

    await wait_until(dispatched, within=WAIT)

    demo.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(demo.proc.wait, WAIT) == 0, demo.output()
