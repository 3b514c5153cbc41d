"""Find the server binaries aqua runs, and their versions.

Debian installs some of them off ``PATH`` (PostgreSQL's server tools live in
``/usr/lib/postgresql/<major>/bin``), so each binary has its own search list::

    >>> find("promtool")
    PosixPath('/usr/bin/promtool')
    >>> version("nginx")
    '1.22.1'

A missing binary raises :class:`~sre_cli.errors.MissingDependency` whose hint names the
Debian package that provides it; a component Debian does not package (Kafka's jars, Jaeger,
toxiproxy) names the shipped script that fetches or builds it, by its path in this installation.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sre_cli.defaults import script
from sre_cli.errors import MissingDependency
from sre_cli.infra import versions

__all__ = [
    "GO",
    "KNOWN",
    "Binary",
    "describe",
    "find",
    "jaeger",
    "jaeger_version",
    "kafka_libs",
    "script_hint",
    "toxiproxy",
    "toxiproxy_version",
    "version",
]

#: What the build scripts need: they build from Go modules.
GO = "needs Go: apt-get install golang-go"
_POSTGRES_TOOLS = (
    "postgres",
    "initdb",
    "pg_ctl",
    "pg_isready",
    "psql",
    "createdb",
    "pg_basebackup",
)


@dataclass(frozen=True)
class _Spec:
    package: str
    paths: tuple[str, ...]
    version_args: tuple[str, ...] = ("--version",)
    pattern: str = r"(\d+\.\d+(?:\.\d+)?)"


_SPECS: dict[str, _Spec] = {
    **{tool: _Spec("postgresql", (tool,)) for tool in _POSTGRES_TOOLS},
    "redis-server": _Spec(
        "redis-server", ("/usr/bin/redis-server", "redis-server"), pattern=r"v=(\d+\.\d+\.\d+)"
    ),
    "redis-cli": _Spec("redis-tools", ("/usr/bin/redis-cli", "redis-cli")),
    "prometheus": _Spec(
        "prometheus", ("/usr/bin/prometheus", "prometheus"), pattern=r"version (\d+\.\d+\.\d+)"
    ),
    "promtool": _Spec(
        "prometheus", ("/usr/bin/promtool", "promtool"), pattern=r"version (\d+\.\d+\.\d+)"
    ),
    "alertmanager": _Spec(
        "prometheus-alertmanager",
        ("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager", "alertmanager"),
        pattern=r"version (\d+\.\d+\.\d+)",
    ),
    "amtool": _Spec(
        "prometheus-alertmanager", ("/usr/bin/amtool", "amtool"), pattern=r"version (\d+\.\d+\.\d+)"
    ),
    "nginx": _Spec("nginx-light", ("/usr/sbin/nginx", "nginx"), ("-v",), r"nginx/(\d+\.\d+\.\d+)"),
    "java": _Spec("openjdk-17-jre-headless", ("java",), ("-version",), r'version "(\d+(?:\.\d+)*)'),
    "mvn": _Spec("maven", ("mvn",), ("-v",), r"Apache Maven (\d+\.\d+\.\d+)"),
}
_ALIASES = {"prometheus-alertmanager": "alertmanager"}

KNOWN: tuple[str, ...] = tuple(sorted(_SPECS))


@dataclass(frozen=True)
class Binary:
    """A binary found on this machine."""

    name: str
    path: Path
    version: str


def _spec(name: str) -> _Spec:
    try:
        return _SPECS[_ALIASES.get(name, name)]
    except KeyError:
        raise ValueError(f"unknown binary {name!r}; known: {', '.join(KNOWN)}") from None


def _postgres_bin_dirs() -> list[Path]:
    """``/usr/lib/postgresql/<major>/bin``, newest major first."""
    root = Path("/usr/lib/postgresql")
    majors = [p for p in root.glob("*/bin") if p.parent.name.isdigit()] if root.is_dir() else []
    return sorted(majors, key=lambda p: int(p.parent.name), reverse=True)


def _hint(name: str) -> str:
    package = _spec(name).package
    return f"install the Debian package {package}: apt-get install {package}"


def script_hint(name: str, what: str) -> str:
    """How to get a component Debian does not package: run the shipped script ``name`` (its
    path in this installation, a wheel's copy or the checkout's), which does ``what``."""
    return f"run {script(name)} ({what})"


@functools.cache
def find(name: str) -> Path:
    """The path of binary ``name``; :class:`MissingDependency` when it is not installed."""
    spec = _spec(name)
    candidates: list[Path] = []
    if name in _POSTGRES_TOOLS:
        candidates += [d / name for d in _postgres_bin_dirs()]
    for entry in spec.paths:
        if entry.startswith("/"):
            candidates.append(Path(entry))
        elif (resolved := shutil.which(entry)) is not None:
            candidates.append(Path(resolved))
    for path in candidates:
        if path.is_file() and path.stat().st_mode & 0o111:
            return path
    raise MissingDependency(f"{name} not found", hint=_hint(name))


@functools.cache
def version(name: str) -> str:
    """The version ``name`` reports about itself (``'15.14'``, ``'2.42.0'``)."""
    spec = _spec(name)
    path = find(name)
    try:
        done = subprocess.run(
            [str(path), *spec.version_args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependency(f"{name} at {path} does not run: {exc}", hint=_hint(name)) from exc
    match = re.search(spec.pattern, done.stdout + done.stderr)
    if match is None:
        raise MissingDependency(
            f"{name} at {path} printed no version (exit {done.returncode})", hint=_hint(name)
        )
    return match.group(1)


def describe(name: str) -> Binary:
    """Path and version of ``name`` together."""
    return Binary(name=name, path=find(name), version=version(name))


def kafka_libs(kafka_version: str | None = None) -> Path:
    """The directory of the pinned Kafka broker's jars, fetched by ``scripts/fetch-kafka``."""
    kafka_version = kafka_version or versions.kafka_version()
    libs = versions.kafka_libs_dir(kafka_version)
    if (
        not (libs / ".complete").is_file()
        or not (libs / f"kafka_2.13-{kafka_version}.jar").is_file()
    ):
        raise MissingDependency(
            f"Kafka {kafka_version} broker jars not found in {libs}",
            hint=script_hint(
                "fetch-kafka",
                "fetches them with maven; needs apt-get install maven openjdk-17-jre-headless",
            ),
        )
    return libs


