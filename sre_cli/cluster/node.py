"""One real Kubernetes node on this machine: containerd + runc, a CNI bridge, kubelet, kube-proxy.

The node joins a :class:`~sre_cli.k8s.ControlPlane` started beside it. Everything it writes
lives under its ``workdir`` (containerd's root, state and socket, the kubelet's root and
certificates, CNI config and IPAM data); the pods' cgroups live under a cgroup root of their
own (``/aqua`` in every hierarchy), so teardown knows exactly what is ours.

Two things this machine needs that a stock node does not (see ``network.py`` for the rest):

* the VM lacks ``CAP_SYS_RESOURCE``, so runc cannot give the sandbox an ``oom_score_adj`` of
  -998: containerd runs with ``restrict_oom_score_adj = true``;
* no registry is reachable, so the sandbox ("pause") image is built locally
  (:mod:`sre_cli.cluster.images`) and every pod uses ``imagePullPolicy: Never``/``IfNotPresent``.

Example::

    node = RealNode(workdir / "node", tools, plane)
    node.start(images=[pause_tar])     # returns once the Node is Ready
    ...
    node.stop()                        # processes, mounts, netns, bridge, chains, cgroups gone
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sre_cli.cluster.network import NodeNetwork, netns_names
from sre_cli.cluster.tools import NodeTools
from sre_cli.errors import ComponentError
from sre_cli.infra.process import ManagedProcess, free_port
from sre_cli.k8s.controlplane import ControlPlane, wait_until

__all__ = [
    "CGROUP_ROOT",
    "NODE_NAME",
    "PAUSE_IMAGE",
    "NodeState",
    "RealNode",
    "cleanup_node",
    "pid_alive",
]

NODE_NAME = "aqua-node"
PAUSE_IMAGE = "localhost/aqua/pause:1"
CGROUP_ROOT = "aqua"
CGROUP_FS = Path("/sys/fs/cgroup")
SHIM_SOCKETS = Path("/run/containerd/s")
CLUSTER_DOMAIN = "cluster.local"


@dataclass
class NodeState:
    """What teardown needs, saved as JSON so another process (``aqua cluster down``) can act."""

    workdir: str
    bridge: str
    node_ip: str
    pod_subnet: str
    service_cidr: str
    containerd_socket: str
    pids: dict[str, int] = field(default_factory=dict)
    netns_before: list[str] = field(default_factory=list)
    shim_sockets_before: list[str] = field(default_factory=list)
    sysctls_before: dict[str, str] = field(default_factory=dict)
    #: Whether /run/containerd (shim sockets, runc state) existed before this node started.
    run_containerd_existed: bool = True
    #: Set once this node made the bridge: teardown never removes one it did not make.
    network_created: bool = False

    def network(self) -> NodeNetwork:
        return NodeNetwork(self.bridge, self.node_ip, self.pod_subnet, self.service_cidr)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> NodeState:
        return cls(**data)  # type: ignore[arg-type]


#: Global sysctls the node needs; their previous values are restored on teardown.
_SYSCTLS = {
    # Bridged pod-to-Service traffic must cross iptables for kube-proxy's DNAT.
    "net/bridge/bridge-nf-call-iptables": "1",
    # NodePorts on 127.0.0.1 (kube-proxy's --nodeport-addresses) need route_localnet.
    "net/ipv4/conf/all/route_localnet": "1",
}


class RealNode:
    """See the module docs. ``cluster_dns`` is the address pods use as their resolver."""

    def __init__(
        self,
        workdir: Path,
        tools: NodeTools,
        plane: ControlPlane,
        *,
        network: NodeNetwork | None = None,
        cluster_dns: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.tools = tools
        self.plane = plane
        self.network = network or NodeNetwork()
        self.cluster_dns = cluster_dns
        self.timeout = timeout
        self._procs: list[ManagedProcess] = []
        self.state = NodeState(
            workdir=str(self.workdir),
            bridge=self.network.bridge,
            node_ip=self.network.node_ip,
            pod_subnet=self.network.pod_subnet,
            service_cidr=self.network.service_cidr,
            containerd_socket=str(self.workdir / "containerd" / "containerd.sock"),
        )
        self.kubelet_port = 0
        self.timings: dict[str, float] = {}

    @property
    def containerd_socket(self) -> Path:
        return Path(self.state.containerd_socket)

    @property
    def name(self) -> str:
        return NODE_NAME

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self._procs if p.pid is not None}

    # -- start ------------------------------------------------------------------------------

    def start(self, images: list[Path]) -> RealNode:
        """Network, containerd (with ``images`` imported), kubelet, kube-proxy; wait Ready."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state.netns_before = sorted(netns_names())
        self.state.shim_sockets_before = sorted(_listdir(SHIM_SOCKETS))
        self.state.run_containerd_existed = SHIM_SOCKETS.parent.exists()
        self._save_state()
        t0 = time.monotonic()
        self.network.create(self.tools)  # refuses when the bridge exists: nothing to undo
        self.state.network_created = True
        try:
            self.state.sysctls_before = _set_sysctls(_SYSCTLS)
            self._make_cgroup_root()
            self._save_state()
            self._start_containerd()
            self.timings["containerd"] = time.monotonic() - t0
            t1 = time.monotonic()
            for image in images:
                self.import_image(image)
            self.timings["images"] = time.monotonic() - t1
            self._write_cni()
            t2 = time.monotonic()
            self._start_kubelet()
            self._start_kube_proxy()
            self._wait_node_ready()
            self.timings["node_ready"] = time.monotonic() - t2
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def import_image(self, archive: Path) -> None:
        """``ctr images import`` an OCI archive into the ``k8s.io`` namespace."""
        out = subprocess.run(
            [*self.ctr_argv(), "images", "import", "--no-unpack=false", str(archive)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if out.returncode != 0:
            raise ComponentError(
                f"importing {archive} into containerd failed: {out.stderr.strip()}"
            )

    def tag_image(self, ref: str, alias: str) -> None:
        """Give an imported image a second name (the one the manifests use)."""
        out = subprocess.run(
            [*self.ctr_argv(), "images", "tag", "--force", ref, alias],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise ComponentError(f"tagging {ref} as {alias} failed: {out.stderr.strip()}")

    def ctr_argv(self) -> list[str]:
        return [str(self.tools.ctr), "--address", str(self.containerd_socket), "-n", "k8s.io"]

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        proc = ManagedProcess(
            name, argv, self.workdir, log_path=self.workdir / "logs" / f"{name}.log"
        )
        proc.start()
        self._procs.append(proc)
        self.state.pids = self.pids()
        self._save_state()
        return proc

    def _save_state(self) -> None:
        path = self.workdir / "node.json"
        path.write_text(json.dumps(self.state.to_json(), indent=2) + "\n", encoding="utf-8")

    def _make_cgroup_root(self) -> None:
        for hierarchy in _hierarchies():
            (hierarchy / CGROUP_ROOT).mkdir(exist_ok=True)

    def _start_containerd(self) -> None:
        d = self.workdir / "containerd"
        d.mkdir(parents=True, exist_ok=True)
        cni_conf = self.workdir / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        config = d / "config.toml"
        config.write_text(
            f"""version = 2
root = "{d / "root"}"
state = "{d / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{self.containerd_socket}"

[ttrpc]
  address = "{d / "containerd.ttrpc.sock"}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # This VM lacks CAP_SYS_RESOURCE: runc cannot lower a sandbox's oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{self.tools.runc}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{self.tools.cni_dir}"
    conf_dir = "{cni_conf}"
""",
            encoding="utf-8",
        )
        env_path = ":".join(
            [
                str(self.tools.containerd_shim.parent),
                str(self.tools.runc.parent),
                "/usr/sbin:/usr/bin",
            ]
        )
        proc = ManagedProcess(
            "containerd",
            [str(self.tools.containerd), "--config", str(config), "--log-level", "warn"],
            self.workdir,
            log_path=self.workdir / "logs" / "containerd.log",
            env={**os.environ, "PATH": env_path},
            signal_group=False,
        )
        proc.start()
        self._procs.append(proc)
        self.state.pids = self.pids()
        self._save_state()

        def answers() -> bool:
            out = subprocess.run(
                [*self.ctr_argv(), "version"], capture_output=True, timeout=10, check=False
            )
            return out.returncode == 0

        wait_until(answers, what="containerd", timeout=30, watch=[proc])

    def _write_cni(self) -> None:
        net = self.network
        conflist = {
            "cniVersion": "0.4.0",
            "name": "aqua",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": net.bridge,
                    "isGateway": True,
                    # Pods talk only to each other and to the node address: no NAT out.
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": net.pod_subnet, "gateway": net.node_ip}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.workdir / "cni" / "ipam"),
                    },
                },
            ],
        }
        path = self.workdir / "cni" / "net.d" / "10-aqua.conflist"
        path.write_text(json.dumps(conflist, indent=2) + "\n", encoding="utf-8")

    def _start_kubelet(self) -> None:
        self._make_cgroup_root()  # idempotent; the kubelet refuses to start without it
        kubeconfig = self.plane.client_kubeconfig(
            self.workdir, "kubelet", f"system:node:{NODE_NAME}", ("system:nodes",)
        )
        self.kubelet_port = free_port()
        healthz = free_port()
        # Pods resolve through the cluster DNS when there is one, else through nothing at
        # all: this machine's resolver is not theirs to use.
        resolv = self.workdir / "resolv.conf"
        resolv.write_text(
            f"nameserver {self.cluster_dns}\n" if self.cluster_dns else "", encoding="utf-8"
        )
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.network.node_ip,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.plane.pki.ca.cert)},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "failSwapOn": False,
            "failCgroupV1": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "clusterDomain": CLUSTER_DOMAIN,
            "clusterDNS": [self.cluster_dns] if self.cluster_dns else [],
            "resolvConf": str(resolv),
            "serializeImagePulls": False,
            # Images come from local archives and cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "maxPods": 110,
            "podPidsLimit": 4096,
            "nodeStatusReportFrequency": "10s",
            "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "httpCheckFrequency": "10s",
            "streamingConnectionIdleTimeout": "5m",
            "shutdownGracePeriod": "0s",
            "logging": {"format": "text"},
        }
        path = self.workdir / "kubelet-config.json"
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        root = self.workdir / "kubelet"
        root.mkdir(exist_ok=True)
        self._spawn(
            "kubelet",
            [
                str(self.tools.kubelet),
                f"--config={path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={root}",
                f"--cert-dir={self.workdir / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={self.network.node_ip}",
                "--node-labels=aqua.dev/node=real",
                "--v=1",
            ],
        )

    def _start_kube_proxy(self) -> None:
        kubeconfig = self.plane.client_kubeconfig(self.workdir, "kube-proxy", "system:kube-proxy")
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "mode": "iptables",
            "clusterCIDR": self.network.pod_subnet,
            "hostnameOverride": NODE_NAME,
            "bindAddress": self.network.node_ip,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # NodePorts answer on loopback only: never on this machine's other addresses.
            "nodePortAddresses": ["127.0.0.1/32"],
            # 0 leaves the kernel's conntrack settings alone (they are global to the machine).
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            "iptables": {"localhostNodePorts": True, "syncPeriod": "10s", "minSyncPeriod": "0s"},
            "detectLocalMode": "ClusterCIDR",
        }
        path = self.workdir / "kube-proxy-config.json"
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        self._spawn("kube-proxy", [str(self.tools.kube_proxy), f"--config={path}", "--v=1"])

    def _wait_node_ready(self) -> None:
        def ready() -> bool:
            try:
                node = self.plane.api_get(f"/api/v1/nodes/{NODE_NAME}")
            except ComponentError:
                return False
            return any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in node.get("status", {}).get("conditions", [])
            )

        wait_until(ready, what=f"node {NODE_NAME} Ready", timeout=self.timeout, watch=self._procs)

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop the node and remove everything it left; return what was cleaned up."""
        removed = cleanup_node(self.state, self.tools, self._procs)
        self._procs.clear()
        return removed


def cleanup_node(
    state: NodeState, tools: NodeTools, procs: list[ManagedProcess] | None = None
) -> list[str]:
    """Tear a node down from its saved state (works from another process, and is idempotent).

    Order: kubelet and kube-proxy stop; every process in the pods' cgroups is killed;
    containerd's shims and containerd stop; then mounts, namespaces, the bridge, iptables
    chains and cgroups are removed, and the sysctls restored.
    """
    removed: list[str] = []
    errors: list[str] = []
    by_name = {p.name: p for p in procs or []}

    def step(what: str, action: Callable[[], list[str] | None]) -> None:
        # Every step runs even when an earlier one failed: leave as little as possible.
        try:
            removed.extend(action() or [])
        except Exception as exc:
            errors.append(f"{what}: {exc}")

    for name in ("kube-proxy", "kubelet"):
        step(name, functools.partial(_stop, name, state.pids.get(name), by_name.get(name)))
    step("pod processes", _kill_cgroup_processes)
    step("shims", functools.partial(_kill_shims, state))
    step(
        "containerd",
        functools.partial(
            _stop, "containerd", state.pids.get("containerd"), by_name.get("containerd")
        ),
    )
    step("mounts", functools.partial(_unmount_under, Path(state.workdir)))
    if state.network_created:
        step("network", functools.partial(state.network().destroy, tools, set(state.netns_before)))
    step("cgroups", _remove_cgroups)
    step("containerd run dir", functools.partial(_remove_run_dir, state))
    step("sysctls", functools.partial(_restore_sysctls, state.sysctls_before))
    if errors:
        raise ComponentError("node teardown incomplete: " + "; ".join(errors))
    return removed


def _kill_shims(state: NodeState) -> list[str]:
    killed = []
    for pid in _pids_with_arg(state.containerd_socket):
        if pid != state.pids.get("containerd"):
            _kill(pid)
            killed.append(f"shim pid {pid}")
    return killed


def _remove_run_dir(state: NodeState) -> list[str]:
    before = set(state.shim_sockets_before)
    for leftover in _listdir(SHIM_SOCKETS) - before:
        # Only sockets of shims that served this node's containerd are left at this point.
        with contextlib.suppress(OSError):
            (SHIM_SOCKETS / leftover).unlink()
    if not state.run_containerd_existed and SHIM_SOCKETS.parent.is_dir():
        # containerd made it for us: remove its (now empty) directories, deepest first.
        tree = sorted(SHIM_SOCKETS.parent.rglob("*"), key=lambda p: -len(p.parts))
        for d in [*tree, SHIM_SOCKETS.parent]:
            with contextlib.suppress(OSError):
                d.rmdir()
    return []


def _stop(name: str, pid: int | None, proc: ManagedProcess | None) -> list[str]:
    if proc is not None:
        if proc.running():
            proc.stop(timeout=15.0)
            return [f"process {name}"]
        return []
    if pid is not None and pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15.0
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        return [f"process {name}"]
    return []


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _pids_with_arg(arg: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arg.encode() in argv:
            pids.append(int(entry.name))
    return pids


def _hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers and the unified one)."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] in ("cgroup", "cgroup2"):
            found.append(Path(parts[1]))
    return found


def _kill_cgroup_processes() -> list[str]:
    killed: set[int] = set()
    for _ in range(50):
        pids: set[int] = set()
        for hierarchy in _hierarchies():
            root = hierarchy / CGROUP_ROOT
            if root.is_dir():
                for procs in _walk_cgroup(root, "cgroup.procs"):
                    with contextlib.suppress(OSError, ValueError):
                        pids |= {int(x) for x in procs.read_text().split()}
        if not pids:
            break
        for pid in pids:
            _kill(pid)
        killed |= pids
        time.sleep(0.1)
    return [f"pod process {pid}" for pid in sorted(killed)]


def _walk_cgroup(root: Path, filename: str | None) -> list[Path]:
    """Files called `filename` under `root` (or its directories when None).

    Pods exit while the tree is walked, so a directory that vanishes mid-walk
    is skipped rather than ending the walk (`os.walk` ignores scandir errors).
    """
    found: list[Path] = []
    for directory, subdirs, files in os.walk(root):
        if filename is None:
            found.extend(Path(directory) / d for d in subdirs)
        elif filename in files:
            found.append(Path(directory) / filename)
    return found


def _remove_cgroups() -> list[str]:
    removed = []
    for hierarchy in _hierarchies():
        root = hierarchy / CGROUP_ROOT
        if not root.is_dir():
            continue
        dirs = sorted(_walk_cgroup(root, None), key=lambda p: -len(p.parts))
        for d in [*dirs, root]:
            with contextlib.suppress(OSError):
                d.rmdir()
        if not root.exists():
            removed.append(f"cgroup {root}")
    return removed


def _unmount_under(directory: Path) -> list[str]:
    prefix = str(directory.resolve())
    removed = []
    for _ in range(5):
        mounts = [
            line.split()[1].replace("\\040", " ")
            for line in Path("/proc/self/mounts").read_text().splitlines()
        ]
        ours = sorted({m for m in mounts if m == prefix or m.startswith(prefix + "/")}, key=len)
        if not ours:
            break
        for mount in reversed(ours):
            out = subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
            if out.returncode == 0:
                removed.append(f"mount {mount}")
    return removed


def _listdir(path: Path) -> set[str]:
    try:
        return {p.name for p in path.iterdir()}
    except FileNotFoundError:
        return set()


def _set_sysctls(values: dict[str, str]) -> dict[str, str]:
    before = {}
    for key, value in values.items():
        path = Path("/proc/sys") / key
        old = path.read_text().strip()
        before[key] = old
        if old != value:
            path.write_text(value)
    return before


def _restore_sysctls(before: dict[str, str]) -> list[str]:
    for key, value in before.items():
        with contextlib.suppress(OSError):
            (Path("/proc/sys") / key).write_text(value)
    return []
