"""Benchmark `aqua slo report`: 1,000 SLOs (or --slos N) over 30 days of 1-minute data on a
real Prometheus, aqua beside the baseline (every SLO's parts evaluated on their own).

The history holds two request counters per service (``code`` 200 and 500); SLO ``i`` reads
service ``i mod --services`` (default: every SLO its own service) with one of five objectives.
Builds the history once (cached under ~/.cache/aqua/slo-bench/<hash>/), starts Prometheus on a
copy of it (or uses --prometheus URL), then times the report in-process (engine only, counting
queries; aqua and the baseline alternately, each report checked against the history's raw
counts) and end to end (`python -m sre_cli slo report ... --format json`, a fresh process).

    python bench/slo/run.py                       # 1,000 SLOs: prints a markdown table
    python bench/slo/run.py --services 10         # 1,000 SLOs over 10 services' counters
    python bench/slo/run.py --slos 10 --runs 5    # the small case
    python bench/slo/run.py --prometheus URL      # against a server already holding the data
    python bench/slo/run.py --recorded            # raw counters beside hourly recordings

``--recorded`` adds the hourly recordings of ``aqua slo rules --report-recordings`` to the
history (evaluated once over it and cached, off the minute as a live rule group's are) and the
SLI error ratios of ``aqua slo rules`` (``slo:sli_error:ratio_rate5m`` ... ``3d``, evaluated
every minute over the history's last minutes, each SLO's group at its own offset), and times
`aqua slo report --recorded` beside the raw report: its budget errors against the history, its
burn rates against the raw report's. ``--baseline DIR`` (a source tree, e.g. ``git archive
main``) times that tree's ``report --recorded`` process beside this one's, alternately.
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
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench import benchlib  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.engine import Report

DAYS = 30
STEP = 60
END = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())
START = END - DAYS * 86400
METRIC = "bench_requests_total"
CONFIG = "global:\n  scrape_interval: 1m\nscrape_configs: []\n"
#: seconds past the history's start of the first hourly evaluation: off the minute's scrapes
PHASE = 2233
#: the SLI ratio groups' offsets in the minute (SLO i: OFFSETS[i % 6]) and evaluations kept
OFFSETS = (3, 13, 23, 33, 43, 53)
SLI_EVALUATIONS = 3


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


def backfill(promtool: str, source: Path, data: Path) -> None:
    """TSDB blocks in ``data`` from the OpenMetrics file ``source``."""
    command = [promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=240h"]
    subprocess.run([*command, source, data], check=True, capture_output=True)


def cached_blocks(promtool: str, target: Path, what: str, write: Callable[[Path], None]) -> Path:
    """``target/data``: TSDB blocks from the OpenMetrics text ``write`` puts in a file, built
    once (``target/DONE`` marks a finished build)."""
    if (target / "DONE").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    source = target / "source.om"
    began = time.perf_counter()
    write(source)
    written = time.perf_counter()
    backfill(promtool, source, target / "data")
    print(
        f"{what}: written in {written - began:.0f} s, "
        f"blocks built in {time.perf_counter() - written:.0f} s",
        file=sys.stderr,
    )
    source.unlink()
    (target / "DONE").write_text("ok")
    return target


def build(promtool: str, services: int) -> Path:
    """The history's TSDB blocks, built once per generator version and size."""
    generator = inspect.getsource(write_openmetrics) + f"{services} {DAYS} {STEP} {END}"
    key = hashlib.sha256(generator.encode()).hexdigest()[:16]
    target = Path.home() / ".cache" / "aqua" / "slo-bench" / key
    return cached_blocks(
        promtool,
        target,
        f"history of {services} services",
        lambda p: write_openmetrics(p, services),
    )


def write_recordings(path: Path, rules: list[dict[str, Any]], url: str) -> None:
    """Every rule evaluated hourly over the history (range queries at the rule's interval, as
    its group evaluates it, off the minute by ``PHASE``), as OpenMetrics samples."""
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.recorded import RECORD

    with PrometheusClient(url, timeout=600) as prom, path.open("w") as out:
        for n in range(0, len(rules), 200):
            expr = " or ".join(
                f'label_replace({r["expr"]}, "aqua_q", "{n + i}", "", "")'
                for i, r in enumerate(rules[n : n + 200])
            )
            for series in prom.query_range(expr, START + PHASE, END, 3600):
                labels = rules[int(series.labels["aqua_q"])]["labels"]
                text = ",".join(f'{k}="{v}"' for k, v in labels.items())
                out.write(
                    "".join(
                        f"{RECORD}{{{text}}} {v!r} {int(t)}\n"
                        for t, v in zip(series.times, series.values, strict=True)
                    )
                )
        out.write("# EOF\n")


