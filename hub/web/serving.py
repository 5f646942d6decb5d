"""How the hub's application is served: aiohttp's runner, with the errors aiohttp answers itself
in the JSON envelope.

aiohttp answers a request its parser refuses (a header or URL over 8 KB, a control character, a
bad method), and a failure past every middleware, in ``RequestHandler.handle_error``: outside the
application, so no middleware can change it, with a ``text/plain`` body. The request handlers of
``HubRunner`` answer with the same status and the body every other error of the hub has,
``{"error": {"code", "message"}}``, and still close the connection. Everything that serves the
hub uses it: ``python -m hub serve`` (``run``, hence the benchmarks) and the tests' server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from hub.web.http import error_response

KEEPALIVE_TIMEOUT_SECONDS = 75.0  # web.run_app's, which the hub was served with before
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


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    access_log: logging.Logger,
    on_started: Callable[[list[tuple[str, int]]], None] | None = None,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully: what ``web.run_app`` does,
    with ``HubRunner``. ``on_started`` is told the addresses listened on once requests are served."""

    async def serve() -> None:
        # A signal cancels this task alone, even while the application starts: the runner's
        # clean-up (the application's shutdown hooks, then shutdown_timeout for requests in
        # flight) runs while every other task still works, as with web.run_app.
        main = asyncio.current_task()
        assert main is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, main.cancel)
        runner = HubRunner(
            app,
            shutdown_timeout=shutdown_timeout,
            keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS,
            access_log=access_log,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            if on_started is not None:
                on_started([(str(a[0]), int(a[1])) for a in runner.addresses])
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(serve())
