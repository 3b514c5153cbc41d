"""``aqua rollout`` on the local cluster with a real node, measured under load.

Three canaries of the API, each under a paced load through the NodePort on an ``/api`` route:
a good one (a new image tag) through every step to promotion, one answering 5 % errors and one
adding 300 ms (both the same image with fault rules pinned by their pod template) until the
abort. From each run's report and journal: the analysis time per check (the Prometheus queries
of every SLO for both tracks), the time from a step's pods Ready to the abort decision, the
rollback (canary scaled to 0, drained, deleted), the promotion (the stable Deployment rolled,
the canary gone) and the failed requests. Needs root and the provisioned binaries.

    python bench/rollout/run.py                 # prints the table
    python bench/rollout/run.py --write         # and replaces the section in bench/README.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from cli_runner import invoke  # noqa: E402
from cluster.load import Load  # noqa: E402

from bench.benchlib import load_average, write_section  # noqa: E402
from sre_cli.cluster.cluster import LocalCluster  # noqa: E402
from sre_cli.cluster.stack import LOCAL_TAGS, NAMESPACE  # noqa: E402
from sre_cli.cluster.tools import find_node_tools  # noqa: E402
from sre_cli.commands.rollout import app  # noqa: E402

FARMS = "/api/v1/farms"
RPS = 60


def tag(cluster: LocalCluster, alias: str) -> None:
    state = json.loads((cluster.state_dir / "cluster.json").read_text())
    argv = [str(find_node_tools().ctr), "--address", state["node"]["containerd_socket"]]
    argv += ["-n", "k8s.io", "images", "tag", "--force", LOCAL_TAGS["api"], alias]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def canary(cluster: LocalCluster, journal: Path, *args: str) -> dict[str, Any]:
    status = cluster.status()
    url = status.urls["api"] + FARMS
    argv = [
        "canary",
        "-d",
        "api-service",
        *args,
        "--kubeconfig",
        str(status.kubeconfig),
        "-n",
        NAMESPACE,
        "--prometheus",
        status.urls["prometheus"],
        "--journal",
        str(journal),
        "--yes",
        "--format",
        "json",
    ]
    with Load(url, rps=RPS) as load:
        while load.result.requests < 100:
            time.sleep(0.1)
        t0 = time.monotonic()
        _, out = invoke(app, argv)
        wall = time.monotonic() - t0
    report: dict[str, Any] = json.JSONDecoder().raw_decode(out)[0]
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    report["bench"] = {
        "wall_s": wall,
        "requests": load.result.requests,
        "failures": load.result.failures,
        "query_s": [e["query_seconds"] for e in events if e["event"] == "analysis"],
    }
    return report


def row(name: str, r: dict[str, Any]) -> str:
    b = r["bench"]
    q = b["query_s"]
    steps = r["steps"]
    last = steps[-1]["analysis"] if steps else None
    decided = f"{last['window_s']:.0f} s into step {steps[-1]['index']}" if last else "-"
    extra = (
        f"promotion {r['promotion_s']:.1f} s"
        if r["outcome"] == "promoted"
        else f"decided {decided}, rollback {r['rollback_s']:.1f} s"
    )
    return (
        f"| {name} | {r['outcome']} in **{b['wall_s']:.1f} s**; {extra} | "
        f"{len(q)} analyses, median {statistics.median(q) * 1000:.0f} ms, "
        f"max {max(q) * 1000:.0f} ms | {b['failures']} of {b['requests']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", default="20s", help="each step's interval")
    parser.add_argument("--write", action="store_true", help="update bench/README.md")
    args = parser.parse_args()
    load_before = load_average()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="aqua-bench-rollout-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster")
        cluster.up(stack=True, ml=False)
        try:
            tag(cluster, "localhost/aqua/service-api:bench-next")
            common = ["--interval", args.interval, "--check-every", "5s"]
            runs = {
                "good image, steps 25,50,100": canary(
                    cluster,
                    Path(tmp) / "good.jsonl",
                    "--image",
                    "localhost/aqua/service-api:bench-next",
                    "--steps",
                    "25,50,100",
                    *common,
                ),
            }
            for name, rule in (
                ("5 % errors, steps 10,50,100", {"error_rate": 0.05}),
                ("+300 ms, steps 10,50,100", {"latency_ms": 300}),
            ):
                faults = json.dumps([{"route": FARMS, **rule}])
                runs[name] = canary(
                    cluster,
                    Path(tmp) / f"{len(runs)}.jsonl",
                    "--image",
                    "localhost/aqua/service-api:bench-next",  # what stable runs by now
                    "--env",
                    "AQUA_FAULTS_ENABLED=true",
                    "--env",
                    f"AQUA_FAULTS_AT_START={faults}",
                    "--steps",
                    "10,50,100",
                    "--interval",
                    "90s",
                    "--check-every",
                    "3s",
                )
        finally:
            cluster.down()
    lines = [
        "## Rollout",
        "",
        f"`python bench/rollout/run.py` on the 2-core shared machine, load average "
        f"{load_before} at the start ({started}); {RPS} req/s through the NodePort on "
        f"`{FARMS}`, 2 stable replicas, Prometheus scraping every 2 s.",
        "",
        "| canary | outcome, time | analysis (queries of 2 SLOs × 2 tracks) | failed requests |",
        "| --- | --- | --- | --- |",
        *(row(name, r) for name, r in runs.items()),
        "",
        "Reproduce: `python bench/rollout/run.py --write` (root, after `scripts/provision`).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("## Rollout", text)


if __name__ == "__main__":
    main()
