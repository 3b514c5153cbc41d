"""The open model against a real server that stalls: 1 s pause every 5 s.

The stalling server is a small asyncio HTTP/1.1 server on a free loopback port (in a thread
of the test process): a request that arrives while it is paused is answered when the pause
ends. At 200 requests/s, a fifth of the intended requests fall into a pause, so the latency
measured from the intended send time must show the stall in its p99, while most requests
are served at once (a low service-time p50). With one request in flight at most, the
generator is closed-loop in all but name: the stalled requests are simply not sent during
the pause, the service time hides the stall (the coordinated omission), and only the
corrected latency still shows it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_aqua
from infra_harness import require
from json_schema import assert_matches_schema

pytestmark = pytest.mark.integration

PERIOD_S, PAUSE_S = 5.0, 1.0


@dataclass
class StallingServer:
    url: str
    answered: list[int]


def _serve(ready: threading.Event, box: dict[str, object], stop: threading.Event) -> None:
    answered = [0]
    t0 = time.monotonic()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                phase = (time.monotonic() - t0) % PERIOD_S
                if phase < PAUSE_S and not head.startswith(b"GET /fast"):
                    await asyncio.sleep(PAUSE_S - phase)
                answered[0] += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        box["server"] = StallingServer(f"http://127.0.0.1:{port}", answered)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        server.close()

    asyncio.run(main())


@pytest.fixture(scope="module")
def stalling() -> Iterator[StallingServer]:
    ready, stop = threading.Event(), threading.Event()
    box: dict[str, object] = {}
    thread = threading.Thread(target=_serve, args=(ready, box, stop), daemon=True)
    thread.start()
    assert ready.wait(10)
    server = box["server"]
    assert isinstance(server, StallingServer)
    yield server
    stop.set()
    thread.join(10)


def engine() -> Path:
    from sre_cli.loadtest.native import engine_binary

    return require(engine_binary)


def loadtest(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return run_aqua("loadtest", "run", *args, timeout=timeout)


def open_run(server: StallingServer, *extra: str, path: str = "/", code: int = 0) -> dict[str, Any]:
    """A JSON run against ``path``: 200/s for 10 s unless ``extra`` sets the load."""
    engine()
    own = "--stages" in extra or "--arrival-rate" in extra
    load = extra if own else ("--arrival-rate", "200", "--duration", "10s", *extra)
    args = ("--target", server.url, "--endpoint", path, "--p95-ms", "100000", "--format", "json")
    done = loadtest(*args, *load)
    assert done.returncode == code, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert_matches_schema("loadtest-run", result)
    return result


def test_the_stall_shows_in_the_corrected_p99_not_in_the_service_time_p50(
    stalling: StallingServer,
) -> None:
    before = stalling.answered[0]
    result = open_run(stalling)
    assert result["model"] == "open"
    assert result["intended_rps"] == 200
    assert result["requests"] == 2000  # 200/s for 10 s, every one sent
    assert stalling.answered[0] - before == 2000 + 1  # and the pre-flight's one GET
    assert result["failures"] == 0
    latency, service = result["latency_ms"], result["service_time_ms"]
    assert latency["p99"] >= 500, latency
    assert service["p50"] < 50, service
    assert latency["max"] <= PAUSE_S * 1000 + 500
    # the rate held through the pauses: the server's stall did not slow the load
    assert result["achieved_rps"] == pytest.approx(200, rel=0.02)
    assert result["server"] is None


def test_one_in_flight_hides_the_stall_from_the_service_time_only(
    stalling: StallingServer,
) -> None:
    result = open_run(stalling, "--max-in-flight", "1")
    latency, service = result["latency_ms"], result["service_time_ms"]
    # two pauses, one request waiting in each: well under 1 % of 2000
    assert service["p99"] < 100, service
    assert service["max"] >= 500, service
    assert latency["p99"] >= 500, latency


def test_stages_ramp_the_rate_up_and_down(stalling: StallingServer) -> None:
    result = open_run(stalling, "--stages", "2s:100,2s:0", path="/fast")
    # (0 + 100) / 2 * 2 s up, then (100 + 0) / 2 * 2 s down
    assert result["requests"] == 200
    assert result["intended_rps"] == 50
    assert result["duration_s"] == 4
    assert result["failures"] == 0


def test_a_baseline_with_a_faster_p95_fails_the_run(
    stalling: StallingServer, tmp_path: Path
) -> None:
    first = open_run(stalling, "--arrival-rate", "100", "--duration", "3s", path="/fast")
    faster = {**first, "latency_ms": {**first["latency_ms"], "p95": 0.001}}
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(faster))
    second = open_run(stalling, "--arrival-rate", "100", "--duration", "3s",
                      "--baseline", str(baseline), path="/fast", code=1)  # fmt: skip
    failed = [t["name"] for t in second["thresholds"] if not t["passed"]]
    # the same rate as before: only the latency regressed
    assert failed == ["baseline p95_ms"]
    limits = {t["name"]: t["limit"] for t in second["thresholds"]}
    assert limits["baseline achieved_rps"] == pytest.approx(first["achieved_rps"] * 0.9, abs=1e-3)
