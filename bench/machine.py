"""What the numbers were measured on besides the hub's code: the processor, Python and the client
and server libraries; and the hub itself, by a digest of its sources."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import hubproc


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def library_versions(names: Iterable[str]) -> dict[str, str]:
    versions = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def hub_source_digest() -> str:
    """The hub is identified by a digest of ``hub/**/*.py`` and ``*.sql``, since a benchmark
    outlives many commits."""
    digest = hashlib.sha256()
    for path in sorted(p for p in (hubproc.ROOT / "hub").rglob("*") if p.suffix in (".py", ".sql")):
        digest.update(path.relative_to(hubproc.ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
