"""``aqua loadtest knee`` and the server verdict on a real lite stack (nginx, Prometheus).

The knee search runs against a stack with one API replica: it finds a break, confirms the
highest good rate, reports the replicas and a saturating resource, and writes the file
``aqua capacity --knee`` reads. The server verdict reads the stack's Prometheus through the
``slo`` engine.
Steps are short (3 s) to keep the run time modest; the p95 limit is 250 ms rather than the
API's 100 ms, because on a shared two-core machine a 3-second step's p95 below saturation
jitters around 100 ms, while past the knee the corrected p95 grows to seconds.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_aqua
from infra_harness import require, require_binary
from json_schema import assert_matches_schema
from stack.stack_harness import Stack, make_stack

pytestmark = pytest.mark.integration

SUMMARY = "/api/v1/ponds/{id}/summary"


def aqua(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_aqua("loadtest", *args, timeout=timeout)


def start(tmp: Path, replicas: int, *flags: str) -> Iterator[tuple[Stack, Path, int]]:
    from sre_cli.loadtest.native import engine_binary

    require(engine_binary)
    bins = tmp / "bins"
    bins.mkdir()
    for tool in ("nginx", "prometheus"):
        (bins / tool).symlink_to(require_binary(tool))
    for stack in make_stack(tmp, {"AQUA_STACK_BIN_PATH": str(bins)}):
        stack.up("--lite", "--api-replicas", str(replicas), *flags)
        base = stack.plan()["entry_url"].rstrip("/")
        import httpx

        h = {"Authorization": f"Bearer {stack.admin_token(base)}"}
        farm = httpx.post(f"{base}/api/v1/farms", json={"name": "knee"}, headers=h, timeout=10)
        assert farm.status_code == 201, farm.text
        body = {"farm_id": farm.json()["id"], "name": "K1", "species": "nile_tilapia",
                "area_m2": 2000.0, "depth_m": 1.2, "stock_count": 10_000,
                "mean_weight_g": 250.0}  # fmt: skip
        pond = httpx.post(f"{base}/api/v1/ponds", json=body, headers=h, timeout=10)
        assert pond.status_code == 201, pond.text
        password = tmp / "password"
        password.write_text(
            json.loads((stack.state_dir / "secrets.json").read_text())["admin_password"]
        )
        yield stack, password, int(pond.json()["id"])


def knee(
    stack: Stack,
    password: Path,
    pond: int,
    out: Path,
    *target: str,
    refine: str = "1",
    start: str = "20",
    p95_ms: str = "250",
) -> dict[str, Any]:
    done = aqua("knee", "--state-dir", str(stack.state_dir),
                "--endpoint", SUMMARY.format(id=pond),
                "--username", "admin", "--password-file", str(password),
                "--start", start, "--factor", "2", "--step-duration", "3s", "--refine", refine,
                "--warmup", "2s", "--p95-ms", p95_ms,
                "--max-rate", "51200", "-o", str(out), "--format", "json", *target)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert_matches_schema("loadtest-knee", result)
    assert json.loads(out.read_text()) == result  # the file for `aqua capacity --knee`
    from sre_cli.capacity.replicas import load_knee

    assert load_knee(out).per_replica_rps == result["per_replica_rps"]
    assert result["confirmed"]
    assert result["total_rps"] == result["max_sustainable_rps"]
    assert result["per_replica_rps"] == pytest.approx(
        result["max_sustainable_rps"] / result["replicas"]
    )
    assert any(not s["good"] for s in result["steps"])  # it found a break below 51200/s
    good = {s["rate"] for s in result["steps"] if s["good"]}
    assert result["max_sustainable_rps"] in good
    return result


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path, int]]:
    yield from start(tmp_path_factory.mktemp("knee1"), 1)


def test_server_verdict_reads_the_stacks_prometheus(one: tuple[Stack, Path, int]) -> None:
    stack, password, pond = one
    done = aqua("run", "--state-dir", str(stack.state_dir), "--endpoint",
                SUMMARY.format(id=pond), "--username", "admin", "--password-file",
                str(password), "--arrival-rate", "20", "--duration", "6s",
                "--p95-ms", "100000", "--format", "json")  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    result = json.loads(done.stdout)
    server = result["server"]
    assert server is not None, done.stderr
    assert server["prometheus"] == stack.status()["prometheus"]["url"].rstrip("/")
    by_slo = {s["slo"]: s for s in server["slos"]}
    assert set(by_slo) == {"api-availability", "api-latency"}
    avail = by_slo["api-availability"]
    # every request succeeded, and the API counted them: both sides say 100 %
    assert result["failures"] == 0
    assert avail["client_sli"] == 1.0
    assert avail["server_sli"] == 1.0
    assert avail["passed"]
    assert avail["agree"]
    names = [t["name"] for t in result["thresholds"]]
    assert "server api-availability" in names
    assert "server api-latency" in names


def test_load_the_server_never_saw_is_flagged(one: tuple[Stack, Path, int]) -> None:
    stack, _, _ = one
    # /live is not an /api/ route: the service's SLIs have no event of this load
    done = aqua("run", "--state-dir", str(stack.state_dir), "--endpoint", "/live",
                "--arrival-rate", "20", "--duration", "3s", "--format", "json")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["failures"] == 0
    assert not result["server"]["agree"]
    assert any("no data for the run's window" in n for n in result["notes"]), result["notes"]
    assert result["verdict"] == "fail"


def test_the_knee_is_found_confirmed_and_written_for_capacity(
    one: tuple[Stack, Path, int],
) -> None:
    stack, password, pond = one
    result = knee(stack, password, pond, stack.state_dir.parent / "knee.json")
    assert result["replicas"] == 1
    assert result["saturating"] is not None  # the CPU of the stack's processes, at least
    assert result["saturating"]["resource"].startswith(("cpu of ", "db pool of "))
