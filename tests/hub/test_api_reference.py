"""The API reference pages (``hub.web.apidocs``) over real HTTP: both pages, every file they load
served from the package with its type and a fingerprinted address kept for good, nothing else
under ``/api/docs/assets/`` (no other fingerprint, no path out of the folder), the front page's
links, and the package data that ships the files. Whether the pages render is for
``tests/browser/test_reference_pages.py``."""

from __future__ import annotations

import glob
import re
import tomllib
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict
from yarl import URL

from hub.web import apidocs
from tests.support.hubs import ROOT, RunningHub, StartHub

REFERENCE = ROOT / "hub" / "web" / "reference"
BUNDLE = "vendor/asyncapi-react/index.js"
# What a path out of the folder would reach.
OUTSIDE = Path(apidocs.__file__).read_bytes()
# <script src="…"> and <link rel="stylesheet" href="…">
LOADED = re.compile(r'<(?:script\b|link rel="stylesheet")[^>]*\b(?:src|href)="([^"]+)"')


async def fetch(
    url: str | URL, *, redirects: bool = True, **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, allow_redirects=redirects, headers=headers) as response,
    ):
        return response.status, CIMultiDict(response.headers), await response.read()


@pytest.fixture
async def hub(start_hub: StartHub) -> RunningHub:
    running: RunningHub = await start_hub()
    return running


async def test_both_pages_name_their_document_and_each_other(hub: RunningHub) -> None:
    for page, document, other in (
        ("/api/docs", "/api/v1/openapi.json", "/api/docs/socketio"),
        ("/api/docs/socketio", "/api/v1/asyncapi.json", "/api/docs"),
    ):
        status, headers, body = await fetch(hub.url + page)
        assert status == 200, page
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Cache-Control"] == "no-cache"
        assert headers["X-Content-Type-Options"] == "nosniff"
        text = body.decode()
        assert f'data-document="{document}"' in text
        assert f'href="{other}"' in text
        assert 'href="/"' in text
        assert f'href="{page}" aria-current="page"' in text
        assert "<script>" not in text  # no inline script: the policy admits none
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text), "a page loads from elsewhere"

        status, document_headers, _ = await fetch(hub.url + document)
        assert status == 200
        assert document_headers["Content-Type"].startswith("application/json")

    # Scripts from the hub only; eval only where the AsyncAPI parser needs it.
    _, headers, _ = await fetch(hub.url + "/api/docs")
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "default-src 'none'" in policy
    _, headers, _ = await fetch(hub.url + "/api/docs/socketio")
    assert "script-src 'self' 'unsafe-eval';" in headers["Content-Security-Policy"]

    status, headers, _ = await fetch(hub.url + "/api/docs/", redirects=False)
    assert (status, headers["Location"]) == (308, "/api/docs")


