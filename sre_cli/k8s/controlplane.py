"""A real Kubernetes control plane on 127.0.0.1, for tests and local experiments.

etcd, kube-apiserver (TLS, RBAC, client-certificate auth, service-account signing keys,
Secrets encrypted at rest and an audit log of Secret access: :mod:`sre_cli.k8s.hardening`),
kube-controller-manager, kube-scheduler and kwok run as child processes on free loopback
ports. kwok plays the kubelet for ``nodes`` fake Node objects: pods bound to them are reported
Running and Ready, so Deployments, ReplicaSets, the scheduler and RBAC all behave for real
while no container ever runs.

Example::

    with ControlPlane(tmp_path, nodes=3) as cp:
        subprocess.run([cp.toolchain.kubectl, "--kubeconfig", cp.kubeconfig, "get", "nodes"])

Start-up order matters: the controller manager gives up if the API server is not healthy
within 10 s of its own start, so it, the scheduler and kwok start after ``/readyz`` answers.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from sre_cli.errors import ComponentError
from sre_cli.infra.process import ManagedProcess, free_port
from sre_cli.k8s.binaries import K8sToolchain, find_toolchain
from sre_cli.k8s.hardening import ApiserverHardening
from sre_cli.k8s.pki import CertPair, ClusterPKI, issue_cert
from sre_cli.lifecycle import Running

__all__ = ["ControlPlane", "StartupTimings"]

SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.0/16"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


@dataclass
class StartupTimings:
    """Seconds spent in each start-up phase (for reports and regressions)."""

    etcd: float = 0.0
    apiserver: float = 0.0
    components: float = 0.0
    nodes: float = 0.0
    total: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class ControlPlane(Running):
    """Start with :meth:`start` (or ``with``), stop with :meth:`stop`; see the module docs."""

    def __init__(
        self,
        workdir: Path,
        nodes: int = 1,
        *,
        toolchain: K8sToolchain | None = None,
        timeout: float = 90.0,
    ) -> None:
        if nodes < 0:
            raise ValueError("the number of kwok nodes cannot be negative")
        self.workdir = Path(workdir)
        self.node_count = nodes
        self.timeout = timeout
        self._toolchain = toolchain
        self._procs: list[ManagedProcess] = []
        self._pki: ClusterPKI | None = None
        self.apiserver_port = 0
        self.timings = StartupTimings()
        #: etcd's client URL (loopback, plain HTTP), e.g. to read raw stored values.
        self.etcd_url = ""
        #: encryption at rest and the audit log of the API server (sre_cli.k8s.hardening).
        self.hardening = ApiserverHardening(self.workdir / "hardening")

    # -- public surface -------------------------------------------------------------------

    @property
    def toolchain(self) -> K8sToolchain:
        if self._toolchain is None:
            self._toolchain = find_toolchain()
        return self._toolchain

    @property
    def server(self) -> str:
        """The API server URL, e.g. ``https://127.0.0.1:34567``."""
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (client certificate in group ``system:masters``)."""
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> ClusterPKI:
        if self._pki is None:
            raise ComponentError("control plane not started")
        return self._pki

    def client_kubeconfig(
        self, directory: Path, name: str, cn: str, orgs: tuple[str, ...] = ()
    ) -> Path:
        """``directory/NAME.kubeconfig`` for a client certificate (CN ``cn``, O ``orgs``) the
        cluster CA signs, for identities the plane does not create itself (a kubelet)."""
        pair = issue_cert(self.pki.ca, directory / "pki", name, cn, orgs)
        path = directory / f"{name}.kubeconfig"
        write_kubeconfig(path, self.server, self.pki.ca.cert, pair, cn)
        return path

    @property
    def node_names(self) -> list[str]:
        return [f"kwok-node-{i}" for i in range(self.node_count)]

    def kubectl_env(self) -> dict[str, str]:
        """Environment for running the built kubectl against this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBECACHEDIR"] = str(self.workdir / "kubectl-cache")
        return env

    def start(self) -> Self:
        tools = self.toolchain
        t0 = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._pki = ClusterPKI.create(self.workdir / "pki")
            self.hardening = ApiserverHardening.create(self.workdir / "hardening")
            etcd_url = self.etcd_url = self._start_etcd(tools)
            self._start_apiserver(tools, etcd_url)
            self._write_kubeconfigs()
            self._start_components(tools)
            self._create_nodes()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.timings.total = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop every component, newest first. Safe to call twice or after a failed start."""
        errors: list[str] = []
        for proc in reversed(self._procs):
            try:
                proc.stop(timeout=10.0)
            except Exception as exc:  # keep stopping the others
                errors.append(f"{proc.name}: {exc}")
        self._procs.clear()
        if errors:
            raise ComponentError("failed to stop: " + "; ".join(errors))

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self._procs if p.pid is not None}

    def api_get(self, path: str) -> Any:
        """GET ``path`` from the API server as admin and decode the JSON body."""
        status, body = self._request("GET", path)
        if status != 200:
            raise ComponentError(f"GET {path} answered {status}: {body[:200]!r}")
        return json.loads(body)

    # -- components -----------------------------------------------------------------------

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> ManagedProcess:
        proc = ManagedProcess(
            name, argv, self.workdir, log_path=self.workdir / "logs" / f"{name}.log", env=env
        )
        proc.start()
        self._procs.append(proc)
        return proc

    def _start_etcd(self, tools: K8sToolchain) -> str:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        proc = self._spawn(
            "etcd",
            [
                str(tools.etcd),
                "--name=aqua",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=aqua={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", client, timeout=2)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                ok = resp.status == 200 and b'"true"' in resp.read()
                conn.close()
                return ok
            except OSError:
                return False

        self.timings.etcd = wait_until(healthy, what="etcd /health", timeout=30, watch=[proc])
        return client_url

    def _start_apiserver(self, tools: K8sToolchain, etcd_url: str) -> None:
        pki = self.pki
        self.apiserver_port = free_port()
        self._spawn(
            "kube-apiserver",
            [
                str(tools.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.apiserver.cert}",
                f"--tls-private-key-file={pki.apiserver.key}",
                f"--client-ca-file={pki.ca.cert}",
                # Node: a kubelet (system:node:NAME) may touch only its own node and pods.
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={pki.kubelet_client.cert}",
                f"--kubelet-client-key={pki.kubelet_client.key}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                # The aggregation layer (metrics.k8s.io from metrics-server); pod IPs are
                # routed to the node's bridge, so the API server calls endpoints directly.
                f"--requestheader-client-ca-file={pki.ca.cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
                f"--proxy-client-key-file={pki.front_proxy_client.key}",
                "--enable-aggregator-routing=true",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_public_key}",
                f"--service-account-signing-key-file={pki.sa_private_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # No real endpoint to publish for the `kubernetes` Service; without this the
                # reconciler logs a loopback-address error every few seconds.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                *self.hardening.apiserver_flags(),
            ],
        )

        def ready() -> bool:
            try:
                status, _ = self._request("GET", "/readyz")
            except OSError:
                return False
            return status == 200

        self.timings.apiserver = wait_until(
            ready, what="kube-apiserver /readyz", timeout=self.timeout, watch=self._procs
        )

    def _write_kubeconfigs(self) -> None:
        pki = self.pki
        write_kubeconfig(self.kubeconfig, self.server, pki.ca.cert, pki.admin, "aqua-admin")
        for name, pair in (
            ("controller-manager", pki.controller_manager),
            ("scheduler", pki.scheduler),
            ("kwok", pki.kwok),
        ):
            write_kubeconfig(self._component_kubeconfig(name), self.server, pki.ca.cert, pair, name)

    def _component_kubeconfig(self, name: str) -> Path:
        return self.workdir / "kubeconfigs" / f"{name}.kubeconfig"

    def _start_components(self, tools: K8sToolchain) -> None:
        pki = self.pki
        t0 = time.monotonic()
        kcm_port, sched_port = free_port(), free_port()
        kcm = self._spawn(
            "kube-controller-manager",
            [
                str(tools.kube_controller_manager),
                f"--kubeconfig={self._component_kubeconfig('controller-manager')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={self.workdir / 'controller-manager-certs'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_private_key}",
                f"--root-ca-file={pki.ca.cert}",
                f"--cluster-cidr={POD_CIDR}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--profiling=false",
            ],
        )
        sched = self._spawn(
            "kube-scheduler",
            [
                str(tools.kube_scheduler),
                f"--kubeconfig={self._component_kubeconfig('scheduler')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                f"--cert-dir={self.workdir / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        kwok_argv = [
            str(tools.kwok),
            f"--kubeconfig={self._component_kubeconfig('kwok')}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.1",
            f"--cidr={POD_CIDR}",
            "--node-lease-duration-seconds=40",
        ]
        kwok_argv += [f"--config={stage}" for stage in tools.kwok_stages]
        # kwok also reads ~/.kwok/kwok.yaml when it exists: give it a private HOME.
        kwok_home = self.workdir / "kwok-home"
        kwok_home.mkdir(exist_ok=True)
        kwok = self._spawn("kwok", kwok_argv, env={**os.environ, "HOME": str(kwok_home)})

        for proc, port in ((kcm, kcm_port), (sched, sched_port)):
            wait_until(
                functools.partial(_insecure_healthz, port),
                what=f"{proc.name} /healthz",
                timeout=self.timeout,
                watch=[proc, kwok],
            )
        self.timings.components = time.monotonic() - t0

    def _create_nodes(self) -> None:
        for name in self.node_names:
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        KWOK_NODE_ANNOTATION: "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                "spec": {},
                "status": {
                    "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                    "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                },
            }
            status, body = self._request("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise ComponentError(f"creating node {name} answered {status}: {body[:300]!r}")

    def _wait_ready(self) -> None:
        expected = set(self.node_names)

        def nodes_ready() -> bool:
            items = self.api_get("/api/v1/nodes").get("items", [])
            ready = {
                n["metadata"]["name"]
                for n in items
                if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in n.get("status", {}).get("conditions", [])
                )
            }
            return expected <= ready

        self.timings.nodes = wait_until(
            nodes_ready,
            what=f"{len(expected)} Ready kwok nodes",
            timeout=self.timeout,
            watch=self._procs,
        )

        # The service-account controller creating `default` proves the controller manager
        # reconciles, not merely answers /healthz.
        def default_sa() -> bool:
            status, _ = self._request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            return status == 200

        self.timings.extra["default_serviceaccount"] = wait_until(
            default_sa, what="the default ServiceAccount", timeout=self.timeout, watch=self._procs
        )

    # -- HTTP -----------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        ctx.load_cert_chain(str(self.pki.admin.cert), str(self.pki.admin.key))
        return ctx

    def _request(self, method: str, path: str, payload: object | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.apiserver_port, context=self._ssl_context(), timeout=10
        )
        try:
            headers = {"Accept": "application/json"}
            body = None
            if payload is not None:
                body = json.dumps(payload).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    watch: Sequence[ManagedProcess] = (),
    interval: float = 0.2,
) -> float:
    """Poll ``check`` until it returns True; return the seconds waited.

    Unlike :meth:`ManagedProcess.wait_ready` this watches several processes: the API server
    waiting on a dead etcd, or nodes waiting on a dead kwok, fail at once with that log.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        for proc in watch:
            if not proc.running():
                tail = "\n".join(proc.log_tail(25))
                raise ComponentError(
                    f"{proc.name} exited with code {proc.returncode} while waiting for {what}; "
                    f"last lines of {proc.log_path}:\n{tail}"
                )
        if check():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            tails = "".join(
                f"\n--- {p.name} ({p.log_path}) ---\n" + "\n".join(p.log_tail(10)) for p in watch
            )
            raise ComponentError(f"timed out after {timeout:.0f} s waiting for {what}{tails}")
        time.sleep(interval)


def _insecure_healthz(port: int) -> bool:
    # The components serve /healthz with a self-signed certificate and allow it anonymously.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=2)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        ok = resp.status == 200 and resp.read().strip() == b"ok"
        conn.close()
        return ok
    except OSError:
        return False


def write_kubeconfig(path: Path, server: str, ca: Path, client: CertPair, user: str) -> None:
    """A kubeconfig at ``path`` for ``user`` authenticating with the client certificate."""
    # JSON is valid YAML: kubectl, client-go and the Python client all read it.
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "aqua", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(client.cert), "client-key": str(client.key)},
            }
        ],
        "contexts": [{"name": "aqua", "context": {"cluster": "aqua", "user": user}}],
        "current-context": "aqua",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
