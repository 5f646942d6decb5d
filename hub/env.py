"""Reading ``HUB_*`` environment variables: typed accessors whose failures name the variable.

Kept apart from ``hub.settings`` so that every settings reader (the core's, a backend's, an
extension's) can use it without importing the core's settings and what they pull in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path


class ConfigError(ValueError):
    """A ``HUB_*`` variable is missing, malformed or inconsistent with another one."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


class EnvReader:
    """Typed accessors over the environment; each failure names its variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def csv(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in (self.text(name) or "").split(",") if part.strip())

    def choice(self, name: str, options: tuple[str, ...], default: str, *, upper: bool = False) -> str:
        value = self.text(name) or default
        value = value.upper() if upper else value.lower()
        if value not in options:
            raise ConfigError(name, f"{value!r} is not one of {', '.join(options)}")
        return value

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        return int(self._number(name, int, default, minimum, maximum))

    def real(self, name: str, default: float, *, minimum: float | None = None) -> float:
        return self._number(name, float, default, minimum, None)

    def _number(
        self,
        name: str,
        kind: Callable[[str], float],
        default: float,
        minimum: float | None,
        maximum: float | None,
    ) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a valid {getattr(kind, '__name__', 'number')}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, got {raw}")
        if maximum is not None and value > maximum:
            raise ConfigError(name, f"must be at most {maximum}, got {raw}")
        return value

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in schemes:
            raise ConfigError(name, f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return value

    def pem(self, name: str) -> str | None:
        """A PEM key given inline or as a path to a file holding it."""
        value = self.text(name)
        if value is None or value.startswith("-----BEGIN"):
            return value
        path = Path(value).expanduser()
        try:
            content = path.read_text()
        except OSError as exc:
            raise ConfigError(name, f"neither a PEM key nor a readable file ({exc.strerror})") from None
        if "-----BEGIN" not in content:
            raise ConfigError(name, f"{path} does not contain a PEM key")
        return content