async def test_every_file_a_page_loads_is_served_from_the_package(hub: RunningHub) -> None:
    fingerprint = apidocs.assets().fingerprint
    loaded: set[str] = set()
    for page in ("/api/docs", "/api/docs/socketio"):
        _, _, body = await fetch(hub.url + page)
        loaded |= set(LOADED.findall(body.decode()))
    assert loaded == {
        f"/api/docs/assets/{fingerprint}/{name}"
        for name in (
            "reference.css",
            "openapi.js",
            "asyncapi.js",
            "vendor/swagger-ui/swagger-ui-bundle.js",
            "vendor/swagger-ui/swagger-ui.css",
            "vendor/asyncapi-react/index.js",
            "vendor/asyncapi-react/default.min.css",
        )
    }
    for url in sorted(loaded):
        name = url.removeprefix(f"/api/docs/assets/{fingerprint}/")
        status, headers, body = await fetch(hub.url + url)
        assert status == 200, url
        expected = "text/javascript" if name.endswith(".js") else "text/css"
        assert headers["Content-Type"] == f"{expected}; charset=utf-8", url
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert body == (REFERENCE / name).read_bytes(), url

    # Asked again with its ETag, not sent again.
    bundle = f"{hub.url}/api/docs/assets/{fingerprint}/{BUNDLE}"
    status, headers, _ = await fetch(bundle)
    status, _, body = await fetch(bundle, **{"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    # The connection is still good after the 304 (nothing but the status line and headers was sent).
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(bundle, headers={"If-None-Match": headers["ETag"]}) as response:
                assert response.status == 304
        async with session.get(bundle) as response:
            assert await response.read() == (REFERENCE / BUNDLE).read_bytes()


async def test_nothing_else_is_served_under_the_assets(hub: RunningHub) -> None:
    fingerprint = apidocs.assets().fingerprint
    base = f"{hub.url}/api/docs/assets/{fingerprint}/"
    for tail in (
        "missing.js",
        "vendor",
        "vendor/",
        "vendor/swagger-ui/",
        "../apidocs.py",
        "%2e%2e/apidocs.py",
        "..%2Fapidocs.py",
        "vendor/..%2F..%2Fapidocs.py",
        "vendor/swagger-ui/..%2F..%2F..%2Fapidocs.py",
        "%2Fetc%2Fpasswd",
        "..\\apidocs.py",
    ):
        # As written, dot segments and escapes included: no client-side normalisation.
        status, headers, body = await fetch(URL(base + tail, encoded=True), redirects=False)
        assert status == 404, tail
        assert headers["Content-Type"].startswith("application/json"), tail
        assert OUTSIDE not in body
    status, answer = await hub.http("GET", f"/api/docs/assets/{fingerprint}/missing.js")
    assert (status, answer["error"]["code"]) == (404, "asset_not_found")
    # A fingerprint that is not the current one: an older version's files are not these.
    status, answer = await hub.http("GET", "/api/docs/assets/0123456789abcdef/openapi.js")
    assert (status, answer["error"]["code"]) == (404, "asset_not_found")
    status, answer = await hub.http("POST", f"/api/docs/assets/{fingerprint}/openapi.js")
    assert status == 405, answer


def test_only_the_folders_servable_files_are_listed(tmp_path: Path) -> None:
    (tmp_path / "vendor" / "x").mkdir(parents=True)
    (tmp_path / "vendor" / "x" / "bundle.js").write_text("ok")
    (tmp_path / "vendor" / "x" / "LICENSE").write_text("ok")
    (tmp_path / "page.css").write_text("ok")
    (tmp_path / ".hidden.js").write_text("no")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.js").write_text("no")
    (tmp_path / "tool.py").write_text("no")
    (tmp_path / "outside.js").write_text("no")
    (tmp_path / "link.js").symlink_to(tmp_path / "outside.js")
    (tmp_path / "outside.js").unlink()
    (tmp_path / "elsewhere.js").write_text("no")
    (tmp_path / "alias.js").symlink_to(tmp_path / "elsewhere.js")
    found = apidocs.assets.__wrapped__(tmp_path)
    assert set(found.files) == {"vendor/x/bundle.js", "vendor/x/LICENSE", "page.css", "elsewhere.js"}
    # The fingerprint follows the content.
    before = found.fingerprint
    (tmp_path / "page.css").write_text("changed")
    assert apidocs.assets.__wrapped__(tmp_path).fingerprint != before


async def test_the_front_page_links_to_both_references(hub: RunningHub) -> None:
    status, _, body = await fetch(hub.url + "/")
    assert status == 200
    assert b'<a href="/api/docs">API reference: the HTTP API</a>' in body
    assert b'<a href="/api/docs/socketio">API reference: the Socket.IO protocol</a>' in body


def test_the_package_ships_every_file_of_the_folder() -> None:
    """pyproject's package data covers what ``assets()`` serves, so ``pip install .`` has it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["hub.web"]
    shipped = {
        Path(match).as_posix()
        for pattern in patterns
        for match in glob.glob(pattern, root_dir=ROOT / "hub" / "web")
        if (ROOT / "hub" / "web" / match).is_file()
    }
    served = {f"reference/{name}" for name in apidocs.assets().files}
    assert served <= shipped, served - shipped
    assert "reference/vendor/asyncapi-react/index.js" in served
    assert "reference/vendor/swagger-ui/swagger-ui-bundle.js" in served
