"""The npm packages of ``tests/js`` (the official socket.io-client, the AsyncAPI JSON Schemas),
installed with ``npm ci`` from the lock file on first use."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.hubs import ROOT
from tests.support.services import IN_CI

JS_DIR = ROOT / "tests" / "js"


def js_packages() -> Path:
    """``tests/js/node_modules``, installed if missing; without Node.js a skip (a failure in CI)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if IN_CI:
            pytest.fail("Node.js and npm are needed for the tests that use tests/js", pytrace=False)
        pytest.skip("Node.js is not installed")
    modules = JS_DIR / "node_modules"
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    if any(not (JS_DIR / path).exists() for path in lock["packages"] if path):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=300)
    return modules


@cache
def asyncapi_schema(version: str = "3.0.0") -> dict[str, Any]:
    """The AsyncAPI Initiative's own JSON Schema of an AsyncAPI document (npm ``@asyncapi/specs``)."""
    path = js_packages() / "@asyncapi" / "specs" / "schemas" / f"{version}.json"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema
