"""The application factory: aiohttp app, Socket.IO server, database, background workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from aiohttp import web

from hub import desk, memory
from hub.auth import build_verifier
from hub.bus import Bus
from hub.chat.service import ChatService
from hub.console import items
from hub.console import protocol as console_protocol
from hub.console.feed import ConsoleFeed, ItemsToConsole
from hub.console.protocol import ITEM_UPDATED
from hub.context import HubContext
from hub.fanout import FanoutLink
from hub.fanout_sharded import ShardedFanoutLink
from hub.host import Host
from hub.keys import BUS, CONTEXT, DATABASE, METRICS, RELAY, SETTINGS, SIO, VERIFIER
from hub.metrics import Metrics
from hub.namespaces.customer import CustomerNamespace
from hub.namespaces.server import HubServer, UnknownNamespace
from hub.namespaces.support import SupportNamespace
from hub.namespaces.worker import WorkerNamespace
from hub.outages import outage
from hub.outbox import Relay
from hub.presence import create_tracker
from hub.protocol import CUSTOMER, SERVER_EVENTS, SERVER_SHUTDOWN, SUPPORT, SYNC_REQUIRED, WORKER
from hub.push.inbox import NOTIFICATION_CREATED
from hub.push.notifier import Notifier
from hub.realtime import Realtime
from hub.rooms import LocalManager
from hub.settings import Settings
from hub.storage import console as console_store
from hub.storage import presence as presence_store
from hub.storage.db import open_database
from hub.storage.migrate import directories, migrate
from hub.web import apidocs, asyncapi, http
from hub.web import chat as chat_api
from hub.web import demo as demo_pages
from hub.web import push as push_api

log = logging.getLogger(__name__)

NAMESPACES = {CUSTOMER: CustomerNamespace, WORKER: WorkerNamespace, SUPPORT: SupportNamespace}
ASSIGNMENT_SWEEP_SECONDS = 10.0  # safety net for queue changes another node did not act on
GC_THRESHOLDS = (50_000, 20, 50)  # CPython's default is (700, 10, 10)
MEMORY_JOB = "release-memory"
NOTIFIER_SUBSCRIBER = "push.notifier"  # stable: the outbox records deliveries under this name
CONSOLE_SUBSCRIBER = "console.items"  # stable, likewise
CONSOLE_RETENTION_JOB = "console-retention"
SOCKETS_CLOSE_SECONDS = 2.0  # on shutdown, telling every socket and closing its transport
POOL_CLOSE_SECONDS = 2.0  # on shutdown, at most (and at most HUB_SHUTDOWN_TIMEOUT), closing the pool


def build_app(settings: Settings, *, bus: Bus | None = None) -> web.Application:
    """Build the hub. ``bus`` lets the caller register outbox subscribers before start-up."""
    app = web.Application(
        middlewares=[http.error_middleware],
        client_max_size=settings.max_payload_bytes,
        handler_args={"logger": http.ServerLog()},
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics = Metrics()
    app[VERIFIER] = verifier = build_verifier(settings)
    app[BUS] = bus = bus or Bus()
    app[SIO] = sio = _socketio_server(settings)
    sio.attach(app)
    hub = HubContext(
        settings=settings,
        metrics=metrics,
        verifier=verifier,
        sio=sio,
        realtime=Realtime(sio),
        presence=create_tracker(settings.presence, settings.redis_url, cluster=settings.redis_cluster),
    )
    hub.console_feed = ConsoleFeed(lambda: hub.pool, hub.realtime, hub.presence)
    app[CONTEXT] = hub
    namespaces = {path: kind(path, hub) for path, kind in NAMESPACES.items()}
    for namespace in namespaces.values():
        sio.register_namespace(namespace)
    sio.register_namespace(UnknownNamespace(list(NAMESPACES), metrics))
    content_type = "application/msgpack" if settings.serializer == "msgpack" else "application/json"
    app[asyncapi.PROTOCOL] = protocol = asyncapi.Protocol(namespaces, content_type)
    protocol.add_server_events(SERVER_EVENTS)
    protocol.add_server_events(console_protocol.SERVER_EVENTS)
    http.add_routes(app)
    asyncapi.add_routes(app)
    chat_api.add_routes(app)
    push_api.add_routes(app, settings.push)
    demo_pages.add_routes(app)
    apidocs.add_routes(app)
    host = Host(app, hub, bus, namespaces)
    for extension in settings.extensions:
        extension.attach(host)
    app.cleanup_ctx.extend([_database, _presence, _timers])
    # Extensions' services register their outbox subscribers, so they start before the relay.
    app.cleanup_ctx.extend(host.services)
    app.cleanup_ctx.extend([_relay, push_api.sender_context, _assignment_sweep])
    app.on_startup.extend([_tune_gc, _release_memory, _console_retention])
    app.on_shutdown.append(_disconnect_sockets)
    app.on_cleanup.append(_close_redis_manager)
    return app


def _socketio_server(settings: Settings) -> HubServer:
    origins: Any = None  # same origin only, unless HUB_CORS_ORIGINS says otherwise
    if settings.cors_origins == ("*",):
        origins = "*"
    elif settings.cors_origins:
        origins = list(settings.cors_origins)
    manager: LocalManager | FanoutLink | ShardedFanoutLink = LocalManager()
    if settings.redis_url and settings.redis_cluster:
        # On a Redis Cluster: one shard channel per room, each node listening to its rooms' only.
        manager = ShardedFanoutLink(
            settings.redis_url, settings.redis_channel, lambda cluster_wide: _tell_to_sync(sio, cluster_wide)
        )
    elif settings.redis_url:
        # Fan-out between hub nodes: every emit is published on Redis and delivered by the node
        # that holds the socket.
        manager = FanoutLink(
            settings.redis_url, settings.redis_channel, lambda cluster_wide: _tell_to_sync(sio, cluster_wide)
        )
    sio = HubServer(
        sockets=settings.sockets,
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=origins,
        serializer="msgpack" if settings.serializer == "msgpack" else "default",
        max_http_buffer_size=settings.max_payload_bytes,
        logger=False,
        engineio_logger=False,
    )
    return sio


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    database = await open_database(settings, chat_writer=True)
    try:
        async with database.maintenance() as conn:
            await migrate(conn, *directories(settings.extensions))
    except BaseException:
        await database.close()
        raise
    app[DATABASE] = database
    hub = app[CONTEXT]
    hub.database = database
    hub.chat_service = ChatService(
        database.pool,
        batch_max=settings.chat.batch_max,
        on_batch=app[METRICS].chat_batch,
        writer=database.chat_writer,
    )
    log.info("database ready (%s)", "embedded" if database.embedded else "external")
    yield
    await database.close(wait_seconds=min(POOL_CLOSE_SECONDS, settings.shutdown_timeout_seconds))


async def _presence(app: web.Application) -> AsyncIterator[None]:
    hub = app[CONTEXT]

    async def changed(change: Any) -> None:
        try:
            await desk.on_presence_change(hub, change)
        except Exception as exc:
            if outage(exc) is None:
                raise  # the tracker logs it with its traceback
            # The assignment sweep tries again; an outage is one line, not a traceback per change.
            log.warning("presence change of %s: backing service unavailable (%r)", change.state.user_id, exc)

    hub.presence.on_change(changed)
    hub.presence.keep_choices_in(lambda: presence_store.choices(hub.pool))
    await hub.presence.start()
    await hub.presence.restore_choices()
    yield
    await hub.presence.stop()


async def _timers(app: web.Application) -> AsyncIterator[None]:
    """The scheduler every timer of the hub and its extensions runs on (``hub.scheduler``)."""
    timers = app[CONTEXT].timers
    timers.start()
    yield
    timers.stop()


async def _relay(app: web.Application) -> AsyncIterator[None]:
    database, hub = app[DATABASE], app[CONTEXT]
    bus = app[BUS]
    bus.subscribe(
        NOTIFIER_SUBSCRIBER,
        Notifier(database.pool, hub.realtime.to_user, hub.presence.reachable),
        topics=[NOTIFICATION_CREATED],
    )
    bus.order_by(NOTIFICATION_CREATED, lambda payload: str(payload["user_id"]))  # in seq order per person
    bus.subscribe(CONSOLE_SUBSCRIBER, ItemsToConsole(hub.console, ITEM_UPDATED), topics=[items.ITEM_CHANGED])
    bus.order_by(
        items.ITEM_CHANGED, lambda payload: str(payload["item"]["id"])
    )  # one item's changes in order
    relay = Relay(database.pool, database.dsn, bus, app[SETTINGS].outbox, app[METRICS])
    app[RELAY] = relay
    relay.start()
    yield
    await relay.stop()
    bus.unsubscribe(NOTIFIER_SUBSCRIBER)
    bus.unsubscribe(CONSOLE_SUBSCRIBER)


async def _assignment_sweep(app: web.Application) -> AsyncIterator[None]:
    hub = app[CONTEXT]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(ASSIGNMENT_SWEEP_SECONDS)
            try:
                await desk.run_assignment(hub)
            except Exception as exc:
                if outage(exc) is None:
                    log.exception(
                        "support assignment sweep failed; retrying in %.0fs", ASSIGNMENT_SWEEP_SECONDS
                    )
                else:
                    log.warning(
                        "support assignment sweep: backing service unavailable (%r); retrying in %.0fs",
                        exc,
                        ASSIGNMENT_SWEEP_SECONDS,
                    )

    task = asyncio.create_task(sweep(), name="assignment-sweep")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if hub.assignment_passes is not None:
        await hub.assignment_passes.close()
    for pending in list(hub.tasks):
        pending.cancel()
    await asyncio.gather(*hub.tasks, return_exceptions=True)


async def _tune_gc(app: web.Application) -> None:
    """Fewer, cheaper garbage collections: with a thousand sockets a full collection walked every
    live object for 150-200 ms and freed nothing, which was the whole of the chat latency tail
    (bench/README.md). Objects alive after start-up (modules, app, pools) are frozen out of
    collection, and collections run less often; the hub's data lives in PostgreSQL, not in cycles."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _release_memory(app: web.Application) -> None:
    """Memory the hub no longer uses goes back to the system (``hub.memory``): large blocks as
    soon as they are freed, and once a minute what a burst of connections left."""
    memory.keep_large_blocks_mapped()
    sio = app[SIO]
    app[CONTEXT].timers.every(
        MEMORY_JOB, memory.RELEASE_EVERY_SECONDS, memory.Release(lambda: sio.connections_closed)
    )


