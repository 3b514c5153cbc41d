"""What the benchmark scripts share: process CPU, readiness waits, load, README sections.

Each script puts the repository root on ``sys.path`` and imports this module as
``bench.benchlib``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

README = Path(__file__).resolve().parent / "README.md"
ROOT = README.parents[1]
#: the API as the bench scripts serve it
API_SERVE = [sys.executable, "-m", "service.api", "serve"]
_HEADER = (
    "# Benchmarks\n\nEach section: what was measured, the figures, and the command that "
    "reproduces them. A figure is either written by the command shown beside it in the run that "
    "produced it (the section then says when), or labelled with the date and the commit that "
    "recorded it: such figures describe the code of that commit, not necessarily today's.\n\n"
)


def pond_body(farm_id: int, name: str, *, stocked: bool = True) -> dict[str, object]:
    """The ``POST /api/v1/ponds`` body of a bench pond: 2,000 m² of tilapia 1.2 m deep and,
    when ``stocked``, 10,000 fish of 250 g (the biomass part of a summary then has work)."""
    body: dict[str, object] = {
        "farm_id": farm_id,
        "name": name,
        "species": "nile_tilapia",
        "area_m2": 2000.0,
        "depth_m": 1.2,
    }
    if stocked:
        body.update(stock_count=10_000, mean_weight_g=250.0)
    return body


def process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its live descendants."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until ``url`` answers 200; exits the benchmark if ``proc`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready within {timeout} s")


def spawn(
    argv: list[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the repository root, its stdout and stderr appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_all(procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """SIGTERM every process still running, then wait for each (killed after ``timeout``)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def api_env(port: int, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an API served for a bench run: production mode, a fresh signing key,
    the ``bench`` admin, no drain wait; ``extra`` adds or overrides ``AQUA_*`` settings."""
    return {
        **os.environ,
        "AQUA_ENVIRONMENT": "production",
        "AQUA_JWT_SECRET": os.urandom(32).hex(),
        "AQUA_DATABASE_URL": database_url,
        "AQUA_PORT": str(port),
        "AQUA_BOOTSTRAP_ADMIN_USERNAME": "bench",
        "AQUA_BOOTSTRAP_ADMIN_PASSWORD": "bench-password-123",
        "AQUA_DRAIN_SECONDS": "0",
        **extra,
    }


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, as ``"1.2 1.4 1.7"``."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def write_section(section: str, text: str) -> None:
    """Replace the ``section`` heading's part of bench/README.md with ``text`` (or append it)."""
    current = README.read_text(encoding="utf-8") if README.exists() else _HEADER
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    README.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")
