"""The demo pages: the folder ``HUB_DEMO_DIR`` (``clients/demo`` by default, relative to the working
directory) served as static files at ``/demo/``, and a front page at ``/`` that links to them; and
the development login of demo mode.

The pages are plain files (HTML, JavaScript modules, CSS and the vendored socket.io-client), read
from the folder at each request, so editing one needs no restart. A folder that is not there serves
nothing: ``/demo/`` is then simply not a route. Hidden files and ``node_modules`` (the build's own
packages) are never served.

In demo mode (``python -m hub demo``, ``Settings.demo_mode``) ``POST /api/v1/demo/login`` signs a
token for any person of the extensions' demo data (``Extension.demo_people``), without a password:
that is the point of a demo, and why the mode is never read from the environment. Otherwise both
demo routes answer 404 ``demo_mode_off``, whatever is sent.
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path

import pydantic
from aiohttp import web

from hub import errors
from hub.acks import Payload
from hub.auth import Role, issue_token
from hub.extension import DemoPerson
from hub.keys import SETTINGS
from hub.settings import Settings
from hub.web import apidocs
from hub.web.http import Reply
from hub.web.openapi import Operation, add_operations, read_body, reply

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
# A demo lasts an afternoon; the pages renew a token that runs out all the same.
DEMO_TOKEN_TTL_SECONDS = 12 * 3600
# The apps in clients/demo, as the demo command prints them.
APPS = (("Customer app", "customer/"), ("Worker app", "worker/"), ("Support console", "support/"))


def add_routes(app: web.Application) -> None:
    """``/demo/`` when the folder exists, ``/`` and the demo login in any case."""
    add_operations(app, OPERATIONS)
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
    """What a browser finds at the hub's address: links to the demo pages, the API reference
    pages and the documents they render."""
    links = [
        (apidocs.OPENAPI_PAGE.path, "API reference: the HTTP API"),
        (apidocs.ASYNCAPI_PAGE.path, "API reference: the Socket.IO protocol"),
        (apidocs.OPENAPI_DOCUMENT, "HTTP API (OpenAPI document)"),
        (apidocs.ASYNCAPI_DOCUMENT, "Socket.IO protocol (AsyncAPI document)"),
    ]
    if DEMO_ROOT in request.app:
        links.insert(0, (PREFIX, "Demo apps: customer, worker, support console"))
    items = "\n".join(f'    <li><a href="{href}">{html.escape(text)}</a></li>' for href, text in links)
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Home-services hub</title><link rel="icon" href="data:,"></head>
<body>
  <h1>Home-services hub</h1>
  <ul id="front-links">
{items}
  </ul>
</body>
</html>
"""
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": CACHE_CONTROL})


# The development login ---------------------------------------------------------------------------


class DemoLogin(Payload):
    role: Role
    sub: str = pydantic.Field(min_length=1, max_length=128)


class DemoPersonOut(Reply):
    role: Role
    sub: str
    name: str
    note: str


class DemoPeople(Reply):
    items: list[DemoPersonOut]
    next_cursor: None = pydantic.Field(description="Always null: the list has one page.")


class DemoSession(Reply):
    token: str = pydantic.Field(description="A JWT for the person, as `python -m hub token` signs.")
    role: Role
    sub: str
    name: str
    expires_at: int = pydantic.Field(description="Expiry of the token (Unix seconds).")


def people(settings: Settings) -> list[DemoPerson]:
    """Everyone the loaded extensions' demo data holds, in their order."""
    return [person for loaded in settings.extensions for person in loaded.demo_people()]


def _demo_only(request: web.Request) -> Settings:
    settings = request.app[SETTINGS]
    if not settings.demo_mode:
        raise errors.NotFound(
            "the hub is not in demo mode (python -m hub demo); tokens come from the platform's login",
            code="demo_mode_off",
        )
    return settings


async def list_people(request: web.Request) -> web.Response:
    """The demo's people, for the login page's picker."""
    settings = _demo_only(request)
    return reply(
        DemoPeople(
            items=[
                DemoPersonOut(role=Role(p.role), sub=p.sub, name=p.name, note=p.note)
                for p in people(settings)
            ],
            next_cursor=None,
        )
    )


async def login(request: web.Request) -> web.Response:
    """A token for one of the demo's people, no password asked (demo mode only)."""
    settings = _demo_only(request)
    wanted = await read_body(request, DemoLogin)
    person = next((p for p in people(settings) if (p.role, p.sub) == (wanted.role.value, wanted.sub)), None)
    if person is None:
        raise errors.NotFound(
            f"no {wanted.role.value} {wanted.sub!r} in the demo data", code="demo_person_not_found"
        )
    expires_at = int(time.time()) + DEMO_TOKEN_TTL_SECONDS
    token = issue_token(settings, role=wanted.role, sub=person.sub, ttl_seconds=DEMO_TOKEN_TTL_SECONDS)
    log.info("demo login: %s %s", person.role, person.sub)
    return reply(
        DemoSession(token=token, role=wanted.role, sub=person.sub, name=person.name, expires_at=expires_at)
    )


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/demo/people",
        list_people,
        summary="Demo mode only: the people of the demo data, whom the demo login signs tokens for",
        tag="demo",
        auth=False,
        responses={200: DemoPeople},
        errors=(404,),
        database=False,
        description="404 `demo_mode_off` unless the hub runs with `python -m hub demo`.",
    ),
    Operation(
        "POST",
        "/api/v1/demo/login",
        login,
        summary="Demo mode only: a token for one of the demo's people, without a password",
        tag="demo",
        auth=False,
        body=DemoLogin,
        responses={200: DemoSession},
        errors=(404, 422),
        database=False,
        description="404 `demo_mode_off` unless the hub runs with `python -m hub demo` (development "
        "only); 404 `demo_person_not_found` for someone not in the demo data.",
    ),
]


def banner(settings: Settings, addresses: list[tuple[str, int]]) -> str:
    """What ``python -m hub demo`` prints once it listens: the apps' addresses."""
    host, port = addresses[0] if addresses else (settings.host, settings.port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    lines = ["", "Demo mode (development only: anyone can log in as anyone)."]
    if settings.demo_dir.resolve().is_dir():
        lines += [f"  {name + ':':<17} {base}{PREFIX}{path}" for name, path in APPS]
    else:
        lines.append(f"  the demo pages are not served: no folder {settings.demo_dir} (HUB_DEMO_DIR)")
    lines += [f"  {'API reference:':<17} {base}{apidocs.PREFIX}", ""]
    return "\n".join(lines)
