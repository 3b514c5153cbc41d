"""One local cluster with a real node per test session, the reference stack deployed on it.

Every real-node test lives in ``test_real_node.py``: with ``--dist loadfile`` (scripts/test)
one worker runs them all, so one cluster starts per run (the node owns a bridge and the
Service range, so two at once would collide). Under ``CI=true`` a missing binary fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra_harness import require

from sre_cli.cluster.cluster import LocalCluster
from sre_cli.cluster.kubectl import Kubectl


def _require_root() -> None:
    from sre_cli.errors import MissingDependency

    if os.geteuid() != 0:
        raise MissingDependency("a real node needs root (cgroups, bridge, iptables)")


@pytest.fixture(scope="session")
def real_cluster(tmp_workdir: Path) -> Iterator[LocalCluster]:
    from sre_cli.cluster.addons import find_addon_tools
    from sre_cli.cluster.tools import find_node_tools
    from sre_cli.k8s import find_toolchain

    require(_require_root)
    require(find_toolchain)
    require(find_node_tools)
    require(find_addon_tools)
    # One kwok node beside the real one, as `aqua cluster up --nodes-kwok 1` and the bench run:
    # a Ready node that runs nothing must get none of the stack's pods.
    cluster = LocalCluster(tmp_workdir / "cluster", kwok_nodes=1)
    # The API's fault switch on and the alert timings shortened (as for a game day): the
    # leak, outage and game-day tests need them.
    cluster.up(stack=True, ml=False, faults=True, gameday_alerts=True)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def kube(real_cluster: LocalCluster) -> Kubectl:
    return real_cluster.kubectl()
