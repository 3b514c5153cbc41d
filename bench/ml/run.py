"""Throughput and latency of the ML service on loopback, batching on and off.

    ~/.cache/aqua/venv-py3.11/bin/python bench/ml/run.py [--seconds 5] [--runs 2] [--out F]

Starts the real service twice (uvicorn, one process each, torch on one thread), one with
micro-batching and one without, and drives them with ``wrk`` (one thread, keep-alive
connections) at concurrency 1, 16 and 64, with single-pond requests and 256-pond batch
requests. Each cell runs against the batching service and then, at once, against the other;
``--runs`` repeats the whole sweep. Bodies rotate over distinct simulated ponds. A run with any
failed or non-200 request fails. Forecasts per second count pond-nights: requests/s times
ponds per request.

The machine is shared, so every cell also records what else ran: the 1-minute load average at
its end and the CPU (in cores) that neither the service nor ``wrk`` used during it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from service.ml.dataset import EVAL_STREAM, generate  # noqa: E402
from service.ml.devserver import MLServer  # noqa: E402
from service.ml.payloads import forecast_request  # noqa: E402

LUA = Path(__file__).with_name("wrk_post.lua")


@dataclass
class Row:
    run: int
    batching: bool
    ponds_per_request: int
    concurrency: int
    requests_per_s: float
    forecasts_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    server_cpu_ms_per_request: float
    server_cores: float  # CPU of the service during the cell, in cores
    wrk_cores: float
    other_cores: float  # CPU of everything else on the machine
    load_1m: float  # load average at the end of the cell
    mean_batch: float  # windows per forward pass during the cell


def bodies(tmp: Path) -> dict[int, Path]:
    nights = generate(24, 2025, EVAL_STREAM)  # 24 ponds x 13 nights = 312 windows
    single = tmp / "single.jsonl"
    single.write_text(
        "\n".join(forecast_request(nights, i, 1).model_dump_json() for i in range(64)) + "\n"
    )
    batch = tmp / "batch256.jsonl"
    batch.write_text(
        "\n".join(forecast_request(nights, s, 256).model_dump_json() for s in (0, 20, 40, 56))
        + "\n"
    )
    return {1: single, 256: batch}


def server_cpu(srv: MLServer) -> float:
    """CPU seconds used so far by the server and its worker processes (user + system)."""
    import psutil  # type: ignore[import-untyped]

    proc = psutil.Process(srv.pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of finished child processes (the wrk runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def passes(srv: MLServer) -> tuple[float, float]:
    """Windows forecast and forward passes so far (``aqua_ml_batch_size`` sum and count)."""
    import urllib.request

    with urllib.request.urlopen(f"{srv.url}/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith(("aqua_ml_batch_size_sum", "aqua_ml_batch_size_count")):
            name, _, value = line.rpartition(" ")
            values[name.split("{")[0]] = float(value)
    return values.get("aqua_ml_batch_size_sum", 0.0), values.get("aqua_ml_batch_size_count", 0.0)


def wrk(url: str, body_file: Path, concurrency: int, seconds: float) -> dict[str, object]:
    cmd = [
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        url,
    ]
    out = subprocess.run(
        cmd,
        env={**os.environ, "BODIES_FILE": str(body_file)},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    result: dict[str, object] = json.loads(line[len("RESULT ") :])
    return result


def measure(
    srv: MLServer, body: Path, batching: bool, ponds: int, c: int, seconds: float, run: int
) -> tuple[Row, list[str]]:
    """One cell: ``c`` connections of ``ponds``-pond requests against ``srv``."""
    failures: list[str] = []
    wrk(srv.url, body, c, 1.0)  # warm the connection pool and caches
    cpu0, wrk0, busy0 = server_cpu(srv), children_cpu(), machine_busy()
    windows0, passes0 = passes(srv)
    t0 = time.monotonic()
    r = wrk(srv.url, body, c, seconds)
    cpu = server_cpu(srv) - cpu0
    windows1, passes1 = passes(srv)
    wrk_cpu = children_cpu() - wrk0
    elapsed = time.monotonic() - t0
    other = machine_busy() - busy0 - cpu - wrk_cpu
    errors = r["errors"]
    assert isinstance(errors, dict)
    requests = int(r["requests"])  # type: ignore[call-overload]
    if requests == 0:
        failures.append(f"batching={batching} ponds={ponds} c={c}: no reply")
    if any(int(v) for v in errors.values()):
        failures.append(f"batching={batching} ponds={ponds} c={c}: {errors}")
    rps = requests / (int(r["duration_us"]) / 1e6)  # type: ignore[call-overload]
    row = Row(
        run=run,
        batching=batching,
        ponds_per_request=ponds,
        concurrency=c,
        requests_per_s=round(rps, 1),
        forecasts_per_s=round(rps * ponds, 1),
        p50_ms=int(r["p50_us"]) / 1000,  # type: ignore[call-overload]
        p95_ms=int(r["p95_us"]) / 1000,  # type: ignore[call-overload]
        p99_ms=int(r["p99_us"]) / 1000,  # type: ignore[call-overload]
        requests=requests,
        server_cpu_ms_per_request=round(cpu * 1000 / max(requests, 1), 3),
        server_cores=round(cpu / elapsed, 2),
        wrk_cores=round(wrk_cpu / elapsed, 2),
        other_cores=round(max(other, 0.0) / elapsed, 2),
        load_1m=os.getloadavg()[0],
        mean_batch=round((windows1 - windows0) / max(passes1 - passes0, 1.0), 1),
    )
    return row, failures


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=2, help="rounds over every cell")
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--ponds", default="1,256", help="ponds per request, comma separated")
    ap.add_argument("--batching", default="on,off")
    ap.add_argument("--max-wait-ms", default=None, help="AQUA_ML_MAX_WAIT_MS for the service")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/ml/results.json")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    modes = [b == "on" for b in args.batching.split(",")]
    rows: list[Row] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as d, contextlib.ExitStack() as stack:
        files = bodies(Path(d))
        wanted = [p for p in files if p in {int(x) for x in args.ponds.split(",")}]
        servers: dict[bool, MLServer] = {}
        for batching in modes:
            env = {"AQUA_ML_BATCHING": str(batching).lower(), "AQUA_ML_THREADS": "1"}
            if args.max_wait_ms is not None:
                env["AQUA_ML_MAX_WAIT_MS"] = args.max_wait_ms
            servers[batching] = stack.enter_context(MLServer(env=env, workers=args.workers))
        # Both services stay up; each cell runs against one while the other idles, batching
        # on and off back to back, so a slow spell of the shared machine hits both sides of a
        # comparison alike.
        for run in range(1, args.runs + 1):
            for ponds in wanted:
                for c in levels:
                    # A 256-pond request takes tens of ms of CPU: give those cells long
                    # enough for every connection to complete several requests.
                    seconds = args.seconds if ponds == 1 else max(args.seconds, c * 0.25)
                    for batching in modes:
                        row, failed = measure(
                            servers[batching], files[ponds], batching, ponds, c, seconds, run
                        )
                        rows.append(row)
                        failures += failed
                        print(json.dumps(asdict(row)), flush=True)
    args.out.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    print()
    print(
        "| run | batching | ponds/request | concurrency | requests/s | forecasts/s "
        "| p50 ms | p95 ms | p99 ms | server CPU ms/request | windows/pass | other cores | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        print(
            f"| {x.run} | {'on' if x.batching else 'off'} | {x.ponds_per_request} "
            f"| {x.concurrency} | {x.requests_per_s:,.0f} | {x.forecasts_per_s:,.0f} "
            f"| {x.p50_ms:.1f} | {x.p95_ms:.1f} | {x.p99_ms:.1f} "
            f"| {x.server_cpu_ms_per_request:.2f} | {x.mean_batch:.1f} | {x.other_cores:.2f} "
            f"| {x.load_1m:.1f} |"
        )
    if len(modes) == 2:
        print()
        print("Batching on ÷ off, per run (requests/s; server CPU per request):")
        print()
        print("| ponds/request | concurrency | throughput × | CPU per request × |")
        print("|---|---|---|---|")
        for ponds in wanted:
            for c in levels:
                pairs = [
                    (on, off)
                    for on in rows
                    for off in rows
                    if on.batching
                    and not off.batching
                    and on.run == off.run
                    and on.ponds_per_request == off.ponds_per_request == ponds
                    and on.concurrency == off.concurrency == c
                ]
                tput = ", ".join(
                    f"{on.requests_per_s / max(off.requests_per_s, 1e-9):.2f}" for on, off in pairs
                )
                cpu = ", ".join(
                    f"{off.server_cpu_ms_per_request / max(on.server_cpu_ms_per_request, 1e-9):.2f}"
                    for on, off in pairs
                )
                print(f"| {ponds} | {c} | {tput} | {cpu} |")
    if failures:
        print("FAILED requests:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
