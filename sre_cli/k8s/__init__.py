"""A real Kubernetes control plane (etcd, API server, controllers, scheduler, kwok nodes).

Nothing heavy is imported here: the binaries are located and the ``cryptography`` package is
loaded only when a control plane starts.
"""

from __future__ import annotations

from sre_cli.k8s.binaries import K8sToolchain, build_hint, find_toolchain
from sre_cli.k8s.controlplane import ControlPlane, StartupTimings

__all__ = ["ControlPlane", "K8sToolchain", "StartupTimings", "build_hint", "find_toolchain"]
