"""The default capacity view's CPU and memory forecasts read what the stack really exports.

Two real processes stand in for an API replica and a worker: the stack agent reads their
CPU time and resident memory from /proc, a real Prometheus scrapes the agent every second,
and `aqua capacity forecast` (no spec, no query) forecasts both series per process against
the Deployments' CPU request and memory limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cli_runner import invoke
from stack.fake_env import FakeEnv

from sre_cli.cli import build_app
from sre_cli.infra.prometheus import PrometheusServer
from sre_cli.stack.agent import Agent, agent_handler
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import StateLayout
from sre_cli.stack.state import ComponentState, StackState, atomic_write
from sre_cli.stack.usage import KUBERNETES_LIMITS, process_usage

# Holds 96 MiB and burns about a fifth of a core: sleeps 4 ms of every 5.
_BUSY = (
    "import sys,time\n"
    "blob = bytearray(96 * 1024 * 1024)\n"
    "for i in range(0, len(blob), 4096): blob[i] = 1\n"
    "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "while True:\n"
    "    end = time.perf_counter() + 0.001\n"
    "    while time.perf_counter() < end: pass\n"
    "    time.sleep(0.004)\n"
)
_IDLE = "import sys,time\nsys.stdout.write('ready\\n'); sys.stdout.flush()\ntime.sleep(3600)\n"


@pytest.fixture
def processes() -> Iterator[dict[str, subprocess.Popen[str]]]:
    procs = {
        name: subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for name, code in (("api-1", _BUSY), ("worker-1", _IDLE))
    }
    try:
        for proc in procs.values():
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n"
        yield procs
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def agent_target(tmp_path: Path, processes: dict[str, subprocess.Popen[str]]) -> Iterator[str]:
    layout = StateLayout(tmp_path / "stack")
    layout.create()
    plan = build_plan(StackOptions(), FakeEnv(), layout)
    names = {c.name for c in plan.components}
    assert set(processes) <= names, names
    atomic_write(layout.plan_file, plan.model_dump_json())
    state = StackState(
        supervisor_pid=os.getpid(),
        stack_id="capacity-usage",
        phase="up",
        started_at=time.time(),
        components={
            c.name: ComponentState(name=c.name, port=c.port, pid=processes[c.name].pid)
            for c in plan.components
            if c.name in processes
        },
    )
    atomic_write(layout.state_file, state.model_dump_json())
    server = ThreadingHTTPServer(("127.0.0.1", 0), agent_handler(Agent(layout)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def _samples(url: str, series: str) -> int:
    body = httpx.get(
        f"{url}/api/v1/query", params={"query": f"min(count_over_time({series}[1m]))"}
    ).json()
    result = body["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def test_default_view_forecasts_cpu_and_memory_per_stack_process(
    prometheus_factory: Callable[..., PrometheusServer],
    agent_target: str,
    processes: dict[str, subprocess.Popen[str]],
) -> None:
    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: stack\n"
        f"    static_configs:\n      - targets: ['{agent_target}']\n"
    )
    server = prometheus_factory(config)
    series = 'aqua_stack_component_cpu_seconds_total{component="api-1"}'
    deadline = time.monotonic() + 90
    while _samples(server.url, series) < 20 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _samples(server.url, series) >= 20, "Prometheus did not scrape the agent"

    argv = ["capacity", "forecast", "--prometheus", server.url, "--history", "1m"]
    argv += ["--step", "1s", "--format", "json"]
    code, out = invoke(build_app(argv), argv, width=250)
    assert code in (0, 1), out  # 1 when a forecast is past its act level
    data, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    forecasts = data["forecasts"]
    cpu = {f["labels"]["component"]: f for f in forecasts if f["name"] == "cpu-utilisation"}
    memory = {f["labels"]["component"]: f for f in forecasts if f["name"] == "memory-utilisation"}
    assert set(cpu) == set(memory) == {"api-1", "worker-1"}, forecasts
    for f in [*cpu.values(), *memory.values()]:
        assert f["status"] != "no_data", f
        assert f["samples"] >= 10

    # Memory: the process's resident set over the API Deployment's 512 MiB limit.
    usage = process_usage(processes["api-1"].pid)
    assert usage is not None
    limit = KUBERNETES_LIMITS["api"][0]
    assert memory["api-1"]["current"] == pytest.approx(100 * usage.rss_bytes / limit, rel=0.1)
    assert memory["api-1"]["current"] > memory["worker-1"]["current"]
    # CPU: the busy process is far above the idle one, as a share of a 250m request.
    assert cpu["api-1"]["current"] > 10 * max(cpu["worker-1"]["current"], 0.1)