def build_recordings(promtool: str, blocks: Path, spec: Path, url: str) -> Path:
    """The blocks of the report-recordings group's samples over the history (``url`` serves
    it), built once per history and spec."""
    from sre_cli.slo.loader import load_slos
    from sre_cli.slo.recorded import recording_group

    rules = recording_group(load_slos([spec]))["rules"]
    key = hashlib.sha256(f"{spec.read_text()}{PHASE}{rules}".encode()).hexdigest()[:16]
    return cached_blocks(
        promtool,
        blocks / f"recorded-{key}",
        f"recordings of {len(rules)} rules",
        lambda p: write_recordings(p, rules, url),
    )


def sli_rules(spec: Path) -> list[list[dict[str, Any]]]:
    """Per SLO its ``slo:sli_error:ratio_rate<w>`` rules for the burn-rate windows, as
    ``aqua slo rules`` writes them (the SLO window's ratio is not read by the report)."""
    from sre_cli.slo.loader import load_slos
    from sre_cli.slo.rules import rule_groups
    from sre_cli.slo.windows import BURN_RATE_WINDOWS, load_tiers

    tiers = load_tiers()
    return [
        [
            r
            for r in rule_groups(slo, tiers)[0]["rules"]
            if r["labels"]["sloth_window"] in BURN_RATE_WINDOWS
        ]
        for slo in load_slos([spec])
    ]


def write_sli_recordings(path: Path, rules: list[list[dict[str, Any]]], url: str) -> None:
    """The SLI ratio rules evaluated every minute over the history's last minutes, SLO ``i``'s
    group at ``OFFSETS[i % 6]`` seconds into the minute, as OpenMetrics (one family at a time)."""
    from sre_cli.prometheus import PrometheusClient

    lines: dict[str, list[str]] = {}
    with PrometheusClient(url, timeout=600) as prom:
        for k, offset in enumerate(OFFSETS):
            mine = [r for i, group in enumerate(rules) if i % len(OFFSETS) == k for r in group]
            last = END - 60 + offset
            for n in range(0, len(mine), 200):
                expr = " or ".join(
                    f'label_replace({r["expr"]}, "aqua_q", "{n + i}", "", "")'
                    for i, r in enumerate(mine[n : n + 200])
                )
                for series in prom.query_range(expr, last - 60 * (SLI_EVALUATIONS - 1), last, 60):
                    rule = mine[int(series.labels["aqua_q"])]
                    text = ",".join(f'{a}="{b}"' for a, b in rule["labels"].items())
                    lines.setdefault(rule["record"], []).extend(
                        f"{rule['record']}{{{text}}} {_number(v)} {int(t)}\n"
                        for t, v in zip(series.times, series.values, strict=True)
                    )
    with path.open("w") as out:
        for family in lines.values():
            out.write("".join(family))
        out.write("# EOF\n")


