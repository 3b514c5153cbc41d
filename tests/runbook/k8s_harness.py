"""A real control plane for runbook tests (etcd, kube-apiserver, controller manager, scheduler;
kwok plays the kubelet), and the helpers the tests drive it with."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from infra_harness import PrometheusFactory, require
from polling import wait_for as wait_for

from sre_cli.k8s import ControlPlane, find_toolchain


def control_plane(workdir: Path, nodes: int = 3) -> Iterator[ControlPlane]:
    tools = require(find_toolchain)
    plane = ControlPlane(workdir, nodes=nodes, toolchain=tools)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


def kubectl(plane: ControlPlane, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [str(plane.toolchain.kubectl), *args],
        input=stdin,
        env=plane.kubectl_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def slo_prometheus(factory: PrometheusFactory) -> str:
    """A Prometheus that evaluates the SLO rules the stack and the manifests load (with no API
    to scrape, an SLI has no samples: a runbook's verification against the SLO sees none)."""
    rules = Path(__file__).resolve().parents[2] / "manifests" / "monitoring" / "rules"
    config = f"rule_files: ['{rules / 'slo.yml'}', '{rules / 'recording.yml'}']\n"
    return factory(config).url
