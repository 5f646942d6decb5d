"""``python -m hub``: serve, demo, migrate, token, and the commands extensions add (``demo-seed``)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import asyncpg

from hub import __version__, extension, logs
from hub.auth import Role, issue_token
from hub.env import ConfigError
from hub.extension import Extension
from hub.settings import Settings, read_workers
from hub.storage.db import EmbeddedDatabaseUnavailable, open_database
from hub.storage.migrate import MigrationError, directories, migrate

if TYPE_CHECKING:
    from hub.workers import WorkerRole

log = logging.getLogger("hub")

EXIT_CONFIG = 2  # bad configuration or usage, as argparse does
# Demo mode lets anyone log in as anyone: this machine only, unless asked otherwise.
DEMO_HOST = "127.0.0.1"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # The extensions are known before the arguments: they add commands.
        extensions = extension.load(extension.names_from_env(os.environ))
    except ConfigError as exc:
        print(f"hub: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    args = _parser(extensions).parse_args(argv)
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


def _parser(extensions: Sequence[type[Extension]]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hub",
        description="Real-time messaging and notification hub. Configuration comes from HUB_* "
        "environment variables (see docs/configuration.md).",
    )
    parser.add_argument("--version", action="version", version=f"homeservices-hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the hub (HTTP API and Socket.IO)")
    serve.add_argument("--host", help="interface to listen on (default: HUB_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=_port, help="port to listen on (default: HUB_PORT or 8080)")
    serve.add_argument(
        "--workers",
        type=_workers,
        help="hub processes sharing the port, or 'auto' for one per CPU; more than 1 needs "
        "HUB_REDIS_URL (default: HUB_WORKERS or 1)",
    )
    serve.set_defaults(run=_serve)

    demo = commands.add_parser(
        "demo",
        help="run the hub for trying it in a browser: the demo data, payment sandboxes and a login "
        "for anyone (development only)",
    )
    demo.add_argument("--host", help=f"interface to listen on (default: HUB_HOST or {DEMO_HOST})")
    demo.add_argument("--port", type=_port, help="port to listen on (default: HUB_PORT or 8080)")
    demo.set_defaults(run=_demo)

    migrate_cmd = commands.add_parser("migrate", help="apply pending database migrations and exit")
    migrate_cmd.set_defaults(run=_migrate)

    for kind in extensions:
        for command in kind.commands():
            added = commands.add_parser(command.name, help=f"{command.help} [{kind.name}]")
            if command.arguments is not None:
                command.arguments(added)
            added.set_defaults(run=command.run)

    token = commands.add_parser(
        "token", help="print a signed JWT for development and tests (stdout holds only the token)"
    )
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--sub", required=True, help="user id (the token's sub claim)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(run=_token)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    # Imported here, as the application is: `token` and `migrate` do not load the hub's server.
    from hub import workers

    role = workers.WorkerRole.from_env()
    if role is not None:
        return _run_worker(settings, host, port, role)
    count = settings.workers if args.workers is None else args.workers
    if count == 1:
        return _run_hub(settings, host, port)
    from hub.web import serving

    try:
        return workers.serve(settings, host, port, count)
    except serving.CannotListen as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _run_worker(settings: Settings, host: str, port: int, role: WorkerRole) -> int:
    """One of the hub processes of ``serve --workers`` (``hub.workers``): a whole hub node that
    shares the port, dies with its supervisor, and tells it once it serves."""
    role.die_with_parent()
    logs.configure(settings.log_level, settings.log_format, worker=role.index)
    return _run_hub(settings, host, port, on_started=lambda addresses: role.tell_serving(), worker=role.index)


def _run_hub(
    settings: Settings,
    host: str,
    port: int,
    on_started: Callable[[list[tuple[str, int]]], None] | None = None,
    worker: int | None = None,
) -> int:
    from hub.app import build_app
    from hub.keys import METRICS
    from hub.web import loops, serving

    app = build_app(settings)
    if worker is not None:
        app[METRICS].identify_worker(worker, os.getpid())
    log.info("hub starting on http://%s:%d", host, port)
    try:
        serving.run(
            app,
            host=host,
            port=port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            on_started=on_started,
            reuse_port=worker is not None,
            loop_factory=loops.loop_factory(settings.event_loop),
        )
    except serving.CannotListen as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # Everything is closed. What the hub's thousands of sockets left is garbage in cycles (the
    # collector runs rarely, hub.app.GC_THRESHOLDS), which the interpreter's final collection
    # took 1.7 s to go through after a node with 5,000 sockets stopped; the memory goes back to
    # the system with the process anyway.
    gc.freeze()
    log.info("hub stopped")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    """``serve`` in demo mode, with what each extension asks for a demo (``Extension.demo_env``)
    under whatever the environment sets itself."""
    from hub.web import demo

    defaults: dict[str, str] = {"HUB_HOST": DEMO_HOST}
    for loaded in settings.extensions:
        defaults.update(type(loaded).demo_env())
    env = {**defaults, **os.environ}
    if args.host:
        env["HUB_HOST"] = args.host
    if args.port is not None:
        env["HUB_PORT"] = str(args.port)  # also where the payment sandboxes are reached
    settings = dataclasses.replace(Settings.from_env(env), demo_mode=True)
    log.warning("demo mode: the demo login signs a token for anyone who asks; never use it in production")

    def started(addresses: list[tuple[str, int]]) -> None:
        print(demo.banner(settings, addresses), flush=True)

    return _run_hub(settings, settings.host, settings.port, started)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> list[str]:
        database = await open_database(settings)
        try:
            async with database.maintenance() as conn:
                return await migrate(conn, *directories(settings.extensions))
        finally:
            await database.close()

    applied = asyncio.run(run())
    log.info("applied %d migration(s)%s", len(applied), f": {', '.join(applied)}" if applied else "")
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    if args.ttl <= 0:
        raise ConfigError("--ttl", "must be a positive number of seconds")
    print(issue_token(settings, role=Role(args.role), sub=args.sub, ttl_seconds=args.ttl))
    return 0


def _workers(value: str) -> int:
    try:
        return read_workers("--workers", value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc.reason}; or 'auto'") from None


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return port
