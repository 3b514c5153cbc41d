"""``aqua rollout`` on the session's cluster, for the real-node tests and bench/rollout: a
second name for the built API image (a new image to roll to), the command line with the
cluster's kubeconfig and Prometheus, and a canary's pinned faults.

    tag_image(cluster, "localhost/aqua/service-api:next")
    code, report = run_rollout(
        cluster, "canary", "localhost/aqua/service-api:next", journal, "--steps", "25,50,100"
    )
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sre_cli.cluster.cluster import LocalCluster
from sre_cli.cluster.stack import LOCAL_TAGS, NAMESPACE

#: an /api route the SLOs count (401 without a token: not a server error)
FARMS = "/api/v1/farms"


def ctr(cluster: LocalCluster, *args: str) -> None:
    """``ctr -n k8s.io ARGS`` against the node's containerd."""
    from sre_cli.cluster.tools import find_node_tools

    state = json.loads((cluster.state_dir / "cluster.json").read_text())
    argv = [str(find_node_tools().ctr), "--address", state["node"]["containerd_socket"]]
    out = subprocess.run(
        [*argv, "-n", "k8s.io", *args], capture_output=True, text=True, timeout=600, check=False
    )
    if out.returncode != 0:
        raise AssertionError(f"ctr {' '.join(args)}: {out.stderr}")


def tag_image(cluster: LocalCluster, alias: str, ref: str = LOCAL_TAGS["api"]) -> None:
    """Name the built API image ``alias`` too in the node's containerd."""
    ctr(cluster, "images", "tag", "--force", ref, alias)


def faults_env(rule: Mapping[str, object]) -> list[str]:
    """``--env`` options that pin ``rule`` on /api/v1/farms to the new pods' processes."""
    faults = json.dumps([{"route": FARMS, **rule}])
    return ["--env", "AQUA_FAULTS_ENABLED=true", "--env", f"AQUA_FAULTS_AT_START={faults}"]


def run_rollout(
    cluster: LocalCluster, strategy: str, image: str, journal: Path, *args: str
) -> tuple[int, dict[str, Any]]:
    """``aqua rollout STRATEGY -d api-service --image IMAGE ARGS --yes --format json``,
    in-process, against the cluster; its exit code and report."""
    from cli_runner import invoke

    from sre_cli.commands.rollout import app

    status = cluster.status()
    argv = [strategy, "-d", "api-service", "--image", image, *args]
    argv += ["--kubeconfig", str(status.kubeconfig), "-n", NAMESPACE]
    argv += ["--prometheus", status.urls["prometheus"], "--journal", str(journal)]
    code, out = invoke(app, [*argv, "--yes", "--format", "json"])
    report, _ = json.JSONDecoder().raw_decode(out)
    print(f"rollout {strategy} {image}: {summary(report)}")  # the figures, not asserted on
    return code, report


def summary(report: dict[str, Any]) -> str:
    """Outcome and timings of a rollout report, with the analyses' query times."""
    queries = [
        e["query_seconds"] for e in journal_events(report["journal"]) if e["event"] == "analysis"
    ]
    steps = [
        f"step {s['index']} {s['verdict']} after {s['analysis']['window_s']} s"
        for s in report["steps"]
        if s["analysis"]
    ]
    return (
        f"{report['outcome']} in {report['seconds']} s, promotion {report['promotion_s']} s, "
        f"rollback {report['rollback_s']} s; {'; '.join(steps)}; {len(queries)} analyses, "
        f"queries max {max(queries, default=0):.3f} s, sum {sum(queries):.2f} s"
    )


def journal_events(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]
