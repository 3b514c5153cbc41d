"""Harness of the stack tests: a private port range and state dir per stack, the CLI, cleanup.

Every stack a test starts gets ``--port-base B`` with a base B whose 34 ports are free and
locked for this test run (a lock file per base), so parallel workers never share a port; and
its own state dir under pytest's ``tmp_path``. Bases sit below Linux's ephemeral range, where
the kernel never hands out ports on its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from infra_harness import missing, require, require_binary
from json_schema import assert_matches_schema

from sre_cli.infra import binaries
from sre_cli.stack.probes import port_in_use

PORT_SPAN = 34
_LOCK_DIR = Path(tempfile.gettempdir()) / "aqua-stack-test-ports"


@dataclass
class PortBase:
    base: int
    _lock: IO[str]

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def reserve_port_base() -> PortBase:
    """A base whose ports base..base+33 are free now and not used by another test."""
    _LOCK_DIR.mkdir(exist_ok=True)
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(20000, 32000 - PORT_SPAN, PORT_SPAN)
        fh = open(_LOCK_DIR / f"{base}.lock", "w")  # noqa: SIM115 - held for the test's life
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        if any(port_in_use(base + off) for off in range(PORT_SPAN)):
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
            continue
        return PortBase(base, fh)
    raise RuntimeError("no free port range for a test stack")


@dataclass
class Stack:
    """One test stack: its state dir, port base and environment; runs `aqua stack ...`."""

    state_dir: Path
    base: int
    env: dict[str, str] = field(default_factory=dict)

    def admin_token(self, base: str) -> str:
        """An access token of the stack's own admin (from its secrets.json) at ``base``."""
        secrets = json.loads((self.state_dir / "secrets.json").read_text())
        r = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": secrets["admin_username"], "password": secrets["admin_password"]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def aqua(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "sre_cli", "stack", *args, "--state-dir", str(self.state_dir)]
        env = {**os.environ, "COLUMNS": "200", **self.env}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if check and done.returncode != 0:
            raise AssertionError(
                f"`aqua stack {' '.join(args)}` exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}\n"
                f"supervisor log:\n{self.log('supervisor')}"
            )
        return done

    def up(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.aqua("up", "--port-base", str(self.base), *args)

    def status(self) -> dict[str, dict[str, Any]]:
        out = self.aqua("status", "--json").stdout
        assert_matches_schema("stack-status", json.loads(out))
        return {c["name"]: c for c in json.loads(out)["components"]}

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.state_dir / "state.json").read_text())
        return state

    def plan(self) -> dict[str, Any]:
        plan: dict[str, Any] = json.loads((self.state_dir / "plan.json").read_text())
        return plan

    def log(self, name: str) -> str:
        path = self.state_dir / "logs" / f"{name}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return "(no log)"

    def wait(
        self, predicate: Callable[[dict[str, dict[str, Any]]], bool], timeout: float, what: str
    ) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        status = self.status()
        while not predicate(status):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; status: {json.dumps(status, indent=1)}"
                )
            time.sleep(0.5)
            status = self.status()
        return status

    def down(self) -> None:
        self.aqua("down", "--purge", check=False, timeout=180)


def stack_pids(state_dir: Path, sessions: Iterable[int | None] = ()) -> list[int]:
    """Live processes of the stack: its marker in their environment, its dir in their command
    line, or membership of a session led by one of ``sessions`` (the component pids)."""
    leaders = {p for p in sessions if p}
    try:
        stack_id = json.loads((state_dir / "state.json").read_text())["stack_id"]
    except (OSError, ValueError, KeyError):
        stack_id = None
    marker = f"\0AQUA_STACK_ID={stack_id}\0".encode() if stack_id else None
    needle = str(state_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = b"\0" + (entry / "environ").read_bytes() + b"\0"
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
            continue
        fields = stat.rpartition(")")[2].split()
        if (marker and marker in environ) or needle in cmdline or int(fields[3]) in leaders:
            found.append(int(entry.name))
    return found


def make_stack(tmp: Path, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    reserved = reserve_port_base()
    state_dir = tmp / "stack"
    stack = Stack(state_dir, reserved.base, dict(env or {}))
    try:
        yield stack
    finally:
        try:
            leaders = [c.get("pid") for c in stack.state().get("components", {}).values()]
        except (OSError, ValueError):
            leaders = []
        stack.down()
        left = stack_pids(state_dir, leaders)
        reserved.release()
        for pid in left:  # never leave a stray behind, even when a test failed
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


#: every server a full stack runs (Kafka's jars are checked apart: they are not a binary)
FULL_STACK_BINARIES = (
    "postgres",
    "initdb",
    "redis-server",
    "java",
    "nginx",
    "prometheus",
    "alertmanager",
)


def require_cgroups() -> None:
    """``--limits`` can make cgroups here; skip, or fail under CI, as :func:`missing` says."""
    from sre_cli.errors import MissingDependency
    from sre_cli.stack.cgroups import unavailable

    why = unavailable()
    if why is not None:
        missing(MissingDependency(f"cgroups: {why}"))


def require_full_stack(*, tracing: bool = True) -> None:
    """Every server of a full stack is installed (Jaeger only with ``tracing``: without it
    the stack runs, untraced); under CI a missing one fails the test."""
    for name in FULL_STACK_BINARIES:
        require_binary(name)
    require(binaries.kafka_libs)
    if tracing:
        require(binaries.jaeger)


def lite_stack(tmp: Path) -> Iterator[Stack]:
    """A ``--lite`` stack with two API replicas, nginx in front and Prometheus (from ``PATH``
    through a private bin dir, so nothing else of the machine's servers is used)."""
    bins = tmp / "bins"
    bins.mkdir()
    for tool in ("nginx", "prometheus"):
        (bins / tool).symlink_to(require_binary(tool))
    for s in make_stack(tmp, {"AQUA_STACK_BIN_PATH": str(bins)}):
        s.up("--lite", "--api-replicas", "2")
        yield s


def postgres_only_stack(root: Path) -> Iterator[Any]:
    """A state dir with the stack's plan and its postgres component running (no others, no
    supervisor), started as the stack starts it. ``root`` must be traversable by the
    ``postgres`` OS user. Yields the :class:`~sre_cli.stack.spec.StateLayout`."""
    for tool in ("initdb", "postgres", "psql"):
        require_binary(tool)
    from sre_cli.infra.process import free_port
    from sre_cli.stack.plan import MachineEnvironment, StackOptions, build_plan
    from sre_cli.stack.servers import ServerRunner, server_runner
    from sre_cli.stack.spec import Ports, StateLayout

    layout = StateLayout(root / "stack")
    layout.create()
    options = StackOptions(ports=Ports().with_overrides({"postgres": free_port()}))
    plan = build_plan(options, MachineEnvironment(), layout)
    layout.plan_file.write_text(plan.model_dump_json(), encoding="utf-8")
    runner = server_runner(plan.component("postgres"), plan, layout)
    assert isinstance(runner, ServerRunner)
    runner.start()
    try:
        yield layout
    finally:
        runner.stop()
