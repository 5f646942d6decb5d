"""The demo pages (``clients/demo``) served by the hub at ``/demo/``: files with the types a browser
needs, folders by their ``index.html``, nothing outside the folder or hidden in it, no route when
the folder is absent; ``/`` links to them. Every module a page imports is one the hub serves, and
nothing is fetched from elsewhere."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import pytest

from tests.support.hubs import ROOT, StartHub
from tests.support.services import IN_CI

DEMO = ROOT / "clients" / "demo"
# import … from "x", import "x", import("x"), <script src="x">, <link href="x">
REFERENCE = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']|<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']"""
)


async def fetch(url: str, *, redirects: bool = True) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, allow_redirects=redirects) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_pages_are_served_with_their_types(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_DEMO_DIR=str(DEMO))

    status, headers, body = await fetch(hub.url + "/demo/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b'id="app-worker"' in body

    status, headers, body = await fetch(hub.url + "/demo/vendor/socket.io.esm.min.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")  # a module script needs it
    assert body == (DEMO / "vendor" / "socket.io.esm.min.js").read_bytes()
    assert headers["Cache-Control"] == "no-cache"

    status, headers, _ = await fetch(hub.url + "/demo/shared/style.css")
    assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/css")

    # A folder without its slash is redirected, so that its page's relative imports resolve in it.
    status, headers, _ = await fetch(hub.url + "/demo/support", redirects=False)
    assert (status, headers["Location"]) == (308, "/demo/support/")
    status, headers, _ = await fetch(hub.url + "/demo", redirects=False)
    assert (status, headers["Location"]) == (308, "/demo/")


async def test_nothing_outside_the_folder_or_hidden_in_it(start_hub: StartHub, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    (folder / "node_modules" / "x").mkdir(parents=True)
    (folder / "node_modules" / "x" / "index.js").write_text("secret")
    (folder / ".env").write_text("secret")
    (folder / "index.html").write_text("<p>demo</p>")
    (tmp_path / "outside.txt").write_text("secret")
    (folder / "link.txt").symlink_to(tmp_path / "outside.txt")
    hub = await start_hub(HUB_DEMO_DIR=str(folder))

    for path in (
        "/demo/.env",
        "/demo/node_modules/x/index.js",
        "/demo/%2e%2e/outside.txt",
        "/demo/..%2Foutside.txt",
        "/demo/link.txt",
        "/demo/missing.js",
        "/demo/index.html/",
    ):
        status, _, body = await fetch(hub.url + path, redirects=False)
        assert status == 404, path
        assert b"secret" not in body
    status, body = await hub.http("GET", "/demo/.env")
    assert (status, body["error"]["code"]) == (404, "page_not_found"), body
    status, _, body = await fetch(hub.url + "/demo/")
    assert (status, body) == (200, b"<p>demo</p>")


async def test_no_folder_no_route_and_the_front_page_links_to_the_demo(
    start_hub: StartHub, tmp_path: Path
) -> None:
    without = await start_hub(HUB_DEMO_DIR=str(tmp_path / "absent"))
    status, _, _ = await fetch(without.url + "/demo/")
    assert status == 404
    status, headers, body = await fetch(without.url + "/")
    assert status == 200
    assert b'href="/demo/"' not in body
    assert b'href="/api/v1/openapi.json"' in body

    with_demo = await start_hub(HUB_DEMO_DIR=str(DEMO))
    status, headers, body = await fetch(with_demo.url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b'href="/demo/"' in body


async def test_every_file_a_page_loads_is_served_and_none_comes_from_elsewhere(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_DEMO_DIR=str(DEMO))
    sources = [p for p in DEMO.rglob("*") if p.suffix in (".html", ".js") and "node_modules" not in p.parts]
    sources = [p for p in sources if p.parent.name != "vendor"]
    assert sources
    checked = 0
    for source in sources:
        page_url = hub.url + "/demo/" + source.relative_to(DEMO).as_posix()
        for match in REFERENCE.finditer(source.read_text(encoding="utf-8")):
            reference = match[1] or match[2]
            assert not re.match(r"^[a-z]+:|^//", reference), f"{source}: loads {reference} from elsewhere"
            if not reference.startswith("."):
                continue  # a route of the hub (/api/v1/...) or a bare name in a comment
            status, _, _ = await fetch(urljoin(page_url, reference))
            assert status == 200, f"{source}: {reference}"
            checked += 1
    assert checked >= 5


def test_every_page_module_parses() -> None:
    """``node --check`` on each module of the pages: a syntax error would leave a page blank."""
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("Node.js is needed to check the demo pages' modules", pytrace=False)
        pytest.skip("Node.js is not installed")
    modules = [p for p in DEMO.rglob("*.js") if "node_modules" not in p.parts and p.parent.name != "vendor"]
    assert len(modules) >= 8
    for module in modules:
        checked = subprocess.run(
            [node, "--check", "--input-type=module"],
            input=module.read_text(encoding="utf-8"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert checked.returncode == 0, f"{module}: {checked.stderr}"
