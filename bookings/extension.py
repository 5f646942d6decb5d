"""Bookings as a hub extension: its settings, migrations, routes, ``/worker`` events, outbox
subscribers, timers and its commands (``demo-seed``, ``ledger-check``, ``settle``,
``ratings-rebuild``), attached through ``hub.extension``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Self

from aiohttp import web

from bookings import api, monitor, orders, protocol
from bookings.complaint_events import ComplaintEvents
from bookings.config import BookingConfig, ComplaintsConfig, DispatchDefaults, PointsDefaults, ReviewConfig
from bookings.keys import BOOKINGS
from bookings.live import BookingLive, DispatchRequests
from bookings.payments.config import PaymentsConfig
from bookings.payments.registry import ProviderSettings
from bookings.payments.sandbox.mounted import mount as mount_sandboxes
from bookings.runtime import BookingsRuntime
from bookings.settlement.config import SettlementConfig
from bookings.support_events import SupportEvents
from bookings.worker_events import WorkerEvents
from hub.env import ConfigError
from hub.extension import Command, Extension
from hub.host import Host
from hub.keys import BUS, CONTEXT
from hub.settings import Settings
from hub.storage.db import open_database
from hub.storage.migrate import directories, migrate

LIVE_SUBSCRIBER = "bookings.live"  # stable: the outbox records deliveries under these names
DISPATCH_SUBSCRIBER = "bookings.dispatch"
SWEEP_JOB = "bookings-sweep"
SETTLE_JOB = "bookings-settle"


class BookingsExtension(Extension):
    name = "bookings"
    migrations = Path(__file__).with_name("migrations")

    def __init__(
        self,
        config: BookingConfig,
        dispatch: DispatchDefaults,
        payments: PaymentsConfig | None = None,
        providers: ProviderSettings | None = None,
        settlement: SettlementConfig | None = None,
        points: PointsDefaults | None = None,
        reviews: ReviewConfig | None = None,
        complaints: ComplaintsConfig | None = None,
    ) -> None:
        self.config = config
        self.dispatch = dispatch
        self.payments = payments or PaymentsConfig(public_url=None)
        self.providers = providers or ProviderSettings()
        self.settlement = settlement or SettlementConfig()
        self.points = points or PointsDefaults.from_env({})
        self.reviews = reviews or ReviewConfig()
        self.complaints = complaints or ComplaintsConfig.from_env({})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        payments, providers = PaymentsConfig.from_env(env), ProviderSettings.from_env(env)
        if real := [m for m in payments.sandbox if m in providers.configs]:
            raise ConfigError(
                "HUB_PAY_SANDBOX", f"{real[0]} is configured for real (HUB_PAY_{real[0].upper()}_*)"
            )
        return cls(
            BookingConfig.from_env(env),
            DispatchDefaults.from_env(env),
            payments,
            providers,
            SettlementConfig.from_env(env),
            points=PointsDefaults.from_env(env),
            reviews=ReviewConfig.from_env(env),
            complaints=ComplaintsConfig.from_env(env),
        )

    def attach(self, host: Host) -> None:
        app = host.app
        if self.payments.sandbox and self.payments.public_url:
            sandboxes = mount_sandboxes(app, self.payments.sandbox, self.payments.public_url)
            self.providers = ProviderSettings({**self.providers.configs, **sandboxes})
        host.add_operations(api.OPERATIONS)
        host.add_server_events(protocol.SERVER_EVENTS)
        WorkerEvents(host.namespace("/worker"), lambda: app[BOOKINGS]).attach()
        SupportEvents(host.namespace("/support"), lambda: app[BOOKINGS]).attach()
        ComplaintEvents(host.namespace("/support"), lambda: app[BOOKINGS].complaints).attach()
        host.hub.console.add_snapshot_part(
            "bookings", lambda: monitor.snapshot(app[BOOKINGS].pool, self.config.timezone)
        )
        host.add_service(self._run)

    async def _run(self, app: web.Application) -> AsyncIterator[None]:
        """Subscribers are registered before the outbox relay starts, so no event finds them missing."""
        hub, bus = app[CONTEXT], app[BUS]
        rt = app[BOOKINGS] = BookingsRuntime(
            hub,
            self.config,
            self.dispatch,
            self.payments,
            self.providers.build(),
            self.settlement,
            points_defaults=self.points,
            reviews=self.reviews,
            complaints=self.complaints,
        )
        hub.status_listeners.append(rt.remember_leave)
        # Busy is the system's, kept in bookings: put back whenever presence lost it (now too,
        # for the core restored the choices before any extension was running).
        hub.presence.keep_jobs_in(rt.jobs_in_progress)
        await hub.presence.restore_jobs()
        bus.subscribe(
            LIVE_SUBSCRIBER, BookingLive(hub.realtime, hub.console), topics=[orders.BOOKING_CHANGED]
        )
        bus.subscribe(
            DISPATCH_SUBSCRIBER, DispatchRequests(rt.dispatcher), topics=[orders.DISPATCH_REQUESTED]
        )
        # One booking's changes reach its people in the order they happened; bookings are independent.
        bus.order_by(orders.BOOKING_CHANGED, lambda payload: str(payload["booking"]["id"]))
        bus.order_by(orders.DISPATCH_REQUESTED, lambda payload: str(payload["booking_id"]))
        hub.timers.every(SWEEP_JOB, self.config.timer_sweep_seconds, rt.sweep)
        hub.timers.every(SETTLE_JOB, self.settlement.check_seconds, rt.settlement.settle_due)
        await rt.recover()
        yield
        await rt.payments.aclose()
        hub.timers.cancel(SWEEP_JOB)
        hub.timers.cancel(SETTLE_JOB)
        hub.status_listeners.remove(rt.remember_leave)
        with contextlib.suppress(Exception):
            bus.unsubscribe(LIVE_SUBSCRIBER)
            bus.unsubscribe(DISPATCH_SUBSCRIBER)

    @classmethod
    def commands(cls) -> list[Command]:
        return [
            Command(
                "demo-seed",
                "apply migrations, then load the demo catalog, workers and customers (idempotent)",
                _demo_seed,
            ),
            Command(
                "ledger-check",
                "check the ledger's invariants (balanced, no refund or payout beyond what came in)",
                _ledger_check,
            ),
            Command(
                "ratings-rebuild",
                "make workers' rating totals what their shown reviews add up to; print what changed",
                _ratings_rebuild,
                _ratings_rebuild_arguments,
            ),
            Command(
                "settle",
                "make the settlement statements of an ended period (a statement already made is kept)",
                _settle,
                _settle_arguments,
            ),
        ]


def _ledger_check(args: argparse.Namespace, settings: Settings) -> int:
    from bookings.payments.invariants import violations

    async def run() -> list[str]:
        database = await open_database(settings)
        try:
            async with database.maintenance() as conn:
                return await violations(conn)
        finally:
            await database.close()

    found = asyncio.run(run())
    for line in found:
        print(line)
    print("ledger: ok" if not found else f"ledger: {len(found)} violations")
    return 1 if found else 0


def _ratings_rebuild_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worker", metavar="ID", help="only this worker (default: every worker)")


def _ratings_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Totals are kept exact as reviews change; this finds and mends any that drifted (a fix by
    hand in SQL, a restored backup), and is safe while reviews are being written."""
    from bookings.reviews.ratings import Rebuild, rebuild

    async def run() -> Rebuild:
        database = await open_database(settings)
        try:
            # Its own connection, without the statement bound: every worker's reviews may take long.
            async with database.maintenance() as conn, conn.transaction():
                return await rebuild(conn, None if args.worker is None else [args.worker])
        finally:
            await database.close()

    done = asyncio.run(run())
    if args.worker is not None and done.checked == 0:
        print(f"hub: ratings-rebuild: no worker {args.worker!r}", file=sys.stderr)
        return 2
    for change in done.changed:
        print(f"worker {change.worker_id}: {change.was} -> {change.now}")
    print(f"ratings: {done.checked} workers checked, {len(done.changed)} changed")
    return 0


