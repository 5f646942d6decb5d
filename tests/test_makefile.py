"""What `make run` and `make test` install: running needs no dev tools, testing and linting add
them, and an install that has the dev extra serves `make run` too. Read from make's own plan of
what it would do (``make -n``) on a copy of the Makefile."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.hubs import ROOT

RUN_INSTALL = "pip install --quiet -e .\n"
DEV_INSTALL = "pip install --quiet -e '.[dev]'\n"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def plan(checkout: Path, target: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def installed(checkout: Path, *stamps: str) -> None:
    """A .venv as the Makefile leaves it, with these stamps, newer than pyproject.toml."""
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").touch()
    later = (checkout / "pyproject.toml").stat().st_mtime + 10
    for stamp in stamps:
        path = checkout / ".venv" / stamp
        path.touch()
        os.utime(path, (later, later))


def test_make_run_installs_what_running_needs(checkout: Path) -> None:
    run = plan(checkout, "run")
    assert "-m venv .venv" in run
    assert RUN_INSTALL in run
    assert "[dev]" not in run
    assert run.rstrip().endswith("-m hub serve")


@pytest.mark.parametrize("target", ["test", "lint"])
def test_make_test_and_lint_add_the_dev_extra(checkout: Path, target: str) -> None:
    assert DEV_INSTALL in plan(checkout, target)
    installed(checkout, ".installed-run")  # after a `make run`
    assert DEV_INSTALL in plan(checkout, target)


def test_an_install_with_the_dev_extra_serves_make_run(checkout: Path) -> None:
    installed(checkout, ".installed-dev", ".installed-run")
    assert "pip install" not in plan(checkout, "run")
    assert "pip install" not in plan(checkout, "test")
    # pyproject.toml changed since: both install again.
    later = (checkout / ".venv" / ".installed-dev").stat().st_mtime + 10
    os.utime(checkout / "pyproject.toml", (later, later))
    assert RUN_INSTALL in plan(checkout, "run")
    assert DEV_INSTALL in plan(checkout, "test")
