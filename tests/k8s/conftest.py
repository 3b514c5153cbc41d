"""A real Kubernetes control plane for the tests in this directory.

One cluster per pytest worker session, started on first use. Under ``CI=true`` missing binaries
fail the run; elsewhere the tests are skipped with the command that builds them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from infra_harness import require

from sre_cli.k8s import ControlPlane, K8sToolchain, find_toolchain

NODES = 3


@pytest.fixture(scope="session")
def k8s_toolchain() -> K8sToolchain:
    return require(find_toolchain)


@pytest.fixture(scope="session")
def kube_cluster(
    k8s_toolchain: K8sToolchain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + controller manager + scheduler + kwok with three fake nodes."""
    plane = ControlPlane(tmp_path_factory.mktemp("k8s"), nodes=NODES, toolchain=k8s_toolchain)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
