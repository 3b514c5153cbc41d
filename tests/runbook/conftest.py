"""Fixtures of the runbook tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stack.faults_harness import FaultStack, fault_stack


@pytest.fixture(scope="session")
def faults_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """One ``--lite --faults`` stack for every runbook test that drives the API's SLI."""
    yield from fault_stack(tmp_path_factory.mktemp("runbook-faults"))
