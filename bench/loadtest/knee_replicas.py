"""The knee of one API replica against two, each held to a CPU quota of its own.

On a shared two-core machine an unlimited replica's ceiling is the machine, so one and two
replicas break at about the same rate. With ``aqua stack up --lite --limits --api-cpu C`` each
replica runs in a cgroup with a quota of C cores, as a pod with a CPU limit does, and a second
replica should raise the knee. For ``--runs`` interleaved rounds this starts a lite stack with
one replica, then one with two (same quota, fresh state dirs, free port ranges), seeds a farm
and a pond, and runs ``aqua loadtest knee`` on the cached pond summary with the same search
for both: start 4/s, factor 2, 3 s steps after a 2 s warm-up, two refinements, a p95 limit of
1 s (past its quota a replica's queue grows by the second; below it CFS throttling adds up to
a 100 ms period of jitter). Results go to stdout and, with ``--write``, into the
"## Knee and replicas" section of bench/README.md::

    python bench/loadtest/knee_replicas.py --runs 2 --write
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchlib import load_average, pond_body, write_section  # noqa: E402

SECTION = "## Knee and replicas"


@dataclass(frozen=True)
class Knee:
    replicas: int
    max_rps: float
    first_bad: float | None
    p95_at_max_ms: float | None
    #: every step of the search: (rate, p95 in ms, good)
    steps: tuple[tuple[float, float, bool], ...]


def aqua(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sre_cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def knee(tmp: Path, replicas: int, cpu: float) -> Knee:
    state = tmp / f"stack-{replicas}"
    base = random.Random().randrange(20000, 32000 - 30, 30)
    up = aqua(
        *("stack", "up", "--lite", "--limits", "--api-cpu", f"{cpu:g}"),
        *("--api-replicas", str(replicas), "--port-base", str(base), "--state-dir", str(state)),
        timeout=300,
    )
    if up.returncode != 0:
        raise SystemExit(f"stack up failed:\n{up.stdout}\n{up.stderr}")
    try:
        entry = str(json.loads((state / "plan.json").read_text())["entry_url"]).rstrip("/")
        secrets = json.loads((state / "secrets.json").read_text())
        form = {"username": secrets["admin_username"], "password": secrets["admin_password"]}
        token = httpx.post(f"{entry}/api/v1/auth/token", data=form, timeout=30).json()
        h = {"Authorization": f"Bearer {token['access_token']}"}
        farm = httpx.post(f"{entry}/api/v1/farms", json={"name": "knee"}, headers=h, timeout=10)
        body = pond_body(farm.json()["id"], "K1")
        pond = httpx.post(f"{entry}/api/v1/ponds", json=body, headers=h, timeout=10).json()
        password = tmp / f"password-{replicas}"
        password.write_text(secrets["admin_password"])
        done = aqua(
            *("loadtest", "knee", "--state-dir", str(state)),
            *("--endpoint", f"/api/v1/ponds/{pond['id']}/summary"),
            *("--username", secrets["admin_username"], "--password-file", str(password)),
            *("--start", "4", "--factor", "2", "--step-duration", "3s", "--refine", "2"),
            *("--warmup", "2s", "--p95-ms", "1000", "--max-rate", "51200", "--format", "json"),
        )
        if done.returncode != 0:
            raise SystemExit(f"aqua loadtest knee failed:\n{done.stdout}\n{done.stderr}")
        result = json.loads(done.stdout)
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            aqua("stack", "down", "--purge", "--state-dir", str(state), timeout=180)
    best = result["max_sustainable_rps"]
    bad = [s["rate"] for s in result["steps"] if not s["good"]]
    at_max = [s["p95_ms"] for s in result["steps"] if s["good"] and s["rate"] == best]
    steps = tuple((s["rate"], s["p95_ms"], s["good"]) for s in result["steps"])
    return Knee(
        result["replicas"], best, min(bad) if bad else None, max(at_max, default=None), steps
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--api-cpu", type=float, default=0.05)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rounds: list[tuple[Knee, Knee]] = []
    with tempfile.TemporaryDirectory(prefix="aqua-bench-knee-") as tmpdir:
        for n in range(args.runs):
            one = knee(Path(tmpdir) / f"r{n}", 1, args.api_cpu)
            two = knee(Path(tmpdir) / f"r{n}", 2, args.api_cpu)
            rounds.append((one, two))
            print(
                f"round {n + 1}: one replica {one.max_rps:g}/s, two {two.max_rps:g}/s "
                f"({two.max_rps / one.max_rps:.2f}x); load average {load_average()}",
                flush=True,
            )
    text = render(rounds, args)
    print(text)
    if args.write:
        write_section(SECTION, text)


def render(rounds: list[tuple[Knee, Knee]], args: argparse.Namespace) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"`aqua loadtest knee` on a lite stack whose API replicas are each held to "
        f"{args.api_cpu:g} of a core (`--limits --api-cpu {args.api_cpu:g}`), one replica "
        f"against two, {len(rounds)} interleaved round(s) on the shared 2-core machine "
        f"({when}, load average {load_average()} at the end). Search: start 4/s, factor 2, "
        "3 s steps, two refinements, p95 limit 1 s.",
        "",
        "| round | replicas | knee (req/s) | first bad rate | p95 at the knee (ms) "
        "| steps: rate/s p95 ms |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for i, pair in enumerate(rounds, 1):
        for k in pair:
            bad = "-" if k.first_bad is None else f"{k.first_bad:g}"
            p95 = "-" if k.p95_at_max_ms is None else f"{k.p95_at_max_ms:.0f}"
            steps = ", ".join(f"{r:g} {p:.0f}{'' if good else ' ✗'}" for r, p, good in k.steps)
            lines.append(f"| {i} | {k.replicas} | {k.max_rps:g} | {bad} | {p95} | {steps} |")
    ratios = [two.max_rps / one.max_rps for one, two in rounds]
    lines += [
        "",
        f"Two replicas against one: median {statistics.median(ratios):.2f}x "
        f"(each round: {', '.join(f'{r:.2f}x' for r in ratios)}).",
        "",
        "Reproduce:",
        "",
        "```",
        f"python bench/loadtest/knee_replicas.py --runs {args.runs} --api-cpu {args.api_cpu:g}"
        " --write",
        "```",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
