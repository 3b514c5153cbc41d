"""The Deployments' CPU and memory limits, applied to the stack's processes through cgroups.

``aqua stack up --limits`` puts every API replica, ML service and worker in a cgroup of its
own with the CPU limit (a CFS quota) and memory limit of its Deployment in
``manifests/base/`` (:data:`~sre_cli.stack.usage.KUBERNETES_LIMITS`), so the stack behaves as
the pods would: a replica is throttled at its CPU limit (one replica has a ceiling a second
one raises) and a process that outgrows its memory limit is OOM-killed and restarted by the
supervisor.

Both cgroup versions are handled: v1 (a ``cpu`` and a ``memory`` hierarchy) and v2 (one
unified tree). The groups are made below the cgroup this process already runs in (never at a
hierarchy's root), so any limit above it still holds, and they are removed when the component
stops. Writing cgroups needs root (or a delegated subtree); without it ``--limits`` is refused
with the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sre_cli.errors import ConfigError

__all__ = [
    "CFS_PERIOD_US",
    "Cgroup",
    "cgroup_for",
    "existing_cgroup",
    "stack_group",
    "unavailable",
]

CFS_PERIOD_US = 100_000
_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Cgroup:
    """One component's group, in one directory per hierarchy."""

    dirs: tuple[Path, ...]

    def join(self) -> None:
        """Move the calling process into the group (run in the child before exec: only
        ``os`` calls, no locks)."""
        pid = str(os.getpid()).encode()
        for d in self.dirs:
            fd = os.open(d / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def oom_kills(self) -> int | None:
        """How many times the kernel OOM-killed a process of the group (``oom_kill`` of
        ``memory.oom_control`` on v1, of ``memory.events`` on v2); None when it cannot tell."""
        for d in self.dirs:
            for name in ("memory.oom_control", "memory.events"):
                try:
                    text = (d / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return None

    def remove(self) -> None:
        """Remove the group once its processes are gone (a busy one is left as it is)."""
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
            with contextlib.suppress(OSError):
                d.parent.rmdir()  # the stack's own group, once its last component is gone


def _own_paths(proc_cgroup: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """Controller (``""`` for v2's unified tree) → this process's cgroup path in it."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


def _v1_dir(controller: str, own: dict[str, str], root: Path) -> Path | None:
    mount = root / controller
    if controller not in own or not (mount / "cgroup.procs").exists():
        return None
    return mount / own[controller].lstrip("/")


def _parents(root: Path = _ROOT) -> tuple[str, Path, Path] | None:
    """("v1", cpu parent, memory parent) or ("v2", parent, parent); None: no usable cgroups."""
    own = _own_paths()
    cpu, memory = _v1_dir("cpu", own, root), _v1_dir("memory", own, root)
    if cpu is not None and memory is not None:
        return "v1", cpu, memory
    if (root / "cgroup.controllers").exists() and "" in own:
        parent = root / own[""].lstrip("/")
        return "v2", parent, parent
    return None


def unavailable() -> str | None:
    """Why ``--limits`` cannot work here, or None when it can."""
    parents = _parents()
    if parents is None:
        return "no cgroup cpu and memory controllers are mounted under /sys/fs/cgroup"
    for parent in {parents[1], parents[2]}:
        if not os.access(parent, os.W_OK):
            return f"cannot create cgroups under {parent} (needs root or a delegated subtree)"
    return None


def stack_group(root: Path) -> str:
    """The group of the stack whose state dir is ``root`` (its components' groups are in it)."""
    return "aqua-stack-" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]


def existing_cgroup(group: str, name: str) -> Cgroup | None:
    """The group ``group/name`` if it exists (made by ``--limits``), without changing it."""
    parents = _parents()
    if parents is None:
        return None
    dirs = tuple(dict.fromkeys(p / group / name for p in parents[1:]))
    return Cgroup(dirs) if all(d.is_dir() for d in dirs) else None


def cgroup_for(group: str, name: str, cpu_cores: float, memory_bytes: int) -> Cgroup:
    """The group ``group/name`` with ``cpu_cores`` of CPU and ``memory_bytes`` of memory,
    made (or reset) now."""
    parents = _parents()
    if parents is None:
        raise ConfigError(unavailable() or "no cgroups")
    version, cpu_parent, memory_parent = parents
    quota = str(max(1000, round(cpu_cores * CFS_PERIOD_US)))
    try:
        if version == "v1":
            cpu, memory = cpu_parent / group / name, memory_parent / group / name
            cpu.mkdir(parents=True, exist_ok=True)
            memory.mkdir(parents=True, exist_ok=True)
            (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
            (cpu / "cpu.cfs_quota_us").write_text(quota)
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            return Cgroup((cpu, memory))
        stack_dir = cpu_parent / group
        stack_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # enable the controllers for the components
            (stack_dir / "cgroup.subtree_control").write_text("+cpu +memory")
        unified = stack_dir / name
        unified.mkdir(exist_ok=True)
        (unified / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
        (unified / "memory.max").write_text(str(memory_bytes))
        return Cgroup((unified,))
    except OSError as exc:
        raise ConfigError(f"cannot set the limits of {name}: {exc}") from exc
