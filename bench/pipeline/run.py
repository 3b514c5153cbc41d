"""End-to-end ingest benchmark: API POST → Kafka → worker → PostgreSQL.

Starts PostgreSQL and a Kafka 4.x broker (sre_cli.infra), the API (``python -m service.api``,
Kafka queue) and one worker (``python -m service.worker``) on loopback; creates ponds; then
posts 500-reading batches from ``--concurrency`` async clients for ``--duration`` seconds.

Measured:

* readings/s from the first POST to the moment the last reading is committed in PostgreSQL
  (row count polled every 50 ms) — the end-to-end throughput;
* the API's accept rate (202s per second × 500) and POST latency;
* p95 end-to-end delay: ``pipeline_end_to_end_seconds`` from the worker (reading timestamp,
  stamped just before each POST, to offset commit), estimated from its buckets as
  ``histogram_quantile`` does;
* lag drain: seconds from the last 202 to the consumer group's committed offsets reaching the
  end of every partition (admin client polled every 50 ms).

Any non-202 answer fails the run. ``--write`` replaces the "## Pipeline" section of
bench/README.md::

    python bench/pipeline/run.py --duration 20 --write
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from bench import benchlib  # noqa: E402
from bench.benchlib import load_average, process_tree_cpu, wait_http, write_section  # noqa: E402

if TYPE_CHECKING:
    from sre_cli.infra.process import Server


def _pid(server: Server) -> int:
    """The process id of a server started by this script."""
    pid = server.process.pid if server.process is not None else None
    if pid is None:
        raise SystemExit(f"{server.name} is not running")
    return pid


SECTION = "## Pipeline"
TARGET_RPS = 20_000
TARGET_DRAIN_S = 5.0
BATCH = 500
SENSORS = ("dissolved_oxygen", "temperature", "ph", "ammonia")
VALUES = {"dissolved_oxygen": "6.5", "temperature": "27.5", "ph": "7.6", "ammonia": "0.4"}


@dataclass
class Figures:
    posts: int
    readings: int
    load_s: float
    accept_rate: float
    e2e_rate: float
    post_p50_ms: float
    post_p95_ms: float
    e2e_p50_s: float
    e2e_p95_s: float
    drain_s: float
    cpu_s: dict[str, float]
    load: str


def body(start: datetime) -> bytes:
    """500 readings one microsecond apart from ``start`` (the caller keeps keys unique)."""
    parts = []
    for i in range(BATCH):
        sensor = SENSORS[i % 4]
        ts = (start + timedelta(microseconds=i)).isoformat()
        parts.append(f'{{"sensor":"{sensor}","ts":"{ts}","value":{VALUES[sensor]}}}')
    return ('{"readings":[' + ",".join(parts) + "]}").encode()


async def load(
    base: str, token: str, ponds: list[int], duration: float, concurrency: int
) -> tuple[int, list[float], float, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    seq = 0
    last: dict[int, datetime] = {}
    stop_at = time.monotonic() + duration

    async def client(n: int) -> None:
        nonlocal seq
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while time.monotonic() < stop_at:
                seq += 1
                pond = ponds[seq % len(ponds)]
                # Reading times are "now", strictly increasing per pond: keys never repeat.
                start = max(datetime.now(UTC), last.get(pond, datetime.min.replace(tzinfo=UTC)))
                last[pond] = start + timedelta(microseconds=BATCH)
                content = body(start)
                t = time.perf_counter()
                r = await http.post(
                    f"/api/v1/ponds/{pond}/readings", content=content, headers=headers
                )
                latencies.append(time.perf_counter() - t)
                if r.status_code != 202:
                    raise SystemExit(f"POST answered {r.status_code}: {r.text[:300]}")

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return len(latencies), latencies, started, time.monotonic()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def e2e_buckets(metrics_text: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("pipeline_end_to_end_seconds_bucket{") and "sensor-readings" in line:
            le = re.search(r'le="([^"]+)"', line)
            assert le is not None
            out[float(le.group(1))] = float(line.rsplit(" ", 1)[1])
    return out


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The q-quantile of the observations between two scrapes, as Prometheus estimates it."""
    buckets = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = buckets[-1][1]
    rank, prev_le, prev_count = q * total, 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return float("nan")


