"""Fixtures of the runbook tests: one ``--lite --faults`` stack for the whole session (an API
replica, nginx, Prometheus, Alertmanager), and load and fault rules to drive its SLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from infra_harness import require_binary
from runbook.faults_harness import FaultStack
from stack.stack_harness import make_stack


@pytest.fixture(scope="session")
def faults_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    tmp = tmp_path_factory.mktemp("runbook-faults")
    bins = tmp / "bins"
    bins.mkdir()
    for tool in ("nginx", "alertmanager", "prometheus"):
        (bins / tool).symlink_to(require_binary(tool))
    for s in make_stack(tmp, {"AQUA_STACK_BIN_PATH": str(bins)}):
        s.up("--lite", "--faults", "--api-replicas", "1")
        s.wait(lambda st: all(c["ready"] for c in st.values()), 90, "every component ready")
        yield FaultStack(s)
