"""Load generators side by side on one endpoint, in one run: wrk, aqua, locust's own CLI.

Starts a stack (``aqua stack up``, full by default, ``--lite`` for SQLite and no cache) in a
temporary state dir on a free port range, seeds a farm and a pond, then for ``--runs``
interleaved rounds drives the cached pond summary through nginx
(``GET /api/v1/ponds/{id}/summary`` with the admin's token) with:

* ``wrk``        — ``-t2 -c64``, the reference: as fast as the machine allows;
* ``aqua open``  — ``aqua loadtest run --endpoint ... --arrival-rate R`` with R = 85 % of what
  wrk just reached: can the open model hold that rate, and at what corrected latency?
* ``aqua max``   — the same at twice that rate with ``--max-in-flight 64``: with 64 requests
  in flight at most it runs as fast as it can, like wrk's 64 connections;
* ``locust``     — locust's own CLI, headless, 64 FastHttpUser users without waits
  (``--processes 2`` with ``--locust-processes 2``).

For each: requests/s achieved and the generator's CPU per request (user + system of the
generator's process tree, from ``wait4``). Every request must succeed (status < 400), or the
round does not count. Results go to stdout and, with ``--write``, into the "## Load
generators" section of bench/README.md::

    python bench/loadtest/run.py --duration 15 --runs 2 --write
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchlib import load_average, pond_body, write_section  # noqa: E402

SECTION = "## Load generators"
LOCUSTFILE = HERE / "locustfile.py"


@dataclass
class Row:
    name: str
    rps: float
    requests: int
    cpu_s: float
    failures: int
    note: str = ""

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(self.requests, 1) * 1e6


def timed(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[str, float]:
    """Run ``argv``; its stdout and the CPU seconds of its process tree (reaped children)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, text=True, env={**os.environ, **(env or {})}, cwd=ROOT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} exited {proc.returncode}:\n{text}\n{errors}")
    return text, usage.ru_utime + usage.ru_stime


def wrk(url: str, token: str, seconds: int) -> Row:
    text, cpu = timed(
        [
            "wrk",
            "-t2",
            "-c64",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ]
    )
    rps: float = 0
    requests = bad = 0
    for line in text.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(words[1])
        elif "requests in" in line:
            requests = int(words[0])
        elif line.strip().startswith("Non-2xx") or line.strip().startswith("Socket errors"):
            bad += sum(int(w.rstrip(",")) for w in words if w.rstrip(",").isdigit())
    return Row("wrk -t2 -c64", rps, requests, cpu, bad)


def aqua(
    url: str, path: str, password: Path, rate: float, seconds: int, in_flight: int, name: str
) -> Row:
    argv = [
        sys.executable,
        "-m",
        "sre_cli",
        "loadtest",
        "run",
        "--target",
        url,
        "--endpoint",
        path,
        "--arrival-rate",
        f"{rate:.0f}",
        "--duration",
        f"{seconds}s",
        "--username",
        "admin",
        "--password-file",
        str(password),
        "--no-server",
        "--max-in-flight",
        str(in_flight),
        "--p95-ms",
        "100000",
        "--max-error-rate",
        "1",
        "--format",
        "json",
    ]
    text, cpu = timed(argv)
    data = json.loads(text)
    note = f"intended {data['intended_rps']:.0f}/s, p95 {data['latency_ms']['p95']:.0f} ms"
    return Row(name, data["achieved_rps"], data["requests"], cpu, data["failures"], note)


def locust(url: str, token: str, path: str, seconds: int, processes: int) -> Row:
    argv = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        "64",
        "-r",
        "64",
        "-t",
        f"{seconds}s",
        "--host",
        url,
        "--json",
        "--stop-timeout",
        "0",
        "--loglevel",
        "ERROR",
    ]
    if processes > 1:
        argv += ["--processes", str(processes)]
    text, cpu = timed(argv, {"AQUA_BENCH_TOKEN": token, "AQUA_BENCH_PATH": path})
    # with --processes, each worker may print its own (empty) list before the master's
    decoder, at = json.JSONDecoder(), text.find("[")
    found: list[list[dict[str, Any]]] = []
    while at >= 0:
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at = text.find("[", at + 1)
            continue
        found.append(value)
        at = text.find("[", end)
    stats = max(found, key=lambda v: sum(int(s["num_requests"]) for s in v), default=[])
    requests = sum(int(s["num_requests"]) for s in stats)
    failures = sum(int(s["num_failures"]) for s in stats)
    return Row(f"locust CLI, {processes} process(es)", requests / seconds, requests, cpu, failures)


