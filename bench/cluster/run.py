"""The local cluster with a real node, measured: `aqua cluster up` (warm), image builds,
pod start (created -> Ready) median over N pods on the real node and on a kwok node, and
`aqua chaos kill-pod` recovery on both, the real one under load through the NodePort.

One cluster (real node + one kwok node) serves every measurement; each figure is taken in
the same run as its kwok counterpart, on the same loaded machine. Needs root and the
provisioned binaries (scripts/provision).

    python bench/cluster/run.py                 # prints the table
    python bench/cluster/run.py --write         # and replaces the section in bench/README.md
    python bench/cluster/run.py --only kill-pod --kills 3 --write
                                                # just the kill-pod row under load, 3 times;
                                                # --write replaces that row of the table
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from cluster.load import Load, kill_pod_args  # noqa: E402

from bench.benchlib import README, load_average, write_section  # noqa: E402
from sre_cli.cluster.cluster import LocalCluster  # noqa: E402
from sre_cli.cluster.images import ImageBuilder  # noqa: E402
from sre_cli.cluster.kubectl import Kubectl  # noqa: E402
from sre_cli.cluster.node import NODE_NAME, PAUSE_IMAGE  # noqa: E402
from sre_cli.cluster.stack import NAMESPACE  # noqa: E402
from sre_cli.cluster.tools import find_node_tools  # noqa: E402

BENCH_NS = "bench"


def pod(name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": BENCH_NS, "labels": {"bench": "start"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "web",
                    "image": PAUSE_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["/busybox", "httpd", "-f", "-p", "8080", "-h", "/"],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
        },
    }


def pod_starts(kube: Kubectl, node: str, count: int, prefix: str) -> list[float]:
    """Create pods one at a time; seconds from the create call to `kubectl wait` Ready."""
    out = []
    for i in range(count):
        name = f"{prefix}-{i}"
        t0 = time.monotonic()
        kube.run("apply", "-f", "-", stdin=json.dumps(pod(name, node)))
        kube.run("-n", BENCH_NS, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
        out.append(time.monotonic() - t0)
    kube.run("-n", BENCH_NS, "delete", "pods", "-l", "bench=start", "--wait=true", timeout=300)
    return out


def kill_pod(kube: Kubectl, namespace: str, selector: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sre_cli",
            "chaos",
            *kill_pod_args(namespace, selector, kube.kubeconfig),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(done.stdout))


KILL_POD_ROW = "`aqua chaos kill-pod` api-service, real node, 120 req/s through the NodePort"


def kill_pod_under_load(kube: Kubectl, url: str, kills: int) -> str:
    """``kills`` times: delete one API pod under 120 req/s and wait for its replacement;
    the recovery times, requests and failures (by kind) of each, one after the other."""
    out = []
    for _ in range(kills):
        with Load(url, rps=120) as load:
            time.sleep(1)
            report = kill_pod(kube, NAMESPACE, "app=api-service")
            time.sleep(1)
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(load.result.errors.items()))
        out.append(
            f"recovered in **{report['recovery_seconds']:.1f} s**; {load.result.requests} "
            f"requests, {load.result.failures} failed" + (f" ({kinds})" if kinds else "")
        )
    return "<br>".join(out)


def write_row(what: str, result: str) -> None:
    """Replace the result of the ``what`` row in bench/README.md's cluster table."""
    text = README.read_text(encoding="utf-8")
    row = re.compile(rf"^\| {re.escape(what)} \| .* \|$", re.M)
    if not row.search(text):
        raise SystemExit(f"no row {what!r} in {README}")
    README.write_text(row.sub(lambda _: f"| {what} | {result} |", text), encoding="utf-8")


