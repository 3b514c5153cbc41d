"""``aqua rollout`` on the local cluster with a real node, measured under load.

Under a paced load through the NodePort on an ``/api`` route (the live path), on its own
cluster: three canaries of the API (a good one, a new image tag, through every step to
promotion; one answering 5 % errors and one adding 300 ms, both the same image with fault
rules pinned by their pod template, until the abort), then three blue-greens (a good one to
promotion, and the same two faults, refused at the gate before any Service moves). From each
run's report and journal: the analysis time per check (the Prometheus queries of every SLO for
both tracks), when each step's verdict came, the rollback (the new pods scaled to 0, drained,
deleted), the promotion (the stable Deployment rolled, the new pods gone), green's own
synthetic load, and the live path's failed requests. Needs root and the provisioned binaries.

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
from sre_cli.cluster.stack import NAMESPACE  # noqa: E402

RPS = 60
NEXT = "localhost/aqua/service-api:bench-next"
GREEN = "localhost/aqua/service-api:bench-green"
FAULTS = (("5 % errors", {"error_rate": 0.05}), ("+300 ms", {"latency_ms": 300}))


def rollout(
    cluster: LocalCluster, strategy: str, journal: Path, image: str, *args: str
) -> dict[str, Any]:
    """One rollout under the paced load; its report plus the load's and the journal's figures."""
    replicas = [stable_replicas(cluster)]
    with Load(cluster.status().urls["api"] + FARMS, rps=RPS) as load:
        while load.result.requests < 100:
            time.sleep(0.1)
        t0 = time.monotonic()
        _, report = run_rollout(cluster, strategy, image, journal, *args)
        wall = time.monotonic() - t0
    replicas.append(stable_replicas(cluster))
    report["bench"] = {
        "wall_s": wall,
        "replicas": replicas,
        "requests": load.result.requests,
        "failures": load.result.failures,
        "errors": dict(load.result.errors),
        "query_s": [
            e["query_seconds"] for e in journal_events(journal) if e["event"] == "analysis"
        ],
    }
    return report


def stable_replicas(cluster: LocalCluster) -> int:
    """The stable Deployment's replicas as its spec has them now (the HPA may change them)."""
    d = cluster.kubectl().json("-n", NAMESPACE, "get", "deployment", "api-service")
    return int(d["spec"]["replicas"])


def _verdicts(steps: list[dict[str, Any]]) -> str:
    out = []
    for s in steps:
        if not s["analysis"]:
            continue
        what = f"step {s['index']}" if s["phase"] == "traffic" else f"{s['phase']}"
        text = f"{what} {s['verdict']} after {s['analysis']['window_s']:.0f} s"
        if s["load"]:
            load = s["load"]
            text += f" (green's own {load['requests']} req, {load['server_errors']} 5xx)"
        out.append(text)
    return "; ".join(out)


def row(name: str, r: dict[str, Any]) -> str:
    b = r["bench"]
    q = b["query_s"]
    timing = (
        f"promotion {r['promotion_s']:.1f} s"
        if r["outcome"] == "promoted"
        else f"rollback {r['rollback_s']:.1f} s"
    )
    return (
        f"| {name} | {r['outcome']} in **{b['wall_s']:.1f} s**; {timing} | "
        f"{_verdicts(r['steps'])} | {len(q)} analyses, median "
        f"{statistics.median(q) * 1000:.0f} ms, max {max(q) * 1000:.0f} ms | "
        f"{b['failures']} of {b['requests']}{_failures(b)} |"
    )


def _failures(b: dict[str, Any]) -> str:
    """What failed, and whether the stable replicas changed meanwhile (the HPA)."""
    notes = [", ".join(f"{n} {kind}" for kind, n in sorted(b["errors"].items()))]
    before, after = b["replicas"]
    if before != after:
        notes.append(f"stable replicas {before} -> {after} meanwhile")
    text = "; ".join(n for n in notes if n)
    return f" ({text})" if text else ""


def commit() -> str:
    import subprocess

    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", default="20s", help="each step's interval")
    parser.add_argument("--write", action="store_true", help="update bench/README.md")
    args = parser.parse_args()
    load_before = load_average()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="aqua-bench-rollout-") as tmpdir:
        tmp = Path(tmpdir)
        cluster = LocalCluster(tmp / "cluster")
        cluster.up(stack=True, ml=False)
        try:
            tag_image(cluster, NEXT)
            tag_image(cluster, GREEN)
            quick = ("--interval", args.interval, "--check-every", "5s")
            bad = ("--interval", "90s", "--check-every", "3s")
            journal = iter(tmp / f"{i}.jsonl" for i in range(100))
            runs["canary, good image, steps 25,50,100"] = rollout(
                cluster, "canary", next(journal), NEXT, "--steps", "25,50,100", *quick
            )
            for name, rule in FAULTS:
                # the image stable runs by now, with the fault pinned by the pod template
                runs[f"canary, {name}, steps 10,50,100"] = rollout(
                    cluster, "canary", next(journal), NEXT, *faults_env(rule),
                    "--steps", "10,50,100", *bad,
                )  # fmt: skip
            runs["blue-green, good image"] = rollout(
                cluster, "blue-green", next(journal), GREEN, *quick
            )
            for name, rule in FAULTS:
                runs[f"blue-green, {name}"] = rollout(
                    cluster, "blue-green", next(journal), GREEN, *faults_env(rule), *bad
                )
        finally:
            cluster.down()
    lines = [
        "## Rollout",
        "",
        f"`python bench/rollout/run.py` on the 2-core shared machine at commit {commit()}, "
        f"load average {load_before} at the start ({started}); {RPS} req/s through the "
        f"NodePort on `{FARMS}` (the live path), 2 stable replicas, Prometheus scraping every "
        f"2 s. Good runs: {args.interval} a step, a check every 5 s; faulty ones: 90 s a step, "
        "a check every 3 s (they end at the first failing check). Blue-green's gate loads "
        "green's own pods at 20 req/s before any Service moves, then watches it on the live "
        "traffic for one interval after the switch.",
        "",
        "| rollout | outcome, time | verdicts (window when decided) "
        "| analysis (queries of 2 SLOs × 2 tracks) | failed requests on the live path |",
        "| --- | --- | --- | --- | --- |",
        *(row(name, r) for name, r in runs.items()),
        "",
        "Rollback: from the failing analysis to the new pods scaled to 0 with none left "
        "counting as a replica, deleted (blue-green: then the Services' own selectors back). "
        "Promotion: from the last passed analysis to the stable Deployment rolled onto the new "
        "template and the new pods gone. A faulty canary's errors reach users by design (its "
        "share of the traffic); a faulty green's reach only its own synthetic load.",
        "",
        "Reproduce: `python bench/rollout/run.py --write` (root, after `scripts/provision`, "
        "under `flock /tmp/aqua-realnode.lock`).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("## Rollout", text)


if __name__ == "__main__":
    main()
