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
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from cluster.load import Load  # noqa: E402
from cluster.rollouts import FARMS, faults_env, journal_events, run_rollout, tag_image  # noqa: E402

from bench.benchlib import load_average, write_section  # noqa: E402
from sre_cli.cluster.cluster import LocalCluster  # noqa: E402

RPS = 60
NEXT = "localhost/aqua/service-api:bench-next"


def canary(cluster: LocalCluster, journal: Path, image: str, *args: str) -> dict[str, Any]:
    """One canary under the paced load; its report plus the load's and the journal's figures."""
    with Load(cluster.status().urls["api"] + FARMS, rps=RPS) as load:
        while load.result.requests < 100:
            time.sleep(0.1)
        t0 = time.monotonic()
        _, report = run_rollout(cluster, "canary", image, journal, *args)
        wall = time.monotonic() - t0
    report["bench"] = {
        "wall_s": wall,
        "requests": load.result.requests,
        "failures": load.result.failures,
        "query_s": [
            e["query_seconds"] for e in journal_events(journal) if e["event"] == "analysis"
        ],
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
    with tempfile.TemporaryDirectory(prefix="aqua-bench-rollout-") as tmpdir:
        tmp = Path(tmpdir)
        cluster = LocalCluster(tmp / "cluster")
        cluster.up(stack=True, ml=False)
        try:
            tag_image(cluster, NEXT)
            good = ("--steps", "25,50,100", "--interval", args.interval, "--check-every", "5s")
            runs = {"good image, steps 25,50,100": canary(cluster, tmp / "good.jsonl", NEXT, *good)}
            bad = ("--steps", "10,50,100", "--interval", "90s", "--check-every", "3s")
            for name, rule in (
                ("5 % errors, steps 10,50,100", {"error_rate": 0.05}),
                ("+300 ms, steps 10,50,100", {"latency_ms": 300}),
            ):
                # the image stable runs by now, with the fault pinned by the pod template
                journal = tmp / f"{len(runs)}.jsonl"
                runs[name] = canary(cluster, journal, NEXT, *faults_env(rule), *bad)
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
