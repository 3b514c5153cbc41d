"""Warm `aqua stack up` to all-ready time, and the whole stack's memory (RSS sum).

Warm: the state dir already holds the initialised databases (PostgreSQL cluster, Kafka
storage, Prometheus TSDB) and Python's bytecode caches are hot, as on a developer machine the
second time. One cold `up` + `down` prepares it, then each run is `up` (timed from the command
start until it returns, i.e. every component passed its readiness probe), an RSS sample of
every process of the stack, and `down`.

    python bench/stack/run.py                  # full stack, 3 warm runs
    python bench/stack/run.py --lite --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_base(span: int = 30) -> int:
    for base in range(24000, 32000, span):
        ok = True
        for port in range(base, base + span):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise SystemExit("no free port range")


def aqua(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "sre_cli", "stack", *args, "--state-dir", str(state)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"`aqua stack {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")
    return done


def rss_by_component(state: Path) -> dict[str, int]:
    """RSS (bytes) of every process carrying the stack's marker, grouped by component."""
    st = json.loads((state / "state.json").read_text())
    marker = f"\0AQUA_STACK_ID={st['stack_id']}\0".encode()
    groups = {c["pid"]: name for name, c in st["components"].items() if c["pid"]}
    out: dict[str, int] = defaultdict(int)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = b"\0" + (entry / "environ").read_bytes() + b"\0"
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        # stat after the command name: state, ppid, pgrp, session. Each component leads its
        # own session; redis and nginx rewrite the memory that /proc/PID/environ shows, so
        # the session finds them where the marker does not.
        pid, sid = int(entry.name), int(stat[3])
        if marker not in environ and sid not in groups:
            continue
        name = (
            groups.get(sid)
            or groups.get(pid)
            or ("supervisor" if pid == st["supervisor_pid"] else "other")
        )
        out[name] += pages * PAGE
    return dict(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lite", action="store_true")
    parser.add_argument("--api-replicas", type=int, default=2)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args()
    own_dir = args.state_dir is None
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="aqua-stack-bench-"))
    base = free_base()
    up = ["up", "--port-base", str(base), "--api-replicas", str(args.api_replicas)]
    if args.lite:
        up.append("--lite")
    print(f"state dir {state}, ports {base}..{base + 26}", file=sys.stderr)
    aqua(state, *up)  # cold: initdb, Kafka format, first imports
    aqua(state, "down")
    times: list[float] = []
    rss: list[dict[str, int]] = []
    ready: list[dict[str, float]] = []
    for i in range(args.runs):
        started = time.monotonic()
        aqua(state, *up)
        times.append(time.monotonic() - started)
        time.sleep(3)  # let start-up transients settle before sampling memory
        rss.append(rss_by_component(state))
        st = json.loads((state / "state.json").read_text())
        ready.append({n: c["ready_at"] - st["started_at"] for n, c in st["components"].items()})
        aqua(state, "down")
        print(
            f"run {i + 1}: {times[-1]:.1f} s, RSS {sum(rss[-1].values()) / 2**20:.0f} MiB",
            file=sys.stderr,
        )
    if own_dir:  # data, PostgreSQL's cluster included, then the dir itself
        aqua(state, "down", "--purge")
        shutil.rmtree(state, ignore_errors=True)
    totals = [sum(r.values()) / 2**20 for r in rss]
    load = os.getloadavg()[0]
    mode = "lite" if args.lite else "full"
    head = f"{mode} stack, {args.api_replicas} API replicas, {args.runs} warm runs"
    print(f"\n{head}, load average {load:.1f}\n")
    print("| what | median | min | max |")
    print("|---|---:|---:|---:|")
    t_med, t_min, t_max = statistics.median(times), min(times), max(times)
    r_med, r_min, r_max = statistics.median(totals), min(totals), max(totals)
    print(f"| `aqua stack up` to all ready (s) | {t_med:.1f} | {t_min:.1f} | {t_max:.1f} |")
    print(f"| RSS sum of the stack (MiB) | {r_med:.0f} | {r_min:.0f} | {r_max:.0f} |")
    print("\n| component | ready after (s, median) | RSS (MiB, median) |")
    print("|---|---:|---:|")
    names = sorted(
        {n for r in rss for n in r} | {n for r in ready for n in r},
        key=lambda n: statistics.median([r.get(n, 0.0) for r in ready]),
    )
    for n in names:
        t = (
            statistics.median([r.get(n, float("nan")) for r in ready])
            if n in ready[0]
            else float("nan")
        )
        m = statistics.median([r.get(n, 0) for r in rss]) / 2**20
        shown = "-" if t != t else f"{t:.1f}"  # NaN: the supervisor has no readiness
        print(f"| {n} | {shown} | {m:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
