"""Fixtures of the rollout tests: promtool for the backfilled history."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra_harness import require_binary


@pytest.fixture(scope="session")
def promtool() -> Path:
    return require_binary("promtool")
