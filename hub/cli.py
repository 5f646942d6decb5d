"""``python -m hub``: serve, migrate, token, demo-seed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import asyncpg
from aiohttp import web

from hub import logs
from hub.auth import Role, issue_token
from hub.settings import ConfigError, Settings
from hub.storage.db import EmbeddedDatabaseUnavailable, open_database
from hub.storage.migrate import MigrationError, migrate

log = logging.getLogger("hub")

EXIT_CONFIG = 2  # bad configuration or usage, as argparse does


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, settings.log_format)
        result: int = args.run(args, settings)
        return result
    except ConfigError as exc:
        print(f"hub: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (EmbeddedDatabaseUnavailable, MigrationError) as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # Start-up could not reach or use the database: one line, not a traceback.
        print(f"hub: database unavailable: {exc!r}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hub",
        description="Real-time messaging and notification hub. Configuration comes from HUB_* "
        "environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the hub (HTTP API and Socket.IO)")
    serve.add_argument("--host", help="interface to listen on (default: HUB_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=_port, help="port to listen on (default: HUB_PORT or 8080)")
    serve.set_defaults(run=_serve)

    migrate_cmd = commands.add_parser("migrate", help="apply pending database migrations and exit")
    migrate_cmd.set_defaults(run=_migrate)

    demo = commands.add_parser(
        "demo-seed", help="apply migrations, then load the demo catalog, workers and customers (idempotent)"
    )
    demo.set_defaults(run=_demo_seed)

    token = commands.add_parser(
        "token", help="print a signed JWT for development and tests (stdout holds only the token)"
    )
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--sub", required=True, help="user id (the token's sub claim)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(run=_token)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from hub.app import build_app

    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    app = build_app(settings)
    log.info("hub starting on http://%s:%d", host, port)
    web.run_app(
        app,
        host=host,
        port=port,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        print=None,
        access_log=logging.getLogger("aiohttp.access"),
    )
    log.info("hub stopped")
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> list[str]:
        database = await open_database(settings)
        try:
            async with database.pool.acquire() as conn:
                return await migrate(conn)
        finally:
            await database.close()

    applied = asyncio.run(run())
    log.info("applied %d migration(s)%s", len(applied), f": {', '.join(applied)}" if applied else "")
    return 0


def _demo_seed(args: argparse.Namespace, settings: Settings) -> int:
    from bookings.seed import SeedSummary, seed

    async def run() -> SeedSummary:
        database = await open_database(settings)
        try:
            async with database.pool.acquire() as conn:
                await migrate(conn)
                return await seed(conn)
        finally:
            await database.close()

    summary = asyncio.run(run())
    print(
        f"demo data loaded: {summary.categories} categories, {summary.services} services, "
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


def _token(args: argparse.Namespace, settings: Settings) -> int:
    if args.ttl <= 0:
        raise ConfigError("--ttl", "must be a positive number of seconds")
    print(issue_token(settings, role=Role(args.role), sub=args.sub, ttl_seconds=args.ttl))
    return 0


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return port
