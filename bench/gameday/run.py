"""MTTD and MTTR of each game-day scenario on a full local stack, median of N runs.

Starts its own stack (`aqua stack up --faults`, with `--gameday-alerts` unless
`--shipped-rules`), seeds it, then runs `aqua gameday run SCENARIO --yes --format json` N
times per scenario. Before each run it waits until the scenario's alert has resolved at
Alertmanager (a game day refuses to start while its alert fires). With the shipped rules the
scenarios' alert timeouts are raised to `--alert-timeout` (an alert that must hold 5 minutes
cannot fire within the 3 minutes the shipped scenarios allow).

    python bench/gameday/run.py                                   # shortened timings, 3 runs
    python bench/gameday/run.py --shipped-rules --scenarios outage database-outage
    python bench/gameday/run.py --json results.json               # every run's report too
    flock /tmp/aqua-realnode.lock python bench/gameday/run.py --target kubernetes   # on_cluster.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.gameday.measure import aqua, must, run_once

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("outage", "database-outage", "memory-leak", "latency-spike", "bad-deploy", "kafka-lag")


_HELD: list[object] = []


def reserve_base() -> int:
    """A port base reserved as the tests reserve theirs (a lock file per base, held until this
    process exits), so neither a test stack nor a second bench lands on this stack's ports
    while one of its components is stopped and its port is free for a moment."""
    sys.path.insert(0, str(ROOT / "tests"))
    from stack.stack_harness import reserve_port_base

    reserved = reserve_port_base()
    _HELD.append(reserved)  # its lock file stays open (and locked) until the process exits
    return reserved.base


def wait_resolved(state: Path, alert: str, timeout: float = 900) -> float:
    """Seconds until ``alert`` is no longer active at the stack's Alertmanager."""
    plan = json.loads((state / "plan.json").read_text())
    url = next(c["url"] for c in plan["components"] if c["kind"] == "alertmanager")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        found = httpx.get(f"{url}/api/v2/alerts", params={"filter": f'alertname="{alert}"'})
        if not [a for a in found.json() if a["status"]["state"] == "active"]:
            return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"{alert} still active after {timeout:g}s")


def scenario_file(name: str, folder: Path, alert_timeout: str | None) -> Path:
    """The shipped scenario, with a longer alert timeout when asked."""
    src = ROOT / "chaos" / "gameday" / f"{name}.yaml"
    if alert_timeout is None:
        return src
    text = src.read_text().replace("alert: 3m,", f"alert: {alert_timeout},")
    target = folder / f"{name}.yaml"
    target.write_text(text)
    return target


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--shipped-rules", action="store_true", help="no --gameday-alerts")
    ap.add_argument("--alert-timeout", default="12m", help="with --shipped-rules")
    ap.add_argument("--json", type=Path, help="write every run's report here")
    ap.add_argument(
        "--port-base", type=int, help="the stack's ports (default: a free range, reserved)"
    )
    ap.add_argument("--target", choices=("stack", "kubernetes"), default="stack")
    args = ap.parse_args()
    # stopped by a signal (also when started in the background, where SIGINT is ignored), the
    # run still tears its stack down: the exception runs the `finally` below
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.target == "kubernetes":  # the local cluster's real node: on_cluster.py
        from bench.gameday.on_cluster import SCENARIOS as ON_KUBERNETES
        from bench.gameday.on_cluster import run as run_on_cluster

        chosen = [s for s in args.scenarios if s in ON_KUBERNETES] or list(ON_KUBERNETES)
        summary(
            run_on_cluster(chosen, args.runs), chosen, "kubernetes, --gameday-alerts", args.json
        )
        return

    tmp = Path(tempfile.mkdtemp(prefix="aqua-bench-gameday-"))
    tmp.chmod(0o755)
    state = tmp / "stack"
    base = args.port_base or reserve_base()
    up = ["stack", "up", "--faults", "--port-base", str(base), "--state-dir", str(state)]
    if not args.shipped_rules:
        up.append("--gameday-alerts")
    rows: list[dict[str, Any]] = []
    try:
        must(aqua(*up, timeout=600), "aqua stack up")
        seed = ("--farms", "1", "--ponds", "2", "--hours", "48", "--state-dir", str(state))
        must(aqua("stack", "seed", *seed, timeout=600), "aqua stack seed")
        timeout = args.alert_timeout if args.shipped_rules else None
        for name in args.scenarios:
            path = scenario_file(name, tmp, timeout)
            alert = next(
                line.split(":", 1)[1].strip()
                for line in path.read_text().splitlines()
                if line.startswith("alert:")
            )
            for i in range(args.runs):
                waited = wait_resolved(state, alert)
                where = ("--state-dir", str(state))
                rows.append(run_once(name, i, waited, str(path), *where))
    finally:
        aqua("stack", "down", "--purge", "--state-dir", str(state), timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)
    timings = "shipped rules" if args.shipped_rules else "--gameday-alerts"
    summary(rows, args.scenarios, timings, args.json)


def summary(
    rows: list[dict[str, Any]], scenarios: list[str], timings: str, out: Path | None
) -> None:
    if out:
        out.write_text(json.dumps(rows, indent=1))
    print(f"\n| scenario ({timings}) | runs passed | MTTD median (s) | MTTR median (s) |")
    print("|---|---:|---:|---:|")
    for name in scenarios:
        mine = [r for r in rows if r["scenario"] == name]
        passed = [r for r in mine if r["verdict"] == "pass"]
        mttd = median([r["mttd_s"] for r in passed if r["mttd_s"] is not None])
        mttr = median([r["mttr_s"] for r in passed if r["mttr_s"] is not None])
        print(f"| {name} | {len(passed)}/{len(mine)} | {mttd} | {mttr} |")


if __name__ == "__main__":
    main()
