"""How the hub's application is served: aiohttp's runner, with the errors aiohttp answers itself
in the JSON envelope.

aiohttp answers a request its parser refuses (a header or URL over 8 KB, a control character, a
bad method), and a failure past every middleware, in ``RequestHandler.handle_error``: outside the
application, so no middleware can change it, with a ``text/plain`` body. The request handlers of
``HubRunner`` answer with the same status and the body every other error of the hub has,
``{"error": {"code", "message"}}``, and still close the connection. Everything that serves the
hub uses it: ``python -m hub serve`` (``run``, hence the benchmarks) and the tests' server.

``run`` also writes the access log (``AccessLog``), and says so in one line when it cannot listen
where it was told to (``CannotListen``), before anything else starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from hub.logs import ACCESS_LOGGER
from hub.web import loops
from hub.web.http import error_response
from hub.web.loops import LoopFactory

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT_SECONDS = 75.0  # web.run_app's, which the hub was served with before
# Engine.IO's requests: every long-poll of a socket on polling, and a websocket's upgrade, which
# ends (and would be logged) when the socket does.
ENGINE_IO_PATH = "/socket.io/"
MALFORMED = "request_malformed"
HEAD_TOO_LARGE = "request_head_too_large"
INTERNAL_ERROR = "internal_error"


def refusal(status: int, exc: BaseException | None) -> tuple[str, str]:
    """The envelope's code and message for an error aiohttp answers itself."""
    if isinstance(exc, LineTooLong):
        # The URL and a header field overflow into the same exception: they cannot be told apart.
        return HEAD_TOO_LARGE, f"the request's URL or one of its headers is longer than {exc.args[1]} bytes"
    if status == HTTPStatus.INTERNAL_SERVER_ERROR:
        return INTERNAL_ERROR, "the server failed to handle this request"
    if status < 500:
        # The parser's first line ("Invalid header value char"), without the quote of the request.
        said = str(exc.message).strip() if isinstance(exc, HttpProcessingError) else ""
        reason = said.splitlines()[0].rstrip(":")[:200] if said else "it is not valid HTTP/1.1"
        return MALFORMED, f"the request could not be read: {reason}"
    phrase = HTTPStatus(status).phrase
    return phrase.lower().replace(" ", "_"), phrase


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's request handler, whose own answers to errors are in the envelope."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own: logs (hub.web.http.ServerLog keeps a refused request to one line), and
        # raises when part of a response has been sent already.
        super().handle_error(request, status, exc, message)
        code, text = refusal(status, exc)
        # The connection closes after the answer (aiohttp answers as HTTP/1.0, and says nothing).
        response = error_response(status, code, text, headers={"Connection": "close"})
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """aiohttp's server, whose connections are served by ``JsonErrorRequestHandler``."""

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class HubRunner(web.AppRunner):
    """``web.AppRunner`` with ``JsonErrorServer``."""

    async def _make_server(self) -> web.Server:
        # The application builds aiohttp's server (Application._make_handler); this one is built
        # with the same arguments.
        made = await super()._make_server()
        return JsonErrorServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )


class CannotListen(Exception):
    """The hub cannot listen on the address and port it was given (``HUB_HOST``, ``HUB_PORT``, or
    ``--host``, ``--port``); the message says why, for the operator."""


def cannot_listen(exc: OSError, host: str, port: int) -> CannotListen:
    if exc.errno == errno.EADDRINUSE:
        return CannotListen(f"port {port} is already in use (HUB_PORT / --port)")
    # asyncio's message repeats the address; the system's own says it once. A name that does not
    # resolve has a negative errno and only its own message.
    reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)
    return CannotListen(f"cannot listen on {host}:{port}: {reason} (HUB_HOST, HUB_PORT / --host, --port)")


async def check_can_listen(host: str, port: int) -> None:
    """Listen on ``host``:``port`` as aiohttp's site will, and stop at once: a port already taken
    (another hub, a second `make run`) is said before the database starts, not as a failure after
    it. ``CannotListen`` when it cannot."""
    try:
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, host, port)
    except OSError as exc:
        raise cannot_listen(exc, host, port) from exc
    server.close()
    await server.wait_closed()


class AccessLog(AbstractAccessLogger):
    """One line per HTTP request on the ``hub.access`` log, at INFO: method, path, status, bytes
    sent (headers included), duration and the peer's address, each also a field of the JSON line
    (``hub.logs.JsonFormatter``). The query string is left out: a client may put a token there, and
    payment providers put signatures there. Engine.IO's own requests are at DEBUG: a socket on
    long-polling makes one every few seconds, and a websocket's is written when the socket ends,
    with its whole lifetime as the duration."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.path
        fields = {
            "method": request.method,
            "path": path,
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 1),
            "remote": request.remote,
        }
        self.logger.log(
            logging.DEBUG if path.startswith(ENGINE_IO_PATH) else logging.INFO,
            "%s %s %d %dB %.1fms %s",
            fields["method"],
            path,
            fields["status"],
            fields["bytes"],
            fields["duration_ms"],
            fields["remote"],
            extra={"fields": fields},
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    on_started: Callable[[list[tuple[str, int]]], None] | None = None,
    reuse_port: bool = False,
    loop_factory: LoopFactory | None = None,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully: what ``web.run_app`` does,
    with ``HubRunner`` and ``AccessLog``. ``on_started`` is told the addresses listened on once
    requests are served. ``CannotListen`` when the port is taken or the address unusable.

    ``reuse_port``: listen with SO_REUSEPORT beside the other workers of ``serve --workers``
    (``hub.workers``), whose supervisor has checked the port. No trial listen then: a listening
    socket of the group that closes drops the connections the kernel queued on it.

    ``loop_factory``: the event loop to run on (``hub.web.loops``); None for asyncio's."""

    async def serve() -> None:
        # A signal cancels this task alone, even while the application starts: the runner's
        # clean-up (the application's shutdown hooks, then shutdown_timeout for requests in
        # flight) runs while every other task still works, as with web.run_app.
        main = asyncio.current_task()
        assert main is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, main.cancel)
        if not reuse_port:
            await check_can_listen(host, port)
        runner = HubRunner(
            app,
            shutdown_timeout=shutdown_timeout,
            keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS,
            access_log=logging.getLogger(ACCESS_LOGGER),
            access_log_class=AccessLog,
        )
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
            except OSError as exc:  # taken meanwhile
                raise cannot_listen(exc, host, port) from exc
            if on_started is not None:
                on_started([(str(a[0]), int(a[1])) for a in runner.addresses])
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(asyncio.CancelledError), asyncio.Runner(loop_factory=loop_factory) as runner:
        log.info("serving on the %s event loop", loops.loop_name(runner.get_loop()))
        runner.run(serve())
