"""A real-time messaging and notification hub for home-services platforms."""

from importlib.metadata import PackageNotFoundError, version

try:
    # One source of truth: pyproject.toml, as installed (`pip install -e .` included).
    __version__ = version("homeservices-hub")
except PackageNotFoundError:  # pragma: no cover - imported from a checkout that was never installed
    __version__ = "0+unknown"
