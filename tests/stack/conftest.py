"""Fixtures of the stack tests (helpers live in ``stack_harness``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def empty_bin_dir(tmp_path: Path) -> Path:
    """A directory with no server binaries: the stack's lookup sees none installed."""
    d = tmp_path / "no-servers-here"
    d.mkdir()
    return d
