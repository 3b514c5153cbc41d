"""Pinned versions of components fetched outside Debian's packages (``scripts/versions.env``).

The file holds ``KEY=value`` lines; the bash scripts source it and this module parses it, so
one file pins each version::

    >>> pinned("KAFKA_VERSION")
    '4.3.1'
"""

from __future__ import annotations

import os
from pathlib import Path

from sre_cli.defaults import shipped
from sre_cli.errors import ConfigError

__all__ = [
    "cache_dir",
    "jaeger_dir",
    "jaeger_version",
    "kafka_libs_dir",
    "kafka_version",
    "load",
    "pinned",
    "toxiproxy_dir",
    "toxiproxy_version",
    "versions_file",
]


def versions_file() -> Path:
    """``$AQUA_VERSIONS_FILE``, else the shipped ``scripts/versions.env``."""
    return shipped("scripts/versions.env", "AQUA_VERSIONS_FILE")


def load(path: Path | None = None) -> dict[str, str]:
    """Parse ``KEY=value`` lines; blank lines and ``#`` comments are skipped."""
    path = path or versions_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"pinned versions file not found: {path}") from exc
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=value, got {raw!r}")
        result[key.strip()] = value.strip().strip("'\"")
    return result


def pinned(key: str, path: Path | None = None) -> str:
    """The value of ``key`` in the versions file; :class:`ConfigError` when absent."""
    values = load(path)
    if key not in values:
        raise ConfigError(f"{key} is not pinned in {path or versions_file()}")
    return values[key]


def cache_dir() -> Path:
    """Where built and downloaded things live: ``$AQUA_CACHE`` or ``~/.cache/aqua``."""
    override = os.environ.get("AQUA_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "aqua"


def kafka_version() -> str:
    return pinned("KAFKA_VERSION")


def kafka_libs_dir(version: str | None = None) -> Path:
    """The directory ``scripts/fetch-kafka`` fills with the broker's jars."""
    return cache_dir() / f"kafka-{version or kafka_version()}" / "libs"


def jaeger_version() -> str:
    return pinned("JAEGER_VERSION")


def jaeger_dir(version: str | None = None) -> Path:
    """The directory ``scripts/build-jaeger`` builds into (the binary is ``bin/jaeger``)."""
    return cache_dir() / f"jaeger-{version or jaeger_version()}"


def toxiproxy_version() -> str:
    return pinned("TOXIPROXY_VERSION")


def toxiproxy_dir(version: str | None = None) -> Path:
    """The directory ``scripts/build-toxiproxy`` builds into (``bin/toxiproxy-server``)."""
    return cache_dir() / f"toxiproxy-{version or toxiproxy_version()}"