def _built(name: str, directory: Path, binary: str, override_env: str, script_name: str) -> Path:
    """A binary a shipped script builds into ``directory/bin`` (``$override_env`` overrides);
    :class:`MissingDependency` naming the script while it is not (completely) built."""
    override = os.environ.get(override_env)
    if override:
        path = Path(override)
    else:
        path = directory / "bin" / binary
        if not (directory / ".complete").is_file():
            path = directory / ".missing"  # a half-finished build is not a binary
    if not (path.is_file() and path.stat().st_mode & 0o111):
        raise MissingDependency(
            f"{name} not found at {path}",
            hint=script_hint(script_name, f"builds it from its Go module; {GO}"),
        )
    return path


def jaeger(jaeger_version: str | None = None) -> Path:
    """The Jaeger binary built by ``scripts/build-jaeger`` (``$AQUA_JAEGER_BIN`` overrides)."""
    directory = versions.jaeger_dir(jaeger_version or versions.jaeger_version())
    return _built("jaeger", directory, "jaeger", "AQUA_JAEGER_BIN", "build-jaeger")


def toxiproxy(toxiproxy_version: str | None = None) -> Path:
    """``toxiproxy-server`` built by ``scripts/build-toxiproxy`` (``$AQUA_TOXIPROXY_BIN``
    overrides)."""
    directory = versions.toxiproxy_dir(toxiproxy_version or versions.toxiproxy_version())
    return _built(
        "toxiproxy-server", directory, "toxiproxy-server", "AQUA_TOXIPROXY_BIN", "build-toxiproxy"
    )


def _reported_version(name: str, path: Path, flag: str, pattern: str) -> str:
    """The version a built binary prints for ``flag`` (group 1 of ``pattern``)."""
    try:
        done = subprocess.run(
            [str(path), flag], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependency(f"{name} at {path} does not run: {exc}") from exc
    match = re.search(pattern, done.stdout + done.stderr)
    if match is None:
        raise MissingDependency(f"{name} at {path} printed no version (exit {done.returncode})")
    return match.group(1)


@functools.cache
def jaeger_version() -> str:
    """The version the Jaeger binary reports (``jaeger version``: a JSON line)."""
    return _reported_version("jaeger", jaeger(), "version", r'"gitVersion":\s*"v?([^"]+)"')


@functools.cache
def toxiproxy_version() -> str:
    """The version ``toxiproxy-server -version`` reports (``toxiproxy-server version v2.12.0``)."""
    return _reported_version(
        "toxiproxy-server", toxiproxy(), "-version", r"version v?(\d+\.\d+\.\d+)"
    )