def group_lag(admin: object, consumer: object, group: str, topic: str) -> int:
    from kafka import TopicPartition

    offsets = admin.list_group_offsets({group: None})[group]  # type: ignore[attr-defined]
    parts = [TopicPartition(topic, p) for p in range(8)]
    ends = consumer.end_offsets(parts)  # type: ignore[attr-defined]
    lag = 0
    for tp in parts:
        committed = offsets.get(tp)
        lag += ends[tp] - (committed.offset if committed is not None else 0)
    return lag


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def run(args: argparse.Namespace) -> list[Figures]:
    import asyncpg
    from kafka import KafkaAdminClient, KafkaConsumer

    from sre_cli.infra.kafka import KafkaServer
    from sre_cli.infra.postgres import PostgresServer
    from sre_cli.infra.process import free_port

    work = Path(tempfile.mkdtemp(prefix="aqua-bench-pipeline-"))
    work.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    with PostgresServer(work / "pg") as pg, KafkaServer(work / "kafka") as kafka:
        try:
            api_port = free_port()
            worker_ports = [free_port() for _ in range(args.workers)]
            env = benchlib.api_env(
                api_port,
                pg.async_url,
                AQUA_KAFKA_BOOTSTRAP=kafka.bootstrap,
                AQUA_WORKERS=str(args.api_workers),
                AQUA_RATE_LIMIT_REQUESTS="0",
                AQUA_WORKER_NIGHTLY_ENABLED="false",
            )
            procs.append(benchlib.spawn(benchlib.API_SERVE, work / "api.log", env))
            base = f"http://127.0.0.1:{api_port}"
            wait_http(f"{base}/ready", procs[0], timeout=90)
            for n, port in enumerate(worker_ports):
                worker_env = {**env, "AQUA_WORKER_METRICS_PORT": str(port)}
                worker = [sys.executable, "-m", "service.worker"]
                procs.append(benchlib.spawn(worker, work / f"worker{n}.log", worker_env))
            for n, port in enumerate(worker_ports):
                wait_http(f"http://127.0.0.1:{port}/ready", procs[1 + n], timeout=90)
            token = httpx.post(
                f"{base}/api/v1/auth/token",
                data={"username": "bench", "password": "bench-password-123"},
            ).json()["access_token"]
            h = {"Authorization": f"Bearer {token}"}
            farm = httpx.post(f"{base}/api/v1/farms", json={"name": "bench"}, headers=h).json()[
                "id"
            ]
            ponds = []
            for i in range(args.ponds):
                r = httpx.post(
                    f"{base}/api/v1/ponds",
                    headers=h,
                    json=benchlib.pond_body(farm, f"p{i}", stocked=False),
                )
                r.raise_for_status()
                ponds.append(r.json()["id"])
            asyncio.run(load(base, token, ponds, 2.0, args.concurrency))  # warm-up
            db = pg.url

            async def rows() -> int:
                conn = await asyncpg.connect(db)
                try:
                    return int(await conn.fetchval("SELECT count(*) FROM readings"))
                finally:
                    await conn.close()

            def wait_rows(n: int, timeout: float = 300) -> float:
                async def poll() -> float:
                    conn = await asyncpg.connect(db)
                    try:
                        deadline = time.monotonic() + timeout
                        while time.monotonic() < deadline:
                            if int(await conn.fetchval("SELECT count(*) FROM readings")) >= n:
                                return time.monotonic()
                            await asyncio.sleep(0.05)
                    finally:
                        await conn.close()
                    raise SystemExit(f"rows did not reach {n} within {timeout} s")

                return asyncio.run(poll())

            admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, api_version=(4, 0))
            consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, api_version=(4, 0))
            pids = {
                "API": procs[0].pid,
                **{f"worker {n + 1}": p.pid for n, p in enumerate(procs[1:])},
                "Kafka broker": _pid(kafka),
                "PostgreSQL": _pid(pg),
            }

            def cpu_now() -> dict[str, float]:
                now = {name: process_tree_cpu(pid) for name, pid in pids.items()}
                now["load generator"] = self_cpu()
                return now

            def scrape() -> dict[float, float]:
                merged: dict[float, float] = {}
                for port in worker_ports:
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                    for le, count in e2e_buckets(text).items():
                        merged[le] = merged.get(le, 0.0) + count
                return merged

            results: list[Figures] = []
            for n in range(args.runs):
                stored = asyncio.run(rows())
                wait_rows(stored)
                time.sleep(2)  # let the previous run's tail settle
                stored = asyncio.run(rows())
                cpu0, e2e0 = cpu_now(), scrape()
                posts, latencies, started, ended = asyncio.run(
                    load(base, token, ponds, args.duration, args.concurrency)
                )
                readings = posts * BATCH
                drained = None
                while drained is None:
                    if group_lag(admin, consumer, "aqua-worker-readings", "sensor-readings") == 0:
                        drained = time.monotonic()
                    elif time.monotonic() - ended > 300:
                        raise SystemExit("lag did not drain within 300 s")
                    else:
                        time.sleep(0.05)
                committed = wait_rows(stored + readings)
                cpu1, e2e1 = cpu_now(), scrape()
                f = Figures(
                    posts=posts,
                    readings=readings,
                    load_s=ended - started,
                    accept_rate=readings / (ended - started),
                    e2e_rate=readings / (max(committed, drained) - started),
                    post_p50_ms=quantile(latencies, 0.5) * 1000,
                    post_p95_ms=quantile(latencies, 0.95) * 1000,
                    e2e_p50_s=histogram_quantile(e2e0, e2e1, 0.5),
                    e2e_p95_s=histogram_quantile(e2e0, e2e1, 0.95),
                    drain_s=max(0.0, drained - ended),
                    cpu_s={k: cpu1[k] - cpu0[k] for k in cpu1},
                    load=load_average(),
                )
                print(
                    f"run {n + 1}: {f.e2e_rate:,.0f} readings/s end to end, accept "
                    f"{f.accept_rate:,.0f}/s, e2e p95 {f.e2e_p95_s:.2f} s, drain "
                    f"{f.drain_s:.2f} s, load {f.load}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(f)
            admin.close()
            consumer.close()
            return results
        finally:
            benchlib.stop_all(procs)


def render(runs: list[Figures], args: argparse.Namespace, loads: list[str]) -> str:
    best = max(runs, key=lambda f: f.e2e_rate)
    med = sorted(runs, key=lambda f: f.e2e_rate)[len(runs) // 2]
    cpu = {k: sum(f.cpu_s[k] for f in runs) for k in runs[0].cpu_s}
    readings = sum(f.readings for f in runs)
    per_reading = sum(cpu.values()) / readings * 1e6

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    rows = [
        f"| {n} | **{f.e2e_rate:,.0f}** | {f.accept_rate:,.0f} | {f.readings:,} | "
        f"{f.post_p50_ms:.0f} / {f.post_p95_ms:.0f} | {f.e2e_p50_s:.2f} / **{f.e2e_p95_s:.2f}** | "
        f"**{f.drain_s:.2f}** | {f.load} |"
        for n, f in enumerate(runs, 1)
    ]
    return "\n".join(
        [
            SECTION,
            "",
            "Readings from API POST to committed PostgreSQL rows. The API (`python -m service.api`,"
            f" {args.api_workers} uvicorn worker, Kafka queue: idempotent producer, `acks=all`, "
            "202 only after the broker's acknowledgement), one Kafka 4.3 broker (KRaft, "
            f"`sre_cli.infra`), {args.workers} worker process(es) (`python -m service.worker`: "
            "kafka-python 3 with the "
            "`crc32c` extension, upserts through `service.data.ingest.upsert_readings`), "
            f"PostgreSQL 15. {args.concurrency} concurrent clients post 500-reading batches "
            f"(reading times = now) to {args.ponds} ponds for {args.duration} s per run, after a "
            "2 s warm-up; every answer must be 202. Everything, load generator included, shares "
            "the same two cores, which other work was using too (load average per run below).",
            "",
            "Columns: end-to-end readings/s (first POST → last row committed), API accept "
            "readings/s (202 × 500 / load time), readings posted, POST latency p50 / p95 (ms), "
            "end-to-end delay p50 / p95 (s, reading time → offset commit, "
            "`pipeline_end_to_end_seconds` between two scrapes), lag drain (s, last 202 → the "
            "group's committed offsets at the end of all 8 partitions), 1-min load average "
            "after the run.",
            "",
            "| run | e2e readings/s | accepted/s | readings | POST ms | e2e delay s | drain s "
            "| load |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "| target | median run | best run |",
            "| --- | --- | --- |",
            f"| ≥ {TARGET_RPS:,} readings/s end to end | {med.e2e_rate:,.0f}: "
            f"{mark(med.e2e_rate >= TARGET_RPS)} | {best.e2e_rate:,.0f}: "
            f"{mark(best.e2e_rate >= TARGET_RPS)} |",
            f"| lag drained ≤ {TARGET_DRAIN_S:.0f} s after the load | {med.drain_s:.2f} s: "
            f"{mark(med.drain_s <= TARGET_DRAIN_S)} | {best.drain_s:.2f} s: "
            f"{mark(best.drain_s <= TARGET_DRAIN_S)} |",
            f"| p95 end-to-end delay under the 60 s freshness SLO | {med.e2e_p95_s:.2f} s: "
            f"{mark(med.e2e_p95_s < 60)} | {best.e2e_p95_s:.2f} s: {mark(best.e2e_p95_s < 60)} |",
            "",
            "CPU over all runs (user + system of each process and its children):",
            "",
            "| component | CPU s | µs per reading |",
            "| --- | --- | --- |",
            *[f"| {k} | {v:.1f} | {v / readings * 1e6:.1f} |" for k, v in cpu.items()],
            f"| **total** | {sum(cpu.values()):.1f} | **{per_reading:.1f}** |",
            "",
            f"At {per_reading:.0f} µs of CPU per reading for the whole chain, two otherwise idle "
            f"cores could carry about **{2e6 / per_reading:,.0f} readings/s**; what a run "
            "measures is the share of a busy machine it got. PostgreSQL's upserts (two indexes, "
            "a foreign-key check per row) and the API's request handling cost the most; the "
            "Kafka client and broker are a small part.",
            "",
            f"Machine: {os.cpu_count()} cores, shared; load average (1/5/15 min) before: "
            f"{loads[0]}, after: {loads[1]}. Python {platform.python_version()}, measured "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            "",
            "Reproduce:",
            "",
            "```sh",
            f"python bench/pipeline/run.py --runs {args.runs} --duration {args.duration} "
            f"--concurrency {args.concurrency} --ponds {args.ponds} --workers {args.workers} "
            f"--api-workers {args.api_workers} --write",
            "```",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ponds", type=int, default=50)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="pipeline worker processes")
    parser.add_argument("--write", action="store_true", help="update bench/README.md")
    args = parser.parse_args()
    loads = [load_average()]
    figures = run(args)
    loads.append(load_average())
    text = render(figures, args, loads)
    print(text)
    if args.write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
