"""Where the real node's binaries live: kubelet and kube-proxy beside the control plane
(``scripts/build-k8s``), containerd, runc, the CNI plugins, iptables, buildah, mmdebstrap and
a static busybox from Debian (``scripts/provision``).

Example::

    tools = find_node_tools()      # raises MissingDependency naming what is missing
    subprocess.run([tools.containerd, "--version"])
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sre_cli.errors import MissingDependency
from sre_cli.infra import versions
from sre_cli.k8s.binaries import build_hint

__all__ = ["CNI_PLUGINS", "NodeTools", "find_node_tools"]

CNI_PLUGINS = ("bridge", "host-local", "loopback")
_CNI_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


@dataclass(frozen=True)
class NodeTools:
    """Absolute paths of every binary a real node needs."""

    kubelet: Path
    kube_proxy: Path
    containerd: Path
    containerd_shim: Path
    ctr: Path
    runc: Path
    cni_dir: Path
    ip: Path
    iptables: Path
    ip6tables: Path
    iptables_save: Path
    ip6tables_save: Path
    busybox: Path
    buildah: Path
    mmdebstrap: Path


def _which(name: str, missing: list[str], package: str) -> Path:
    found = shutil.which(
        name,
        path=os.pathsep.join(
            [os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        ),
    )
    if found is None:
        missing.append(f"{name} (Debian package {package})")
        return Path(name)
    return Path(found)


def find_node_tools(env: Mapping[str, str] | None = None) -> NodeTools:
    """Locate the node's binaries, or raise :class:`MissingDependency` listing every gap."""
    env = os.environ if env is None else env
    k8s = versions.pinned("K8S_VERSION")
    cache = Path(env["AQUA_CACHE"]) if env.get("AQUA_CACHE") else versions.cache_dir()
    k8s_bin = Path(env.get("AQUA_K8S_BIN") or cache / f"k8s-{k8s}" / "bin")
    missing: list[str] = []
    packages: list[str] = []
    built = [k8s_bin / "kubelet", k8s_bin / "kube-proxy"]
    missing_built = [str(p) for p in built if not os.access(p, os.X_OK)]
    cni_dir = next(
        (Path(d) for d in _CNI_DIRS if all(os.access(Path(d) / p, os.X_OK) for p in CNI_PLUGINS)),
        None,
    )
    if cni_dir is None:
        missing.append("CNI plugins bridge, host-local, loopback (containernetworking-plugins)")
        packages.append("containernetworking-plugins")
    tools = NodeTools(
        kubelet=built[0],
        kube_proxy=built[1],
        containerd=_which("containerd", missing, "containerd"),
        containerd_shim=_which("containerd-shim-runc-v2", missing, "containerd"),
        ctr=_which("ctr", missing, "containerd"),
        runc=_which("runc", missing, "runc"),
        cni_dir=cni_dir or Path(_CNI_DIRS[0]),
        ip=_which("ip", missing, "iproute2"),
        iptables=_which("iptables", missing, "iptables"),
        ip6tables=_which("ip6tables", missing, "iptables"),
        iptables_save=_which("iptables-save", missing, "iptables"),
        ip6tables_save=_which("ip6tables-save", missing, "iptables"),
        busybox=_which("busybox", missing, "busybox-static"),
        buildah=_which("buildah", missing, "buildah"),
        mmdebstrap=_which("mmdebstrap", missing, "mmdebstrap"),
    )
    if missing_built:
        raise MissingDependency(
            "Kubernetes node binaries missing: " + ", ".join(missing_built), hint=build_hint()
        )
    if missing:
        packages += [m.split("(Debian package ")[1].rstrip(")") for m in missing if "(Debian" in m]
        raise MissingDependency(
            "real-node components missing: " + ", ".join(missing),
            hint="apt-get install " + " ".join(dict.fromkeys(packages)),
        )
    return tools
