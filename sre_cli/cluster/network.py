"""The node's network on this machine: one Linux bridge, its routes, and cleaning up after it.

Pods get addresses from ``POD_SUBNET`` on the bridge ``BRIDGE``; the bridge itself carries
the node's address (``NODE_IP``), which the kubelet reports as the node's InternalIP and on
which the backing services listen. The Service range is routed to the same bridge, so a
Service address from the host never takes the default route even before kube-proxy's DNAT
rewrites it. Nothing here touches another interface.

Teardown removes what the node leaves behind once its processes are gone: the pods' network
namespaces (``cni-*`` ones created after the node started), the veths (they die with their
namespace), the bridge, our routes, and every iptables chain kube-proxy and the kubelet
made (``KUBE-*``) with the rules that jump to them.

Example::

    net = NodeNetwork()
    net.create(tools)        # bridge up with NODE_IP, service range routed to it
    ...
    net.destroy(tools)       # gone again
"""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sre_cli.cluster.tools import NodeTools
from sre_cli.errors import ComponentError

__all__ = [
    "BRIDGE",
    "NODE_IP",
    "POD_SUBNET",
    "NodeNetwork",
    "netns_names",
    "route_device",
]

BRIDGE = "aqua0"
POD_SUBNET = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
NETNS_DIR = Path("/run/netns")
_TABLES = ("filter", "nat", "mangle")


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and out.returncode != 0:
        raise ComponentError(f"`{' '.join(argv)}` failed ({out.returncode}): {out.stderr.strip()}")
    return out


def route_device(ip: Path | str, address: str) -> str:
    """The interface the kernel would send a packet for ``address`` through (``ip route get``)."""
    words = _run([str(ip), "route", "get", address]).stdout.split()
    return words[words.index("dev") + 1] if "dev" in words else ""


def netns_names() -> set[str]:
    """Names of the pinned network namespaces (``ip netns``)."""
    try:
        return {p.name for p in NETNS_DIR.iterdir()}
    except FileNotFoundError:
        return set()


@dataclass(frozen=True)
class NodeNetwork:
    """The bridge, node address, pod subnet and the Service range routed to the bridge."""

    bridge: str = BRIDGE
    node_ip: str = NODE_IP
    pod_subnet: str = POD_SUBNET
    service_cidr: str = "10.0.0.0/24"

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.pod_subnet).prefixlen

    def exists(self, tools: NodeTools) -> bool:
        return _run([str(tools.ip), "link", "show", self.bridge], check=False).returncode == 0

    def create(self, tools: NodeTools) -> None:
        """Create the bridge with the node address and route the Service range to it."""
        ip = str(tools.ip)
        if self.exists(tools):
            raise ComponentError(
                f"interface {self.bridge} already exists: another local cluster runs, or one "
                "was not torn down",
                hint="aqua cluster down (with the --state-dir of that cluster)",
            )
        _run([ip, "link", "add", self.bridge, "type", "bridge"])
        _run([ip, "addr", "add", f"{self.node_ip}/{self.prefix}", "dev", self.bridge])
        _run([ip, "link", "set", self.bridge, "up"])
        _run([ip, "route", "replace", self.service_cidr, "dev", self.bridge, "src", self.node_ip])

    def destroy(self, tools: NodeTools, netns_before: set[str] | None = None) -> list[str]:
        """Remove namespaces, bridge, route and iptables chains; return what was removed."""
        removed: list[str] = []
        ip = str(tools.ip)
        for name in sorted(netns_names() - (netns_before or set())):
            if name.startswith("cni-"):
                _run([ip, "netns", "delete", name], check=False)
                removed.append(f"netns {name}")
        if _run([ip, "route", "show", self.service_cidr], check=False).stdout.strip():
            _run([ip, "route", "del", self.service_cidr], check=False)
            removed.append(f"route {self.service_cidr}")
        if self.exists(tools):
            # Veths still attached to the bridge (a namespace held open elsewhere) go first.
            links = _run([ip, "-o", "link", "show", "master", self.bridge], check=False).stdout
            for line in links.splitlines():
                name = line.split(":")[1].strip().split("@")[0]
                _run([ip, "link", "del", name], check=False)
                removed.append(f"veth {name}")
            _run([ip, "link", "del", self.bridge], check=False)
            removed.append(f"bridge {self.bridge}")
        for binary, save in (
            (tools.iptables, tools.iptables_save),
            (tools.ip6tables, tools.ip6tables_save),
        ):
            removed += remove_kube_chains(binary, save)
        return removed


def kube_chains(iptables_save: Path | str, table: str) -> list[str]:
    """The ``KUBE-*`` and ``CNI-*`` chains in ``table`` (``iptables-save -t``)."""
    out = _run([str(iptables_save), "-t", table], check=False).stdout
    return [
        line[1:].split()[0]
        for line in out.splitlines()
        if line.startswith(":") and line[1:].startswith(("KUBE-", "CNI-"))
    ]


def remove_kube_chains(iptables: Path, iptables_save: Path) -> list[str]:
    """Delete every rule jumping to a ``KUBE-*``/``CNI-*`` chain, then those chains."""
    removed: list[str] = []
    for table in _TABLES:
        chains = kube_chains(iptables_save, table)
        if not chains:
            continue
        ours = set(chains)
        for rule in _run([str(iptables_save), "-t", table], check=False).stdout.splitlines():
            if not rule.startswith("-A "):
                continue
            words = rule.split()
            target = words[words.index("-j") + 1] if "-j" in words else ""
            if words[1] not in ours and target in ours:
                with contextlib.suppress(ComponentError):
                    _delete_rule(str(iptables), table, rule)
        for chain in chains:
            _run([str(iptables), "-t", table, "-F", chain], check=False)
        for chain in chains:
            if _run([str(iptables), "-t", table, "-X", chain], check=False).returncode == 0:
                removed.append(f"{iptables.name} -t {table} {chain}")
    return removed


def _delete_rule(iptables: str, table: str, rule: str) -> None:
    # iptables-save quotes comments shell-style: split them back into one argument each.
    args = shlex.split(rule)
    args[0] = "-D"
    _run([iptables, "-t", table, *args])
