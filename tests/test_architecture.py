"""The layering contracts of ``make lint`` (import-linter, ``[tool.importlinter]``) hold, and a
reverse import breaks them: the check is proven to fail, not only to pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hubs import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break on purpose."""
    for package in ("hub", "bookings"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    done = lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("hub/desk.py", "import bookings.runtime", "The real-time core never imports an extension"),
        ("hub/chat/service.py", "from aiohttp import web", "Domain modules know nothing of aiohttp"),
        ("bookings/pricing.py", "import socketio", "Domain modules know nothing of aiohttp"),
        ("hub/storage/outbox.py", "import hub.outbox", "No import cycles between the modules of a package"),
    ],
)
def test_a_reverse_import_fails_the_lint(tree: Path, module: str, line: str, contract: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    done = lint_imports(tree)
    assert done.returncode != 0
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