def _number(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(value)


def build_sli_recordings(promtool: str, blocks: Path, spec: Path, url: str) -> Path:
    """The blocks of the SLI ratio rules' last evaluations (``url`` serves the history)."""
    rules = sli_rules(spec)
    text = f"{spec.read_text()}{OFFSETS}{SLI_EVALUATIONS}{rules}"
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cached_blocks(
        promtool,
        blocks / f"sli-{key}",
        f"SLI ratios of {sum(map(len, rules))} rules",
        lambda p: write_sli_recordings(p, rules, url),
    )


def start_prometheus(blocks: Path, work: Path, *extra: Path) -> tuple[str, object]:
    from sre_cli.infra.prometheus import PrometheusServer

    storage = work / "tsdb"
    shutil.rmtree(storage, ignore_errors=True)
    shutil.copytree(blocks / "data", storage)
    for more in extra:
        shutil.copytree(more / "data", storage, dirs_exist_ok=True)
    server = PrometheusServer(
        work, CONFIG, extra_args=("--storage.tsdb.retention.time=3650d",), storage_dir=storage
    )
    server.start()
    return str(server.url), server


def truth(prom: PrometheusClient, services: int) -> dict[str, tuple[float, float]]:
    """Per service, its (bad, total) events over the window: the counters start at 0 at the
    window's start and never reset, so the raw sample at its end is the exact count."""
    value: dict[tuple[str, str], float] = {}
    for sample in prom.query(f"{METRIC} @ {END}", END):
        value[(sample.labels["slo"], sample.labels["code"])] = sample.value
    return {
        str(i): (value[(str(i), "500")], value[(str(i), "200")] + value[(str(i), "500")])
        for i in range(services)
    }


def errors(report: Report, counts: dict[str, tuple[float, float]], services: int) -> list[float]:
    """Per SLO the error of its budget consumed against the history's own count."""
    out = []
    for i, result in enumerate(report.results):
        bad, total = counts[str(i % services)]
        assert result.budget_consumed is not None, result.slo.id
        out.append(abs(result.budget_consumed - bad / total / result.slo.budget))
    return out


def check(report: Report, counts: dict[str, tuple[float, float]], services: int) -> float:
    """The largest error of a budget consumed against the history's own count (must be <1e-4)."""
    worst = max(errors(report, counts, services))
    assert worst < 1e-4, worst
    return worst


def burn_rate_gaps(
    recorded: Report, raw: dict[str, dict[str, float | None]]
) -> dict[str, list[float]]:
    """Per window, every |recorded - raw| burn rate (``raw``: per SLO id its raw figures)."""
    gaps: dict[str, list[float]] = {}
    for rec in recorded.results:
        for window, value in rec.burn_rates.items():
            other = raw[rec.slo.id][window]
            if value is None or other is None:  # no traffic in the window: both say so
                assert value is None, (rec.slo.id, window, value, other)
                assert other is None, (rec.slo.id, window, value, other)
                continue
            gaps.setdefault(window, []).append(abs(value - other))
    return gaps


def relative_gap(recorded: Report, raw: dict[str, dict[str, float | None]]) -> float:
    """The largest |recorded - raw| / raw over every SLO and window with errors."""
    worst = 0.0
    for rec in recorded.results:
        for window, value in rec.burn_rates.items():
            other = raw[rec.slo.id][window]
            if value is not None and other:
                worst = max(worst, abs(value - other) / other)
    return worst


def raw_at_evaluations(
    prom: PrometheusClient, recorded: Report
) -> dict[str, dict[str, float | None]]:
    """Per SLO its raw burn rates at the instant of the rule evaluation its recorded burn
    rates show (the SLO window is not read): the figures the recordings must equal."""
    from sre_cli.slo.engine import finish, plan
    from sre_cli.slo.windows import load_tiers

    tiers = load_tiers()
    groups: dict[float, list[Any]] = {}
    for result in recorded.results:
        instants = set((result.burn_rates_at or {}).values())
        assert len(instants) == 1, (result.slo.id, instants)
        groups.setdefault(instants.pop(), []).append(result.slo)
    out: dict[str, dict[str, float | None]] = {}
    for when, slos in groups.items():
        plans = [plan(slo, when, tiers) for slo in slos]
        parts = [
            (f"{i}|{k}", e)
            for i, p in enumerate(plans)
            for k, e in p.parts.items()
            if not k.endswith(":window")
        ]
        values: dict[str, float] = {}
        for n in range(0, len(parts), 400):
            expr = " or ".join(
                f'label_replace({e}, "aqua_q", "{k}", "", "")' for k, e in parts[n : n + 400]
            )
            for sample in prom.query(expr, when):
                key = sample.labels["aqua_q"]
                values[key] = values.get(key, 0.0) + sample.value
        for i, p in enumerate(plans):
            got = {k: values[f"{i}|{k}"] for k in p.parts if f"{i}|{k}" in values}
            out[p.slo.id] = finish(p, got, tiers).burn_rates
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prometheus")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument(
        "--services",
        type=int,
        help="distinct counter pairs, SLO i reads i mod N (default: one per SLO)",
    )
    parser.add_argument("--workers", type=int, default=4, help="queries in flight")
    parser.add_argument("--no-process", action="store_true", help="skip the fresh-process runs")
    parser.add_argument("--build-only", action="store_true", help="build the history, exit")
    parser.add_argument(
        "--recorded", action="store_true", help="raw counters beside the recordings"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="with --recorded: a source tree whose `report --recorded` runs beside this one's",
    )
    args = parser.parse_args()
    args.services = args.services or args.slos
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
        promtool = shutil.which("promtool") or "promtool"
        history = build(promtool, args.services)
        url, server = start_prometheus(history, work)
        if args.recorded:
            recordings = build_recordings(promtool, history, spec, url)
            ratios = build_sli_recordings(promtool, history, spec, url)
            server.stop()  # type: ignore[attr-defined]
            url, server = start_prometheus(history, work, recordings, ratios)
    prom_pid = server.process.pid if server is not None else None  # type: ignore[attr-defined]

    def prom_cpu() -> float:
        # CPU seconds, unlike wall time, hardly move with other work on a shared machine.
        return benchlib.process_tree_cpu(prom_pid) if prom_pid else math.nan

    rows: dict[str, dict[str, list[float]]] = {}
    queries: dict[str, int] = {}
    loads: list[float] = []
    rate_gaps: dict[str, list[float]] = {}
    exact_gap, compared = math.nan, 0
    try:
        slos = load_slos([spec])
        with PrometheusClient(url) as prom:
            counts = truth(prom, args.services)
            modes = [("aqua", True, False), ("baseline", False, False)]
            if args.recorded:  # the raw report beside the recorded one
                modes = [("aqua", True, False), ("recorded", True, True)]
            evaluate(slos, prom, END, burn_down=False, workers=args.workers)  # warm the cache
            for _ in range(args.runs):
                # aqua and the baseline alternate, so a busy spell of the machine hits both.
                reports: dict[str, Report] = {}
                for name, share, recorded in modes:
                    began, cpu, pcpu = time.perf_counter(), time.process_time(), prom_cpu()
                    report = evaluate(  # as --format json: no burn-down
                        slos,
                        prom,
                        END,
                        burn_down=False,
                        workers=args.workers,
                        share=share,
                        recorded=recorded,
                    )
                    reports[name] = report
                    row = rows.setdefault(name, {})
                    row.setdefault("wall", []).append(time.perf_counter() - began)
                    row.setdefault("cpu", []).append(time.process_time() - cpu)
                    row.setdefault("prom", []).append(prom_cpu() - pcpu)
                    row.setdefault("load", []).append(os.getloadavg()[0])
                    if recorded:
                        found = errors(report, counts, args.services)
                        row.setdefault("error", []).append(max(found))
                        row.setdefault("median error", []).append(statistics.median(found))
                        read = sum(r.source == "recorded" for r in report.results)
                        row.setdefault("recorded", []).append(read)
                        rated = sum(
                            set(r.burn_rates) <= set(r.burn_rates_at or {}) for r in report.results
                        )
                        row.setdefault("rates recorded", []).append(rated)
                        ages = [
                            END - t
                            for r in report.results
                            for t in (r.burn_rates_at or {}).values()
                        ]
                        row.setdefault("age", []).append(max(ages, default=math.nan))
                    else:
                        row.setdefault("error", []).append(check(report, counts, args.services))
                    queries[name] = report.queries
                    loads.append(os.getloadavg()[0])
                if args.recorded:
                    now = {r.slo.id: r.burn_rates for r in reports["aqua"].results}
                    for window, gaps in burn_rate_gaps(reports["recorded"], now).items():
                        rate_gaps.setdefault(window, []).extend(gaps)
            if args.recorded:  # once: the raw figures at each rule evaluation's instant
                then = raw_at_evaluations(prom, reports["recorded"])
                exact_gap = relative_gap(reports["recorded"], then)
                compared = sum(map(len, burn_rate_gaps(reports["recorded"], then).values()))
        if not args.no_process:
            process = [sys.executable, "-m", "sre_cli", "slo", "report", str(spec)]
            process += ["--prometheus", url, "--at", str(END), "--format", "json"]
            process += ["--recorded"] if args.recorded else []
            trees = [("process", ROOT)]
            if args.baseline is not None:
                trees.append(("baseline process", args.baseline.resolve()))
            for _ in range(args.runs):
                for name, tree in trees:  # alternately, as above
                    env = {**os.environ, "PYTHONPATH": str(tree)}
                    began, pcpu = time.perf_counter(), prom_cpu()
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    subprocess.run(process, check=True, capture_output=True, cwd=tree, env=env)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    row = rows.setdefault(name, {})
                    row.setdefault("wall", []).append(time.perf_counter() - began)
                    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    row.setdefault("cpu", []).append(used)
                    row.setdefault("prom", []).append(prom_cpu() - pcpu)
                    row.setdefault("load", []).append(os.getloadavg()[0])
                    loads.append(os.getloadavg()[0])
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
        shutil.rmtree(work, ignore_errors=True)
    print_table(args, rows, queries, loads)
    if args.recorded:
        print_gaps(rate_gaps, exact_gap, compared)


