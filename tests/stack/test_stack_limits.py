"""``aqua stack up --limits``: processes in real cgroups with the Deployments' limits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from stack.stack_harness import require_cgroups

from sre_cli.stack.cgroups import Cgroup, cgroup_for
from sre_cli.stack.runners import ProcessRunner

_GROUP = f"aqua-test-{Path(__file__).stem}"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_runner_in_a_cgroup_is_throttled_at_its_cpu_limit(tmp_path: Path) -> None:
    require_cgroups()
    group = cgroup_for(_GROUP, "burn", 0.2, 256 * 1024 * 1024)
    runner = ProcessRunner(
        [sys.executable, "-c", "while True: pass"], tmp_path / "burn.log", cgroup=group
    )
    runner.start()
    try:
        assert runner.pid is not None
        procs = {d: (d / "cgroup.procs").read_text().split() for d in group.dirs}
        assert all(str(runner.pid) in pids for pids in procs.values()), procs
        start, cpu0 = time.monotonic(), _cpu_seconds(runner.pid)
        while time.monotonic() - start < 3.0:
            time.sleep(0.25)
        share = (_cpu_seconds(runner.pid) - cpu0) / (time.monotonic() - start)
        # A busy loop takes a whole core when it can; its quota holds it at a fifth of one.
        assert share < 0.3, share
    finally:
        runner.stop(timeout=5)
    assert not any(d.exists() for d in group.dirs)


def test_a_process_over_its_memory_limit_is_oom_killed(tmp_path: Path) -> None:
    require_cgroups()
    group = cgroup_for(_GROUP, "leak", 1.0, 64 * 1024 * 1024)
    leak = "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))\n"
    runner = ProcessRunner([sys.executable, "-c", leak], tmp_path / "leak.log", cgroup=group)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while runner.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runner.exit_description() == (
            "killed by SIGKILL, OOM-killed at its memory limit (oom_kill 1)"
        )
        oom = [d for d in group.dirs if (d / "memory.oom_control").exists()]
        for d in oom:  # v1 counts the kills
            assert "oom_kill 1" in (d / "memory.oom_control").read_text()
        events = [d / "memory.events" for d in group.dirs if (d / "memory.events").exists()]
        for path in events:  # v2 counts them here
            assert "oom_kill 1" in path.read_text()
        assert oom or events
    finally:
        runner.stop(timeout=5)


def test_without_limits_a_runner_stays_where_it_was(tmp_path: Path) -> None:
    runner = ProcessRunner([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "l")
    runner.start()
    try:
        assert runner.pid is not None
        mine = Path("/proc/self/cgroup").read_text()
        assert Path(f"/proc/{runner.pid}/cgroup").read_text() == mine
    finally:
        runner.stop(timeout=5)


def test_cgroup_remove_leaves_a_busy_group(tmp_path: Path) -> None:
    require_cgroups()
    group: Cgroup = cgroup_for(_GROUP, "busy", 1.0, 128 * 1024 * 1024)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], preexec_fn=group.join
    )
    try:
        group.remove()  # a process is in it: the group stays
        assert all(d.exists() for d in group.dirs)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any((d / "cgroup.procs").read_text().strip() for d in group.dirs):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    group.remove()
    assert not any(d.exists() for d in group.dirs)


def _quota_us(group: Cgroup) -> int:
    for d in group.dirs:
        if (d / "cpu.max").is_file():  # v2: "QUOTA PERIOD"
            return int((d / "cpu.max").read_text().split()[0])
        if (d / "cpu.cfs_quota_us").is_file():  # v1
            return int((d / "cpu.cfs_quota_us").read_text())
    raise AssertionError(f"no CPU quota file in {group.dirs}")


def test_api_cpu_sets_each_api_replicas_quota_and_only_theirs(tmp_path: Path) -> None:
    """``--limits --api-cpu 0.05``: each API replica runs with a twentieth of a core (5 ms of
    every 100 ms period), the other services keep their Deployment's limit."""
    from stack.stack_harness import make_stack

    from sre_cli.stack.cgroups import existing_cgroup, stack_group
    from sre_cli.stack.usage import KUBERNETES_LIMITS

    require_cgroups()
    for stack in make_stack(tmp_path):
        done = stack.up("--lite", "--limits", "--api-cpu", "0.05", "--api-replicas", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        group = stack_group(stack.state_dir)
        kinds = {c["name"]: c["kind"] for c in stack.plan()["components"]}
        quotas = {}
        for name, kind in kinds.items():
            if kind in KUBERNETES_LIMITS:
                cgroup = existing_cgroup(group, name)
                assert cgroup is not None, name
                quotas[name] = (kind, _quota_us(cgroup))
        apis = {name: quota for name, (kind, quota) in quotas.items() if kind == "api"}
        assert apis == {"api-1": 5_000, "api-2": 5_000}, quotas
        for kind, quota in quotas.values():
            if kind != "api":
                assert quota == round(KUBERNETES_LIMITS[kind][1] * 100_000), quotas


def test_api_cpu_without_limits_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sre_cli", "stack", "up", "--lite", "--api-cpu", "0.05",
         "--state-dir", str(tmp_path / "stack")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--api-cpu sets a limit: it goes with --limits" in done.stderr
    assert not (tmp_path / "stack" / "state.json").exists()
