"""Probe each real component: locate it, ask it for its version, say how to get it if missing."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sre_cli.errors import MissingDependency
from sre_cli.infra import binaries, versions

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType

__all__ = ["COMPONENTS", "Component", "ComponentStatus", "DoctorReport", "run_checks"]

Status = Literal["ok", "missing", "error"]

# The hint of a component whose probe gives none. A missing component's own error names its
# Debian package or the shipped script that builds it, by its path: hints work from a wheel.
PROVISION = "install it with the system's package manager (apt-get on Debian)"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    version: str | None
    path: str | None
    status: Status
    hint: str | None
    required: bool = True

    def to_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "version": self.version,
            "path": self.path,
            "status": self.status,
            "hint": self.hint,
        }


Probe = Callable[[], tuple[Path, str]]


@dataclass(frozen=True)
class Component:
    """One thing to check: ``probe`` returns (path, version) or raises MissingDependency."""

    name: str
    probe: Probe
    hint: str
    required: bool = True

    def check(self) -> ComponentStatus:
        try:
            path, version = self.probe()
        except MissingDependency as exc:
            return ComponentStatus(
                self.name, None, None, "missing", exc.hint or self.hint, self.required
            )
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            return ComponentStatus(
                self.name, None, None, "error", f"{exc}; {self.hint}", self.required
            )
        return ComponentStatus(self.name, version, str(path), "ok", None, self.required)


def _version_of(argv: Sequence[str], pattern: str) -> str:
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=False)
    text = out.stdout + out.stderr
    match = re.search(pattern, text)
    if not match:
        raise ValueError(
            f"could not read a version from `{' '.join(argv)}`: {text.strip()[:120]!r}"
        )
    return match.group(1)


def _binary(name: str) -> Probe:
    def probe() -> tuple[Path, str]:
        found = binaries.describe(name)
        return found.path, found.version

    return probe


def _k8s(attr: str, flag: str, pattern: str) -> Probe:
    def probe() -> tuple[Path, str]:
        from sre_cli.k8s.binaries import find_toolchain

        path: Path = getattr(find_toolchain(), attr)
        return path, _version_of([str(path), *flag.split()], pattern)

    return probe


def _node(attr: str, flag: str, pattern: str) -> Probe:
    """A binary of the real node of ``aqua cluster`` (sre_cli.cluster.tools)."""

    def probe() -> tuple[Path, str]:
        from sre_cli.cluster.tools import find_node_tools

        path: Path = getattr(find_node_tools(), attr)
        return path, _version_of([str(path), *flag.split()], pattern)

    return probe


def _addon(name: str, pattern: str) -> Probe:
    def probe() -> tuple[Path, str]:
        from sre_cli.cluster.addons import addon_binary

        path = addon_binary(name)
        return path, _version_of([str(path), "--version"], pattern)

    return probe


def _kafka() -> tuple[Path, str]:
    libs = binaries.kafka_libs()
    return libs, versions.kafka_version()


def _jaeger() -> tuple[Path, str]:
    return binaries.jaeger(), binaries.jaeger_version()


def _toxiproxy() -> tuple[Path, str]:
    return binaries.toxiproxy(), binaries.toxiproxy_version()


def _python_package(dist: str, hint: str) -> Probe:
    def probe() -> tuple[Path, str]:
        try:
            meta = importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            raise MissingDependency(f"Python package {dist} is not installed", hint=hint) from None
        return Path(str(meta.locate_file(""))), meta.version

    return probe


_K8S = r"Kubernetes (v\S+)"

COMPONENTS: tuple[Component, ...] = (
    Component("postgresql", _binary("postgres"), PROVISION),
    Component("redis", _binary("redis-server"), PROVISION),
    Component("java", _binary("java"), PROVISION),
    Component("kafka", _kafka, PROVISION),
    Component("prometheus", _binary("prometheus"), PROVISION),
    Component("promtool", _binary("promtool"), PROVISION),
    Component("alertmanager", _binary("alertmanager"), PROVISION),
    Component("amtool", _binary("amtool"), PROVISION),
    Component("nginx", _binary("nginx"), PROVISION),
    Component("jaeger", _jaeger, PROVISION),
    Component("toxiproxy", _toxiproxy, PROVISION),
    Component("etcd", _k8s("etcd", "--version", r"etcd Version: (\S+)"), PROVISION),
    Component("kube-apiserver", _k8s("kube_apiserver", "--version", _K8S), PROVISION),
    Component(
        "kube-controller-manager", _k8s("kube_controller_manager", "--version", _K8S), PROVISION
    ),
    Component("kube-scheduler", _k8s("kube_scheduler", "--version", _K8S), PROVISION),
    Component("kubectl", _k8s("kubectl", "version --client", r"Client Version: (v\S+)"), PROVISION),
    Component("kwok", _k8s("kwok", "--version", r"(v?\d+\.\d+\.\d+)"), PROVISION),
    Component("kubelet", _node("kubelet", "--version", _K8S), PROVISION),
    Component("kube-proxy", _node("kube_proxy", "--version", _K8S), PROVISION),
    Component(
        "containerd", _node("containerd", "--version", r"containerd \S+ v?(\d[\w.~+-]*)"), PROVISION
    ),
    Component("runc", _node("runc", "--version", r"runc version (\S+)"), PROVISION),
    Component("buildah", _node("buildah", "--version", r"buildah version (\S+)"), PROVISION),
    Component("mmdebstrap", _node("mmdebstrap", "--version", r"mmdebstrap (\S+)"), PROVISION),
    Component("busybox-static", _node("busybox", "", r"BusyBox (v\S+)"), PROVISION),
    Component("coredns", _addon("coredns", r"CoreDNS-(\S+)"), PROVISION),
    Component("metrics-server", _addon("metrics-server", r"(v\d+\.\d+\.\d+)"), PROVISION),
    Component(
        "torch", _python_package("torch", "pip install torch (the service extra)"), PROVISION
    ),
)


@dataclass(frozen=True)
class DoctorReport:
    components: tuple[ComponentStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(c.status == "ok" for c in self.components if c.required)

    def to_json(self) -> dict[str, list[dict[str, str | None]]]:
        return {"components": [c.to_json() for c in self.components]}

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        """One line per component; where the path or hint does not fit beside it, it goes on
        the next line, whole: a path is never folded or cut."""
        from rich.padding import Padding
        from rich.text import Text

        style = {"ok": "green", "missing": "red", "error": "yellow"}
        name_w = max(len("component"), *(len(c.name) for c in self.components))
        version_w = max(len("version"), *(len(c.version or "-") for c in self.components))
        head = f"{'component':<{name_w}}  {'version':<{version_w}}  {'status':<7}  path / hint"
        yield Text(head, style="bold", no_wrap=True, overflow="ignore")
        for c in self.components:
            where = (c.path if c.status == "ok" else c.hint) or "-"
            line = Text.assemble(
                f"{c.name:<{name_w}}  {c.version or '-':<{version_w}}  ",
                (f"{c.status:<7}", style[c.status]),
            )
            if len(line) + 2 + len(where) <= options.max_width:
                line.append(f"  {where}")
                yield line
            else:
                yield line
                if c.status == "ok":  # a path: whole, on its own line
                    yield Text(f"    {where}", no_wrap=True, overflow="ignore")
                else:  # a hint: words wrap, never mid-word
                    yield Padding(Text(where), (0, 0, 0, 4))


def run_checks(components: Sequence[Component] = COMPONENTS) -> DoctorReport:
    """Check every component; probes run in a few threads since each may spawn a process."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        return DoctorReport(tuple(pool.map(Component.check, components)))
