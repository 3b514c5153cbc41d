"""``aqua cluster``: the control plane and one real node, started and torn down as one.

``up`` starts the control plane (:class:`~sre_cli.k8s.ControlPlane`, optionally with kwok
nodes for scale), the real node (:class:`~sre_cli.cluster.node.RealNode`) with the images it
needs, and (unless told not to) the reference stack; it returns with every process running
detached and the state written to ``<state-dir>/cluster.json``. ``status`` and ``down`` work
from that file, from any process.

Example::

    cluster = LocalCluster(Path("~/.local/state/aqua/cluster").expanduser())
    info = cluster.up()             # ClusterStatus: kubeconfig, nodes, deployments, urls
    cluster.down()                  # DownResult: what was stopped and removed
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sre_cli.cluster.kubectl import Kubectl
from sre_cli.cluster.network import NODE_IP
from sre_cli.cluster.node import NODE_NAME, NodeState, RealNode, cleanup_node, pid_alive
from sre_cli.cluster.tools import NodeTools, find_node_tools
from sre_cli.errors import ComponentError, UsageError
from sre_cli.k8s import ControlPlane, find_toolchain

__all__ = [
    "ClusterStatus",
    "DeploymentStatus",
    "DownResult",
    "LocalCluster",
    "NodeStatus",
    "default_state_dir",
]

STATE_FILE = "cluster.json"


def default_state_dir() -> Path:
    """``$AQUA_CLUSTER_STATE_DIR``, else ``~/.local/state/aqua/cluster``."""
    env = os.environ.get("AQUA_CLUSTER_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "aqua" / "cluster"


@dataclass(frozen=True)
class NodeStatus:
    name: str
    kind: str  # "real" or "kwok"
    ready: bool


@dataclass(frozen=True)
class DeploymentStatus:
    namespace: str
    name: str
    ready: int
    replicas: int

    @property
    def available(self) -> bool:
        return self.ready >= self.replicas


@dataclass(frozen=True)
class ClusterStatus:
    """What ``aqua cluster status`` reports; ``to_json`` is its ``--json`` form."""

    running: bool
    kubeconfig: str | None
    nodes: list[NodeStatus] = field(default_factory=list)
    deployments: list[DeploymentStatus] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "running": self.running,
            "kubeconfig": self.kubeconfig,
            "nodes": [n.__dict__ for n in self.nodes],
            "deployments": [d.__dict__ for d in self.deployments],
            "urls": dict(self.urls),
        }


@dataclass(frozen=True)
class DownResult:
    was_running: bool
    removed: list[str]
    seconds: float


class LocalCluster:
    """One local cluster per state directory (and, as it owns the bridge, per machine)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        kwok_nodes: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if kwok_nodes < 0:
            raise UsageError("--nodes-kwok cannot be negative")
        self.state_dir = Path(state_dir)
        self.kwok_nodes = kwok_nodes
        self.progress = progress or (lambda _msg: None)

    @property
    def state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    def _read_state(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return data

    def _write_state(self, data: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.state_path)

    # -- up ---------------------------------------------------------------------------------

    def up(
        self,
        *,
        stack: bool = True,
        ml: bool = False,
        faults: bool = False,
        gameday_alerts: bool = False,
    ) -> ClusterStatus:
        """Start everything; on any failure tear down what started and re-raise.

        ``stack``: build the images and deploy the reference stack; ``ml``: with the ML
        service (its image carries torch and its CUDA libraries: see the README);
        ``faults``: the API's fault switch on, for game days (see :mod:`.stack`);
        ``gameday_alerts``: the alert rules' ``for:`` shortened as on the stack.
        """
        if self._read_state() is not None:
            raise UsageError(
                f"a cluster is already up in {self.state_dir}",
                hint=f"aqua cluster down --state-dir {self.state_dir}",
            )
        k8s = find_toolchain()
        tools = find_node_tools()
        if stack:
            from sre_cli.cluster.addons import find_addon_tools

            find_addon_tools()
        from sre_cli.cluster.images import ImageBuilder

        t0 = time.monotonic()
        timings: dict[str, float] = {}
        builder = ImageBuilder(tools, _repo_root(), log=self.progress)
        archives = [builder.pause().archive]
        refs: dict[str, str] = {}
        if stack:
            for flavour in ("api", "ml") if ml else ("api",):
                image = builder.service(flavour)
                archives.append(image.archive)
                refs[flavour] = image.ref
        timings["images"] = time.monotonic() - t0
        plane = ControlPlane(self.state_dir / "controlplane", nodes=self.kwok_nodes, toolchain=k8s)
        node = RealNode(
            self.state_dir / "node", tools, plane, cluster_dns=NODE_IP if stack else None
        )
        kube = Kubectl(k8s.kubectl, plane.kubeconfig)
        state: dict[str, Any] = {
            "state_dir": str(self.state_dir),
            "kubeconfig": str(plane.kubeconfig),
            "kubectl": str(k8s.kubectl),
            "controlplane_pids": {},
            "node": node.state.to_json(),
            "processes": [],
            "urls": {},
            "started": time.time(),
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.progress("control plane: etcd, kube-apiserver, controller manager, scheduler")
            t1 = time.monotonic()
            plane.start()
            state["controlplane_pids"] = plane.pids()
            state["apiserver"] = plane.server
            self._write_state(state)
            timings["control_plane"] = time.monotonic() - t1
            self.progress(f"control plane ready in {timings['control_plane']:.1f} s")
            t2 = time.monotonic()
            node.start(images=archives)
            state["node"] = node.state.to_json()
            self._write_state(state)
            timings["node"] = time.monotonic() - t2
            self.progress(f"node {NODE_NAME} Ready in {timings['node']:.1f} s")
            if stack:
                from sre_cli.cluster.stack import deploy_stack

                info = deploy_stack(
                    self.state_dir / "stack",
                    plane,
                    node,
                    kube,
                    refs,
                    ml=ml,
                    faults=faults,
                    gameday_alerts=gameday_alerts,
                    progress=self.progress,
                    processes=state["processes"],
                    save=lambda: self._write_state(state),
                )
                state["urls"] = info.urls
                timings.update(info.timings)
        except BaseException:
            state["node"] = node.state.to_json()
            state["controlplane_pids"] = plane.pids() or state["controlplane_pids"]
            self._write_state(state)
            with contextlib.suppress(Exception):
                self.down()
            raise
        timings["total"] = time.monotonic() - t0
        state["timings"] = timings
        self._write_state(state)
        status = self.status()
        return ClusterStatus(
            running=status.running,
            kubeconfig=status.kubeconfig,
            nodes=status.nodes,
            deployments=status.deployments,
            urls=status.urls,
            timings=timings,
        )

    # -- status -----------------------------------------------------------------------------

    def kubectl(self) -> Kubectl:
        state = self._read_state()
        if state is None:
            raise UsageError(
                f"no cluster in {self.state_dir}", hint="aqua cluster up [--state-dir DIR]"
            )
        return Kubectl(Path(state["kubectl"]), Path(state["kubeconfig"]))

    def status(self) -> ClusterStatus:
        state = self._read_state()
        if state is None:
            return ClusterStatus(running=False, kubeconfig=None)
        kube = self.kubectl()
        pids = {**state.get("controlplane_pids", {}), **state.get("node", {}).get("pids", {})}
        running = bool(pids) and all(pid_alive(pid) for pid in pids.values())
        nodes: list[NodeStatus] = []
        deployments: list[DeploymentStatus] = []
        if running:
            with contextlib.suppress(ComponentError):
                for item in kube.json("get", "nodes", timeout=15)["items"]:
                    conditions = item.get("status", {}).get("conditions", [])
                    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
                    fake = "kwok.x-k8s.io/node" in item["metadata"].get("annotations", {})
                    nodes.append(
                        NodeStatus(item["metadata"]["name"], "kwok" if fake else "real", ready)
                    )
                for item in kube.json("get", "deployments", "-A", timeout=15)["items"]:
                    deployments.append(
                        DeploymentStatus(
                            item["metadata"]["namespace"],
                            item["metadata"]["name"],
                            int(item.get("status", {}).get("availableReplicas", 0) or 0),
                            int(item.get("spec", {}).get("replicas", 0) or 0),
                        )
                    )
        return ClusterStatus(
            running=running,
            kubeconfig=state["kubeconfig"],
            nodes=nodes,
            deployments=deployments,
            urls=dict(state.get("urls", {})),
            timings=dict(state.get("timings", {})),
        )

    # -- down -------------------------------------------------------------------------------

    def down(self, tools: NodeTools | None = None) -> DownResult:
        """Stop every process and remove every trace on the host; keep the state dir's files."""
        t0 = time.monotonic()
        state = self._read_state()
        if state is None:
            return DownResult(False, [], 0.0)
        tools = tools or find_node_tools()
        removed: list[str] = []
        node = NodeState.from_json(state["node"])
        error: ComponentError | None = None
        try:
            removed += cleanup_node(node, tools)
        except ComponentError as exc:
            error = exc  # stop the rest anyway, keep the state file for another `down`
        # The stores and add-ons outlive the pods that used them, then go.
        for proc in reversed(state.get("processes", [])):
            if _stop_group(int(proc["pid"]), getattr(signal, proc.get("signal", "SIGTERM"))):
                removed.append(f"process {proc['name']}")
        for name, pid in reversed(list(state.get("controlplane_pids", {}).items())):
            if _stop_group(int(pid)):
                removed.append(f"process {name}")
        if error is not None:
            raise error
        self.state_path.unlink(missing_ok=True)
        return DownResult(True, removed, time.monotonic() - t0)


def _stop_group(pgid: int, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> bool:
    """Signal a process group, SIGKILL what is left after ``timeout``; True if it ran."""
    if not pid_alive(pgid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