def kwok_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "kwok-api", "namespace": BENCH_NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "kwok-api"}},
            "template": {
                "metadata": {"labels": {"app": "kwok-api"}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "api", "image": "localhost/aqua/service-api:local"}],
                },
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update bench/README.md")
    parser.add_argument(
        "--only",
        choices=("all", "kill-pod"),
        default="all",
        help="kill-pod: start the cluster and measure only kill-pod under load",
    )
    parser.add_argument("--kills", type=int, default=1, help="kill-pod runs under load")
    args = parser.parse_args()
    if args.only == "kill-pod":
        kill_pod_only(args.kills, args.write)
        return
    rows: list[tuple[str, str]] = []
    load_before = load_average()

    builder = ImageBuilder(find_node_tools(), ROOT)
    t0 = time.monotonic()
    api = builder.service("api")
    rows.append(
        (
            "API/worker image, `ImageBuilder.service('api')`",
            f"{'built' if api.built else 'cached'} in {time.monotonic() - t0:.1f} s "
            f"(hashing the context included), {api.size_bytes / 2**20:.0f} MiB archive",
        )
    )

    with tempfile.TemporaryDirectory(prefix="aqua-bench-cluster-") as tmp:
        Path(tmp).chmod(0o755)
        cluster = LocalCluster(Path(tmp) / "cluster", kwok_nodes=1, progress=print)
        t0 = time.monotonic()
        status = cluster.up(stack=True)
        up = time.monotonic() - t0
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in status.timings.items() if k != "total")
        rows.append(
            (
                "`aqua cluster up`, images cached, to every Deployment Available",
                f"**{up:.1f} s** ({phases})",
            )
        )
        try:
            kube = cluster.kubectl()
            kube.run("create", "namespace", BENCH_NS)
            kube.run("-n", BENCH_NS, "create", "serviceaccount", "default", check=False)
            time.sleep(1)
            real = pod_starts(kube, NODE_NAME, args.pods, "real")
            fake = pod_starts(kube, "kwok-node-0", args.pods, "kwok")
            for label, xs in (("real node", real), ("kwok node", fake)):
                rows.append(
                    (
                        f"pod start, created -> Ready, {label}, {len(xs)} pods one at a time",
                        f"median **{statistics.median(xs):.2f} s** "
                        f"(min {min(xs):.2f}, max {max(xs):.2f})",
                    )
                )
            url = status.urls["api"] + "/live"
            rows.append((KILL_POD_ROW, kill_pod_under_load(kube, url, args.kills)))
            kube.run("apply", "-f", "-", stdin=json.dumps(kwok_deployment()))
            kube.run("-n", BENCH_NS, "rollout", "status", "deployment/kwok-api", "--timeout=120s")
            report = kill_pod(kube, BENCH_NS, "app=kwok-api")
            rows.append(
                (
                    "`aqua chaos kill-pod`, a 2-replica Deployment on the kwok node "
                    "(no traffic: kwok runs nothing)",
                    f"recovered in **{report['recovery_seconds']:.1f} s**",
                )
            )
        finally:
            t0 = time.monotonic()
            down = cluster.down()
            rows.append(
                (
                    "`aqua cluster down`",
                    f"{time.monotonic() - t0:.1f} s, {len(down.removed)} things stopped or removed",
                )
            )

    table = "| what | result |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    print(table)
    if args.write:
        text = (
            "## Local cluster with a real node\n\n"
            f"`python bench/cluster/run.py` on the 2-core shared machine, load average "
            f"{load_before} at the start ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC)."
            "\n\n"
            f"{table}\n"
        )
        write_section("## Local cluster with a real node", text)


def kill_pod_only(kills: int, write: bool) -> None:
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="aqua-bench-cluster-") as tmp:
        Path(tmp).chmod(0o755)
        # The same cluster as the whole run: the real node and one kwok node.
        cluster = LocalCluster(Path(tmp) / "cluster", kwok_nodes=1, progress=print)
        status = cluster.up(stack=True)
        try:
            result = kill_pod_under_load(cluster.kubectl(), status.urls["api"] + "/live", kills)
        finally:
            cluster.down()
    print(f"| {KILL_POD_ROW} | {result} |")
    print(f"load average {load_before} at the start, {load_average()} at the end")
    if write:
        write_row(KILL_POD_ROW, result)


if __name__ == "__main__":
    main()