def show(r: Row, ref: Row) -> None:
    print(
        f"{r.name:40s} {r.rps:9.1f} req/s  {r.rps / ref.rps:6.1%} of wrk  "
        f"{r.cpu_us_per_request:7.1f} µs CPU/request  failures {r.failures}  {r.note}",
        flush=True,
    )


def stack(args: argparse.Namespace, tmp: Path) -> tuple[str, Path]:
    base = random.Random().randrange(20000, 32000 - 30, 30)
    state = tmp / "stack"
    up = [
        sys.executable,
        "-m",
        "sre_cli",
        "stack",
        "up",
        "--port-base",
        str(base),
        "--state-dir",
        str(state),
    ] + (["--lite"] if args.lite else [])
    done = subprocess.run(up, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stack up failed:\n{done.stdout}\n{done.stderr}")
    plan = json.loads((state / "plan.json").read_text())
    return str(plan["entry_url"]).rstrip("/"), state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--lite", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (scripts/provision installs it)")
    with tempfile.TemporaryDirectory(prefix="aqua-bench-load-") as tmpdir:
        tmp = Path(tmpdir)
        state: Path | None = None
        try:
            entry, state = stack(args, tmp)
            secrets = json.loads((state / "secrets.json").read_text())
            password = tmp / "password"
            password.write_text(secrets["admin_password"])
            form = {"username": secrets["admin_username"], "password": secrets["admin_password"]}
            token = httpx.post(f"{entry}/api/v1/auth/token", data=form, timeout=30).json()[
                "access_token"
            ]
            h = {"Authorization": f"Bearer {token}"}
            farm = httpx.post(f"{entry}/api/v1/farms", json={"name": "bench"}, headers=h)
            pond = httpx.post(
                f"{entry}/api/v1/ponds",
                headers=h,
                timeout=10,
                json=pond_body(farm.json()["id"], "B1"),
            ).json()["id"]
            path = f"/api/v1/ponds/{pond}/summary"
            url = f"{entry}{path}"
            wrk(url, token, 3)  # warm-up: caches, connections, JIT-free but page cache
            rounds: list[list[Row]] = []
            for _ in range(args.runs):
                ref = wrk(url, token, args.duration)
                rows = [ref]
                show(ref, ref)
                runs: tuple[Callable[[], Row], ...] = (
                    partial(
                        aqua,
                        entry,
                        path,
                        password,
                        ref.rps * 0.85,
                        args.duration,
                        1000,
                        "aqua open model at 85 % of wrk's rate",
                    ),
                    partial(
                        aqua,
                        entry,
                        path,
                        password,
                        ref.rps * 2,
                        args.duration,
                        64,
                        "aqua, 64 in flight, as fast as it can",
                    ),
                    lambda: locust(entry, token, path, args.duration, 1),
                    lambda: locust(entry, token, path, args.duration, 2),
                )
                for run in runs:
                    rows.append(run())
                    show(rows[-1], ref)
                rounds.append(rows)
        finally:
            if state is not None:
                with contextlib.suppress(subprocess.SubprocessError):
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "sre_cli",
                            "stack",
                            "down",
                            "--purge",
                            "--state-dir",
                            str(state),
                        ],
                        capture_output=True,
                        cwd=ROOT,
                        timeout=180,
                        check=False,
                    )
    if args.write:
        write_section(SECTION, render(rounds, args))


def render(rounds: list[list[Row]], args: argparse.Namespace) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    kind = "lite stack (SQLite, no cache)" if args.lite else "full stack (PostgreSQL, Redis cache)"
    lines = [
        SECTION,
        "",
        f"One endpoint, the cached pond summary through nginx (2 API replicas, {kind}), "
        f"driven for {args.duration} s per generator, {len(rounds)} interleaved round(s), "
        f"on the shared 2-core machine ({when}, load average {load_average()} at the end): "
        "the generator and the service share the same two cores, so a generator that spends "
        "less CPU per request leaves more to the service.",
        "",
        "| round | generator | requests/s | of wrk | generator CPU µs/request | failures | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for i, rows in enumerate(rounds, 1):
        ref = rows[0].rps
        for r in rows:
            lines.append(
                f"| {i} | {r.name} | {r.rps:,.0f} | {r.rps / ref:.0%} | "
                f"{r.cpu_us_per_request:.0f} | {r.failures} | {r.note} |"
            )
    lines += [
        "",
        "Reproduce (needs `scripts/build-loadgen`, which `scripts/provision` runs):",
        "",
        "```sh",
        f"python bench/loadtest/run.py --duration {args.duration} --runs {len(rounds)}"
        + (" --lite" if args.lite else "")
        + " --write",
        "```",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
