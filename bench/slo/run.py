"""Benchmark `aqua slo report`: 1,000 SLOs (or --slos N) over 30 days of 1-minute data on a
real Prometheus.

The history holds 10 services' request counters (20 series); SLO ``i`` reads service ``i mod
10`` with its own objective, so every SLO's queries read 30 days of its two series. Builds the
history once (cached under ~/.cache/aqua/slo-bench/<hash>/), starts Prometheus on a copy of it
(or uses --prometheus URL), then times the report in-process (engine only, counting queries)
and end to end (`python -m sre_cli slo report ... --format json`, a fresh process).

    python bench/slo/run.py                       # 1,000 SLOs: prints a markdown table
    python bench/slo/run.py --slos 10 --runs 5    # the small case
    python bench/slo/run.py --prometheus URL      # against a server already holding the data
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench import benchlib  # noqa: E402

DAYS = 30
STEP = 60
END = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())
START = END - DAYS * 86400
METRIC = "bench_requests_total"
CONFIG = "global:\n  scrape_interval: 1m\nscrape_configs: []\n"


def specs_text(count: int, services: int) -> str:
    slos = "".join(
        f"""
  - name: slo-{i}
    objective: {(99.5, 99.7, 99.9, 99.0, 99.95)[i % 5]}
    sli:
      events:
        error_query: sum(rate({METRIC}{{slo="{i % services}",code="500"}}[{{{{.window}}}}]))
        total_query: sum(rate({METRIC}{{slo="{i % services}"}}[{{{{.window}}}}]))
"""
        for i in range(count)
    )
    return f'version: "prometheus/v1"\nservice: bench\nslos:{slos}'


def write_openmetrics(path: Path, services: int) -> None:
    """Each service's two counters (``code`` 200 and 500), one sample a minute for 30 days,
    streamed to ``path`` (1,000 services: 86 million samples, about 5 GB of text)."""
    import numpy as np

    rng = np.random.default_rng(7)
    times = list(range(START, END + 1, STEP))
    with path.open("w") as out:
        for i in range(services):
            for code, share in (("200", 0.999), ("500", 0.001)):
                mean = 600 * share * (1 + i % 4)  # SLOs at 0.1 to 0.4 % errors
                steps = np.maximum(0, np.rint(rng.normal(mean, mean**0.5, len(times))))
                steps[0] = 0
                prefix = f'bench_requests_total{{slo="{i}",code="{code}"}} '
                values = np.cumsum(steps).astype(np.int64).tolist()
                out.write("".join(f"{prefix}{v} {t}\n" for v, t in zip(values, times, strict=True)))
        out.write("# EOF\n")


def build(promtool: str, services: int) -> Path:
    """The history's TSDB blocks, built once per generator version and size."""
    generator = inspect.getsource(write_openmetrics) + f"{services} {DAYS} {STEP} {END}"
    key = hashlib.sha256(generator.encode()).hexdigest()[:16]
    target = Path.home() / ".cache" / "aqua" / "slo-bench" / key
    if (target / "DONE").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    source = target / "history.om"
    began = time.perf_counter()
    write_openmetrics(source, services)
    written = time.perf_counter()
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=240h",
            source,
            target / "data",
        ],
        check=True,
        capture_output=True,
    )
    print(
        f"history of {services} services: written in {written - began:.0f} s, "
        f"blocks built in {time.perf_counter() - written:.0f} s",
        file=sys.stderr,
    )
    source.unlink()
    (target / "DONE").write_text("ok")
    return target


def start_prometheus(blocks: Path, work: Path) -> tuple[str, object]:
    from sre_cli.infra.prometheus import PrometheusServer

    storage = work / "tsdb"
    shutil.copytree(blocks / "data", storage)
    server = PrometheusServer(
        work, CONFIG, extra_args=("--storage.tsdb.retention.time=3650d",), storage_dir=storage
    )
    server.start()
    return str(server.url), server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prometheus")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument(
        "--services", type=int, default=1000, help="distinct counter pairs; SLO i reads i mod N"
    )
    parser.add_argument("--build-only", action="store_true", help="build the history, exit")
    args = parser.parse_args()
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.batch import evaluate
    from sre_cli.slo.loader import load_slos

    if args.build_only:
        print(build(shutil.which("promtool") or "promtool", args.services))
        return
    work = Path(tempfile.mkdtemp(prefix="aqua-slo-bench-"))
    spec = work / "bench.yaml"
    spec.write_text(specs_text(args.slos, args.services))
    server = None
    url = args.prometheus
    if url is None:
        url, server = start_prometheus(
            build(shutil.which("promtool") or "promtool", args.services), work
        )
    prom_pid = server.process.pid if server is not None else None  # type: ignore[attr-defined]

    def prom_cpu() -> float:
        # CPU seconds, unlike wall time, hardly move with other work on a shared machine.
        return benchlib.process_tree_cpu(prom_pid) if prom_pid else math.nan

    try:
        slos = load_slos([spec])
        with PrometheusClient(url) as prom:
            evaluate(slos, prom, END, burn_down=False)  # warm the page cache
            engine, engine_cpu, prom_cpus, queries = [], [], [], 0
            for _ in range(args.runs):
                began, cpu, pcpu = time.perf_counter(), time.process_time(), prom_cpu()
                report = evaluate(slos, prom, END, burn_down=False)  # as --format json
                engine.append(time.perf_counter() - began)
                engine_cpu.append(time.process_time() - cpu)
                prom_cpus.append(prom_cpu() - pcpu)
                queries = report.queries
        assert all(r.total for r in report.results), "benchmark data missing"
        command = [
            sys.executable,
            "-m",
            "sre_cli",
            "slo",
            "report",
            str(spec),
            "--prometheus",
            url,
            "--at",
            str(END),
            "--format",
            "json",
        ]
        e2e, e2e_cpu = [], []
        for _ in range(args.runs):
            began = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            e2e.append(time.perf_counter() - began)
            e2e_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
        shutil.rmtree(work, ignore_errors=True)
    print("| what | median | min | max |\n|---|---|---|---|")
    for name, values in (
        (f"engine ({args.slos} SLOs, in-process), wall", engine),
        ("engine, its own CPU", engine_cpu),
        ("Prometheus CPU per engine report", prom_cpus),
        ("`aqua slo report --format json` process, wall", e2e),
        ("that process's CPU", e2e_cpu),
    ):
        print(
            f"| {name} | {statistics.median(values):.3f} s | {min(values):.3f} s "
            f"| {max(values):.3f} s |"
        )
    print(
        f"\nqueries per report: {queries} ({queries / args.slos:g} per SLO), runs: {args.runs}, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
