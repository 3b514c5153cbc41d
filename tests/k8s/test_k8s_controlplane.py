"""ControlPlane's failure paths: a component that dies is named, and nothing is left running."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from sre_cli.errors import ComponentError, MissingDependency
from sre_cli.infra.process import ManagedProcess
from sre_cli.k8s import ControlPlane, K8sToolchain, build_hint, find_toolchain


def test_missing_binaries_name_the_build_script(tmp_path: Path) -> None:
    with pytest.raises(MissingDependency) as info:
        find_toolchain({"AQUA_CACHE": str(tmp_path)})
    assert "kube-apiserver" in info.value.message
    assert str(tmp_path) in info.value.message
    assert info.value.hint == build_hint()
    assert "scripts/build-k8s" in build_hint()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone once /proc says so or its state is Z.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.integration
def test_a_dying_apiserver_fails_start_and_stops_etcd(
    k8s_toolchain: K8sToolchain, tmp_path: Path
) -> None:
    broken = dataclasses.replace(k8s_toolchain, kube_apiserver=Path("/bin/false"))
    plane = ControlPlane(tmp_path, nodes=1, toolchain=broken, timeout=20)
    started: dict[str, int] = {}
    original = plane._spawn

    def spy(name: str, argv: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        proc = original(name, argv, env)
        assert proc.pid is not None
        started[name] = proc.pid
        return proc

    plane._spawn = spy  # type: ignore[method-assign]
    with pytest.raises(ComponentError, match="kube-apiserver exited"):
        plane.start()
    assert set(started) == {"etcd", "kube-apiserver"}
    assert plane.pids() == {}
    assert not [name for name, pid in started.items() if _alive(pid)]