def print_gaps(gaps: dict[str, list[float]], exact_gap: float, compared: int) -> None:
    """How far the recorded burn rates are from the raw ones at the report's instant, and
    from the raw ones at their rule's evaluation (float rounding only)."""
    print(
        "\n| burn rate vs the raw report's, per window | "
        + " | ".join(gaps)
        + " |\n|---|"
        + "---|" * len(gaps)
    )
    for name, pick in (("largest difference", max), ("median difference", statistics.median)):
        print(f"| {name} | " + " | ".join(f"{pick(g):.3g}" for g in gaps.values()) + " |")
    print(
        f"\nRecorded burn rates against the raw ones at their rule's evaluation instant: "
        f"{compared} figures, largest relative difference {exact_gap:.1e}."
    )


def print_table(
    args: argparse.Namespace,
    rows: dict[str, dict[str, list[float]]],
    queries: dict[str, int],
    loads: list[float],
) -> None:
    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"

    def load(row: dict[str, list[float]]) -> str:
        values = row.get("load", [])
        return f"load {min(values):.1f}–{max(values):.1f}" if values else ""

    other = "recorded" if args.recorded else "baseline"
    aqua, base = rows["aqua"], rows[other]
    print(
        f"{args.slos} SLOs over {args.services} services, {args.runs} runs, "
        f"{args.workers} queries in flight, load average {min(loads):.1f}–{max(loads):.1f}\n"
    )
    if args.recorded:
        print("| what | raw counters (exact) | `--recorded` |")
    else:
        print("| what | aqua (shared parts) | baseline (every SLO's parts on their own) |")
    print("|---|---|---|")
    print(f"| queries per report | {queries['aqua']} | {queries[other]} |")
    for name, key in (
        ("engine, in-process, wall", "wall"),
        ("engine's own CPU", "cpu"),
        ("Prometheus CPU per report", "prom"),
    ):
        print(f"| {name} | {cell(aqua[key])} | {cell(base[key])} |")
    print(f"| load average during those runs | {load(aqua)} | {load(base)} |")
    if args.recorded:
        print(f"| SLO windows read from recordings | | {min(base['recorded'])} of {args.slos} |")
        print(
            f"| SLOs whose burn rates all came from recordings | "
            f"| {min(base['rates recorded'])} of {args.slos}, "
            f"up to {max(base['age']):.0f} s old |"
        )
        print(
            f"| budget consumed: largest error vs the history | {max(aqua['error']):.1e} "
            f"| {max(base['error']):.1e} |"
        )
        print(
            f"| budget consumed: median error | | {statistics.median(base['median error']):.1e} |"
        )
    else:
        worst = max(aqua["error"] + base["error"])
        print(f"| largest budget error vs the history | {worst:.1e} | (both) |")
    if "process" not in rows:
        return
    flag = " --recorded" if args.recorded else ""
    proc = rows["process"]
    if "baseline process" in rows:
        old = rows["baseline process"]
        head = f"`aqua slo report{flag} --format json`, fresh process"
        print(f"\n| {head} | this tree | baseline tree |")
        print("|---|---|---|")
        for name, key in (("wall", "wall"), ("its CPU", "cpu"), ("Prometheus CPU", "prom")):
            print(f"| {name} | {cell(proc[key])} | {cell(old[key])} |")
        print(f"| load average | {load(proc)} | {load(old)} |")
        return
    print(f"| `aqua slo report{flag} --format json` process, wall | {cell(proc['wall'])} | |")
    print(f"| that process's CPU | {cell(proc['cpu'])} | |")
    print(f"| Prometheus CPU during it | {cell(proc['prom'])} ({load(proc)}) | |")


if __name__ == "__main__":
    main()
