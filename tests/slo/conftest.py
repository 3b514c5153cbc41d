"""Fixtures of the SLO tests: the promtool and amtool binaries (servers come from tests/), and a
client of the module's ``prom_url``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from infra_harness import require_binary

from sre_cli.prometheus import PrometheusClient


@pytest.fixture(scope="session")
def promtool() -> Path:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> Path:
    return require_binary("amtool")


@pytest.fixture
def prom(prom_url: str) -> Iterator[PrometheusClient]:
    with PrometheusClient(prom_url) as client:
        yield client
