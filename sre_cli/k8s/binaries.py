"""Where the control-plane binaries live.

``scripts/build-k8s`` builds them into ``~/.cache/aqua/<tool>-<version>/`` using the versions
pinned in ``scripts/versions.env``; this module reads the same file, so a version bump in one
place moves both the build and the lookup. Each directory can be overridden through the
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

from sre_cli.errors import ConfigError, MissingDependency

__all__ = ["BUILD_HINT", "K8sToolchain", "find_toolchain", "pinned_versions", "versions_file"]

BUILD_HINT = "run scripts/build-k8s (builds and caches the pinned binaries, ~15-25 min cold)"

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


def versions_file() -> Path:
    """The pinned-versions file shared with ``scripts/build-k8s``."""
    override = os.environ.get("AQUA_VERSIONS_FILE")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "scripts" / "versions.env"


def pinned_versions(path: Path | None = None) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines of the versions file (comments and blanks ignored)."""
    path = path or versions_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read pinned versions from {path}: {exc.strerror}") from exc
    versions: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}: not a KEY=VALUE line: {raw!r}")
        versions[key.strip()] = value.strip().strip("\"'")
    return versions


def _cache_root(env: Mapping[str, str]) -> Path:
    return Path(env.get("AQUA_CACHE") or Path.home() / ".cache" / "aqua")


def find_toolchain(env: Mapping[str, str] | None = None) -> K8sToolchain:
    """Locate the pinned binaries, or raise :class:`MissingDependency` naming what is missing."""
    env = os.environ if env is None else env
    versions = pinned_versions()
    try:
        k8s, etcd, kwok = (versions[k] for k in ("K8S_VERSION", "ETCD_VERSION", "KWOK_VERSION"))
    except KeyError as exc:
        raise ConfigError(f"{versions_file()} does not pin {exc.args[0]}") from exc
    cache = _cache_root(env)
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
            f"Kubernetes control-plane files missing: {listed}", hint=BUILD_HINT
        )
    return tools