async def _console_retention(app: web.Application) -> None:
    """The console stream forgets what is older than its retention (any node may prune)."""
    hub = app[CONTEXT]
    hours = app[SETTINGS].console_retention_hours

    async def prune() -> None:
        removed = await console_store.prune(hub.pool, hours)
        if removed:
            log.info("console stream: %d entries past %.0f h forgotten", removed, hours)

    hub.timers.every(CONSOLE_RETENTION_JOB, 3600.0, prune)


async def _disconnect_sockets(app: web.Application) -> None:
    """Tell every local socket why it is being dropped and close the transports, within
    ``SOCKETS_CLOSE_SECONDS`` whatever the number of sockets and whatever the clients do: what has
    not closed by then is aborted (``HubServer.drain``).

    Closing the Engine.IO transport (instead of a Socket.IO disconnect) makes socket.io-client
    reconnect on its own, so a rolling restart moves browsers and apps to another node. aiohttp
    has stopped listening by now: a client on long-polling between two polls is not told, its
    next poll is refused and it reconnects all the same.
    """
    sio = app[SIO]
    deadline = asyncio.get_running_loop().time() + SOCKETS_CLOSE_SECONDS
    notice = {"reason": "shutting_down", "message": "the hub is restarting; reconnect shortly"}
    untold = await sio.drain(SERVER_SHUTDOWN.name, notice, NAMESPACES, deadline)
    if untold:
        log.warning(
            "%d connections could not be told of the shutdown within %.0fs: they were dropped",
            untold,
            SOCKETS_CLOSE_SECONDS,
        )
    await sio.shutdown()


async def _close_redis_manager(app: web.Application) -> None:
    manager = app[SIO].manager
    if isinstance(manager, FanoutLink | ShardedFanoutLink):
        await manager.close()


async def _tell_to_sync(sio: socketio.AsyncServer, cluster_wide: bool) -> None:
    """The fan-out link is back (``hub.fanout``): sockets fetch what they missed with ``sync``."""
    notice = {"reason": "fanout_interrupted", "message": "live delivery was interrupted; send sync"}
    for path in NAMESPACES:
        await sio.emit(SYNC_REQUIRED.name, notice, namespace=path, ignore_queue=not cluster_wide)
