"""Fixtures of the SLO tests: the promtool and amtool binaries (servers come from tests/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra_harness import require_binary


@pytest.fixture(scope="session")
def promtool() -> Path:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> Path:
    return require_binary("amtool")
