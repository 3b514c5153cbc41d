"""One measured game day: `aqua gameday run ... --yes --format json`, its row for the tables.

Shared by run.py (the stack) and on_cluster.py (the local cluster)::

    row = run_once("outage", 0, waited, "outage", "--state-dir", str(state))
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def aqua(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "sre_cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def must(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def run_once(name: str, index: int, waited: float, *args: str) -> dict[str, Any]:
    """``aqua gameday run *args --yes --format json`` once; its row, printed as it ends."""
    started = time.monotonic()
    done = aqua("gameday", "run", *args, "--yes", "--format", "json")
    took = time.monotonic() - started
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    row = {
        "scenario": name,
        "run": index + 1,
        "exit": done.returncode,
        "verdict": report.get("verdict"),
        "mttd_s": (report.get("alert") or {}).get("mttd_s"),
        "mttr_s": (report.get("recovery") or {}).get("mttr_s"),
        "budget_spent": report.get("budget_spent"),
        "requests": report.get("requests"),
        "seconds": round(took, 1),
        "waited_for_resolve_s": round(waited, 1),
        "loadavg": [round(x, 1) for x in os.getloadavg()],
        "report": report,
        "stderr": done.stderr[-2000:] if done.returncode else "",
    }
    print(
        f"{name} run {index + 1}: exit {done.returncode} {row['verdict']} "
        f"MTTD {row['mttd_s']} s MTTR {row['mttr_s']} s ({took:.0f} s, "
        f"load average {row['loadavg']})",
        flush=True,
    )
    return row
