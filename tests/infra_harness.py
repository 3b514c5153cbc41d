"""Helpers of the real-server test harness, importable from any test module.

``require_binary`` is how a test asks for a server binary: outside CI a missing one skips the
test with the provisioning hint; under ``CI=true`` it fails, so CI never passes by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeVar

import pytest

from sre_cli.errors import MissingDependency

if TYPE_CHECKING:
    from sre_cli.infra.nginx import NginxServer
    from sre_cli.infra.prometheus import ConfigSource, PrometheusServer
    from sre_cli.infra.toxiproxy import ToxiproxyServer

T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(exc: MissingDependency) -> NoReturn:
    """Skip (fail under CI=true) because of a missing dependency, showing its hint."""
    message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    if in_ci():
        pytest.fail(f"missing dependency under CI: {message}", pytrace=False)
    pytest.skip(message)


def require(lookup: Callable[[], T]) -> T:
    """Run a lookup that may raise MissingDependency; skip or fail as :func:`missing` says."""
    try:
        return lookup()
    except MissingDependency as exc:
        missing(exc)


def require_binary(name: str) -> Path:
    """The path of server binary ``name`` (see :mod:`sre_cli.infra.binaries`)."""
    from sre_cli.infra import binaries

    return require(lambda: binaries.find(name))


class PrometheusFactory(Protocol):
    def __call__(
        self,
        config_yaml: ConfigSource,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        storage_dir: Path | None = None,
    ) -> PrometheusServer: ...


class NginxFactory(Protocol):
    def __call__(
        self, conf_text_builder: Callable[[int], str], *, port: int | None = None
    ) -> NginxServer: ...


class ToxiproxyFactory(Protocol):
    def __call__(self, upstreams: dict[str, int]) -> ToxiproxyServer: ...