def _settle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", required=True, help="an ISO week (2026-W48) or a month (2026-11)")


def _settle(args: argparse.Namespace, settings: Settings) -> int:
    """One period by hand: the same run as the timer's, so running it again changes nothing."""
    from bookings.settlement import periods
    from bookings.settlement.service import Settlement, SettlementRun
    from hub.errors import Conflict

    try:
        period = periods.parse(args.period)
    except ValueError as exc:
        print(f"hub: settle: --period {args.period!r}: {exc}", file=sys.stderr)
        return 2
    extension = next((e for e in settings.extensions if isinstance(e, BookingsExtension)), None)
    if extension is None:
        print("hub: settle: the bookings extension is not loaded", file=sys.stderr)
        return 2

    async def run() -> SettlementRun:
        database = await open_database(settings)
        try:
            settlement = Settlement(database.pool, extension.settlement, extension.config.timezone)
            return await settlement.settle(period)
        finally:
            await database.close()

    try:
        done = asyncio.run(run())
    except Conflict as exc:
        print(f"hub: settle: {exc}", file=sys.stderr)
        return 2
    print(f"settled {done.period}: {done.statements} statements made, {done.payouts} payouts asked for")
    return 0


def _demo_seed(args: argparse.Namespace, settings: Settings) -> int:
    from bookings.seed import SeedSummary, seed

    async def run() -> SeedSummary:
        database = await open_database(settings)
        try:
            async with database.maintenance() as conn:
                await migrate(conn, *directories(settings.extensions))
                return await seed(conn)
        finally:
            await database.close()

    summary = asyncio.run(run())
    print(
        f"demo data loaded: {summary.categories} categories, {summary.services} services "
        f"({summary.synonyms} search synonyms), "
        f"{summary.workers} workers ({summary.bookable_workers} bookable), "
        f"{summary.certificates} certificates, {summary.reviews} reviews, "
        f"{summary.customers} customers with {summary.addresses} addresses"
    )
    print(f"customers: {', '.join(summary.customer_ids)}")
    print(f"workers: {summary.worker_ids[0]} .. {summary.worker_ids[-1]}")
    print(f"support agent: {summary.support_id}    admin: {summary.admin_id}")
    print("tokens:")
    for role, sub in (
        ("customer", summary.customer_ids[0]),
        ("worker", summary.worker_ids[0]),
        ("support", summary.support_id),
        ("admin", summary.admin_id),
    ):
        print(f"  python -m hub token --role {role} --sub {sub}")
    return 0


EXTENSION = BookingsExtension
