"""The real-time core is tested alone: every hub here runs with ``HUB_EXTENSIONS=`` (empty) on a
database with the core's migrations only, so a core feature that leaned on an extension fails
here. Tests that are about extensions as a whole (the API documents) ask for them explicitly."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.storage.migrate import directories


@pytest.fixture
def migrations() -> tuple[Path, ...]:
    return directories()


@pytest.fixture
def extensions_env() -> dict[str, str]:
    return {"HUB_EXTENSIONS": ""}
