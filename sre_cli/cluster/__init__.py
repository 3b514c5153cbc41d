"""A local Kubernetes cluster with one real node: containerd, runc, CNI, kubelet, kube-proxy.

Built on :mod:`sre_cli.k8s` (the control plane). Nothing heavy is imported here.
"""

from __future__ import annotations

from sre_cli.cluster.cluster import (
    ClusterStatus,
    DeploymentStatus,
    DownResult,
    LocalCluster,
    NodeStatus,
    default_state_dir,
)

__all__ = [
    "ClusterStatus",
    "DeploymentStatus",
    "DownResult",
    "LocalCluster",
    "NodeStatus",
    "default_state_dir",
]
