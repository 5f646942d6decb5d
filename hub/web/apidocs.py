"""The API reference pages: ``/api/docs``, Swagger UI on ``/api/v1/openapi.json``, and
``/api/docs/socketio``, the AsyncAPI React component on ``/api/v1/asyncapi.json``.

Both bundles are files of this package (``hub/web/reference/vendor``, copied from pinned npm
packages by ``clients/reference``), so the pages work offline, load nothing from elsewhere and need
no Node.js where the hub runs. They are served under ``/api/docs/assets/<fingerprint>/``, the
fingerprint being a hash of every file served there: a new version is a new address, so a browser
may keep each file for good. Only the files found in the folder when the hub starts are served:
a path is looked up in that table, never joined onto the folder, so nothing outside it can be named.

The pages themselves are small HTML written here, with no inline script, so that their
Content-Security-Policy admits scripts from the hub alone (and, on the AsyncAPI page, the ``eval``
its parser needs).
"""

from __future__ import annotations

import functools
import hashlib
import html
import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hub import errors
from hub.web.openapi import Handler

log = logging.getLogger(__name__)

ROOT = Path(__file__).with_name("reference")
PREFIX = "/api/docs"
ASSETS = PREFIX + "/assets/"
OPENAPI_DOCUMENT = "/api/v1/openapi.json"
ASYNCAPI_DOCUMENT = "/api/v1/asyncapi.json"
# Served as what they are, whatever the system's mime.types says. A file of another kind in the
# folder is not served.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE, VERSION
}
# The address changes with the content, so a browser never needs to ask again.
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
# The pages are small and name the current fingerprint: asked again each time.
PAGE_CACHE_CONTROL = "no-cache"
# Scripts and styles from the hub alone; both renderers set style attributes, hence
# 'unsafe-inline' for styles (never for scripts). Images: the renderers' icons are data: URIs.
POLICY = (
    "default-src 'none'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'self'",
)
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@dataclass(frozen=True, slots=True)
class Assets:
    """The files served under ``/api/docs/assets/<fingerprint>/``, by path relative to the folder."""

    fingerprint: str
    files: dict[str, Path]

    def url(self, name: str) -> str:
        if name not in self.files:
            raise LookupError(f"{name} is not in {ROOT}: run npm run build in clients/reference")
        return f"{ASSETS}{self.fingerprint}/{name}"


@functools.cache
def assets(root: Path = ROOT) -> Assets:
    """The folder's servable files (no hidden ones, no symbolic links, known types only) and a
    hash of their names and contents; read once per process, as the package does not change."""
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_symlink() or not path.is_file() or path.suffix.lower() not in CONTENT_TYPES:
            continue
        files[relative.as_posix()] = path
    digest = hashlib.sha256()
    for name, path in files.items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return Assets(digest.hexdigest()[:16], files)


@dataclass(frozen=True, slots=True)
class Reference:
    """One of the two pages."""

    path: str
    title: str
    link_text: str
    document: str
    stylesheets: tuple[str, ...]
    scripts: tuple[str, ...]
    # The AsyncAPI component's parser compiles JSON Schemas into functions (ajv) and fails without
    # eval; Swagger UI needs none, so its page does not allow it.
    needs_eval: bool = False

    @property
    def content_security_policy(self) -> str:
        scripts = "script-src 'self' 'unsafe-eval'" if self.needs_eval else "script-src 'self'"
        return "; ".join((scripts, *POLICY))


OPENAPI_PAGE = Reference(
    path=PREFIX,
    title="HTTP API reference",
    link_text="HTTP API",
    document=OPENAPI_DOCUMENT,
    stylesheets=("vendor/swagger-ui/swagger-ui.css",),
    scripts=("vendor/swagger-ui/swagger-ui-bundle.js", "openapi.js"),
)
ASYNCAPI_PAGE = Reference(
    path=PREFIX + "/socketio",
    title="Socket.IO protocol reference",
    link_text="Socket.IO protocol",
    document=ASYNCAPI_DOCUMENT,
    stylesheets=("vendor/asyncapi-react/default.min.css",),
    scripts=("vendor/asyncapi-react/index.js", "asyncapi.js"),
    needs_eval=True,
)
PAGES = (OPENAPI_PAGE, ASYNCAPI_PAGE)


def add_routes(app: web.Application) -> None:
    """The two pages and their assets; a hub whose package lacks the bundles fails here, at start."""
    found = assets()
    for page in PAGES:
        for name in (*page.stylesheets, *page.scripts, "reference.css"):
            found.url(name)
    app.router.add_get(PREFIX, _handler(OPENAPI_PAGE))
    app.router.add_get(PREFIX + "/", _to_first_page)
    app.router.add_get(ASYNCAPI_PAGE.path, _handler(ASYNCAPI_PAGE))
    app.router.add_get(ASSETS + "{fingerprint}/{name:.+}", asset)


async def _to_first_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(PREFIX)


def _handler(page: Reference) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=render(page, assets()),
            content_type="text/html",
            charset="utf-8",
            headers={
                "Cache-Control": PAGE_CACHE_CONTROL,
                "Content-Security-Policy": page.content_security_policy,
                **SECURITY_HEADERS,
            },
        )

    return handle


async def asset(request: web.Request) -> web.StreamResponse:
    """A file of the folder under the current fingerprint; 404 ``asset_not_found`` for anything
    else, an older fingerprint included (its files are gone)."""
    found = assets()
    path = found.files.get(request.match_info["name"])
    if request.match_info["fingerprint"] != found.fingerprint or path is None:
        raise errors.NotFound("no such file of the API reference", code="asset_not_found")
    # Sent as they are (sendfile, with an ETag and ranges): aiohttp's compression on the fly would
    # also wrap a 304 in a gzip trailer, which corrupts the connection. A browser fetches the
    # bundles (5 MB) once per version; a proxy in front may compress them.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES[path.suffix.lower()],
            "Cache-Control": ASSET_CACHE_CONTROL,
            **SECURITY_HEADERS,
        },
    )


def render(page: Reference, found: Assets) -> str:
    """The page's HTML: the bar (the hub's front page, both references, the raw document), then
    the element the renderer fills, then the scripts, in order."""
    current = ' aria-current="page"'
    links = "\n".join(
        f'    <a href="{other.path}"{current if other is page else ""}>{html.escape(other.link_text)}</a>'
        for other in PAGES
    )
    styles = "\n".join(
        f'<link rel="stylesheet" href="{found.url(name)}">' for name in (*page.stylesheets, "reference.css")
    )
    scripts = "\n".join(f'<script src="{found.url(name)}" defer></script>' for name in page.scripts)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(page.title)} · Home-services hub</title>
<link rel="icon" href="data:,">
{styles}
{scripts}
</head>
<body>
<header class="reference-bar">
  <a class="home" href="/">Home-services hub</a>
  <nav aria-label="API reference">
{links}
  </nav>
  <a class="raw" href="{page.document}">{page.document}</a>
</header>
<main id="reference" data-document="{page.document}">
  <p class="reference-note" id="reference-loading">Reading {page.document}…</p>
  <noscript><p class="reference-note">This page needs JavaScript. The document itself is at
  <a href="{page.document}">{page.document}</a>.</p></noscript>
</main>
</body>
</html>
"""
