"""Where the control-plane binaries live.

``scripts/build-k8s`` builds them into ``~/.cache/aqua/<tool>-<version>/`` using the versions
pinned in ``scripts/versions.env``; this module reads the same file (through
:mod:`sre_cli.infra.versions`), so a version bump in one place moves both the build and the
lookup. Each directory can be overridden through the
environment (``AQUA_K8S_BIN``, ``AQUA_ETCD_BIN``, ``AQUA_KWOK_BIN``, ``AQUA_KWOK_STAGES``),
the cache root through ``AQUA_CACHE``.

Example::

    tools = find_toolchain()          # raises MissingDependency with a build hint
    subprocess.run([tools.kubectl, "version", "--client"])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sre_cli.errors import MissingDependency
from sre_cli.infra import versions
from sre_cli.infra.binaries import GO, script_hint

__all__ = ["K8sToolchain", "build_hint", "find_toolchain"]


def build_hint() -> str:
    """Where the Kubernetes binaries come from: $AQUA_K8S_BIN, or the shipped build script."""
    return "point $AQUA_K8S_BIN at the Kubernetes binaries, or " + script_hint(
        "build-k8s", f"builds and caches the pinned ones, ~15-25 min cold; {GO}"
    )


_STAGE_FILES = (
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
)


@dataclass(frozen=True)
class K8sToolchain:
    """Absolute paths of every binary and kwok Stage file a control plane needs."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    kwok_stages: tuple[Path, ...]
    k8s_version: str
    etcd_version: str
    kwok_version: str


def find_toolchain(env: Mapping[str, str] | None = None) -> K8sToolchain:
    """Locate the pinned binaries, or raise :class:`MissingDependency` naming what is missing."""
    env = os.environ if env is None else env
    k8s, etcd, kwok = (versions.pinned(k) for k in ("K8S_VERSION", "ETCD_VERSION", "KWOK_VERSION"))
    cache = Path(env["AQUA_CACHE"]) if env.get("AQUA_CACHE") else versions.cache_dir()
    k8s_bin = Path(env.get("AQUA_K8S_BIN") or cache / f"k8s-{k8s}" / "bin")
    etcd_bin = Path(env.get("AQUA_ETCD_BIN") or cache / f"etcd-{etcd}" / "bin")
    kwok_bin = Path(env.get("AQUA_KWOK_BIN") or cache / f"kwok-{kwok}" / "bin")
    stages = Path(env.get("AQUA_KWOK_STAGES") or cache / f"kwok-{kwok}" / "stages")

    tools = K8sToolchain(
        kube_apiserver=k8s_bin / "kube-apiserver",
        kube_controller_manager=k8s_bin / "kube-controller-manager",
        kube_scheduler=k8s_bin / "kube-scheduler",
        kubectl=k8s_bin / "kubectl",
        etcd=etcd_bin / "etcd",
        kwok=kwok_bin / "kwok",
        kwok_stages=tuple(stages / name for name in _STAGE_FILES),
        k8s_version=k8s,
        etcd_version=etcd,
        kwok_version=kwok,
    )
    binaries = (
        tools.kube_apiserver,
        tools.kube_controller_manager,
        tools.kube_scheduler,
        tools.kubectl,
        tools.etcd,
        tools.kwok,
    )
    missing = [p for p in binaries if not os.access(p, os.X_OK)]
    missing += [p for p in tools.kwok_stages if not p.is_file()]
    if missing:
        listed = ", ".join(str(p) for p in missing)
        raise MissingDependency(
            f"Kubernetes control-plane files missing: {listed}", hint=build_hint()
        )
    return tools
