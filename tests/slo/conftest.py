"""Fixtures of the SLO tests: tool binaries, and Prometheus servers on backfilled history."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def tool(name: str) -> Path:
    """A binary the tests need; skip without it, but fail under CI=true."""
    try:
        from sre_cli.infra.binaries import find
    except ImportError:  # the infra library is optional for these tests
        found = shutil.which(name)
        if found:
            return Path(found)
        message = f"{name} not found on PATH (install it with scripts/provision)"
    else:
        from sre_cli.errors import MissingDependency

        try:
            return find(name)
        except MissingDependency as exc:
            message = str(exc)
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def promtool() -> Path:
    return tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> Path:
    return tool("amtool")
