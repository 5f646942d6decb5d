"""The demo pages: the folder ``HUB_DEMO_DIR`` (``clients/demo`` by default, relative to the working
directory) served as static files at ``/demo/``, and a front page at ``/`` that links to them.

The pages are plain files (HTML, JavaScript modules, CSS and the vendored socket.io-client), read
from the folder at each request, so editing one needs no restart. A folder that is not there serves
nothing: ``/demo/`` is then simply not a route. Hidden files and ``node_modules`` (the build's own
packages) are never served.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from aiohttp import web

from hub import errors
from hub.keys import SETTINGS

log = logging.getLogger(__name__)

PREFIX = "/demo/"
DEMO_ROOT = web.AppKey("demo_root", Path)
# Served as what they are: a browser runs a module script only with a JavaScript type, whatever
# the system's mime.types says.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wav": "audio/wav",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
NEVER_SERVED = "node_modules"
# Pages change while someone works on them; the browser asks again each time (a 304 is cheap).
CACHE_CONTROL = "no-cache"


def add_routes(app: web.Application) -> None:
    """``/demo/`` when the folder exists, and ``/`` in any case."""
    root = app[SETTINGS].demo_dir.resolve()
    if root.is_dir():
        app[DEMO_ROOT] = root
        app.router.add_get("/demo", _to_folder)
        app.router.add_get(PREFIX + "{tail:.*}", page)
        log.info("demo pages served at %s from %s", PREFIX, root)
    app.router.add_get("/", front_page)


async def _to_folder(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(PREFIX)


async def page(request: web.Request) -> web.StreamResponse:
    """A file of the folder; a folder's ``index.html`` (its URL ending in ``/``, so that the
    page's relative imports resolve inside it)."""
    root = request.app[DEMO_ROOT]
    tail = request.match_info["tail"]
    target = _inside(root, tail)
    if target.is_dir():
        if tail and not tail.endswith("/"):
            raise web.HTTPPermanentRedirect(request.path + "/")
        target = target / "index.html"
    elif tail.endswith("/"):
        raise errors.NotFound("no such page", code="page_not_found")  # a file is not a folder
    if not target.is_file():
        raise errors.NotFound("no such page", code="page_not_found")
    content_type = CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
    return web.FileResponse(
        target,
        headers={
            "Content-Type": content_type,
            "Cache-Control": CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
        },
    )


def _inside(root: Path, tail: str) -> Path:
    """The path ``tail`` names under ``root``; 404 for anything that would leave it or is hidden."""
    parts = [part for part in tail.split("/") if part]
    if any(part.startswith(".") or part == NEVER_SERVED or "\\" in part for part in parts):
        raise errors.NotFound("no such page", code="page_not_found")
    target = root.joinpath(*parts).resolve()
    if not target.is_relative_to(root):
        raise errors.NotFound("no such page", code="page_not_found")
    return target


async def front_page(request: web.Request) -> web.Response:
    """What a browser finds at the hub's address: links to the demo pages and the documents."""
    links = [
        ("/api/v1/openapi.json", "HTTP API (OpenAPI)"),
        ("/api/v1/asyncapi.json", "Socket.IO protocol (AsyncAPI)"),
    ]
    if DEMO_ROOT in request.app:
        links.insert(0, (PREFIX, "Demo apps: customer, worker, support console"))
    items = "\n".join(f'    <li><a href="{href}">{html.escape(text)}</a></li>' for href, text in links)
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Home-services hub</title></head>
<body>
  <h1>Home-services hub</h1>
  <ul id="front-links">
{items}
  </ul>
</body>
</html>
"""
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": CACHE_CONTROL})
