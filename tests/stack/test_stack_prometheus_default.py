"""slo report and capacity forecast ask the running stack's Prometheus when none is named,
and say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from stack.fake_env import FakeEnv

from sre_cli.infra.prometheus import PrometheusServer
from sre_cli.stack.control import StackControl
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import StateLayout

ROOT = Path(__file__).resolve().parents[2]


def _stack_with(prometheus_url: str, tmp_path: Path) -> StateLayout:
    """A stack's state dir whose plan's Prometheus is ``prometheus_url`` and whose supervisor
    is this (live) test process."""
    layout = StateLayout(tmp_path / "state")
    plan = build_plan(StackOptions(), FakeEnv(), layout)
    components = tuple(
        c.model_copy(update={"url": prometheus_url}) if c.kind == "prometheus" else c
        for c in plan.components
    )
    layout.plan_file.parent.mkdir(parents=True, exist_ok=True)
    layout.plan_file.write_text(
        plan.model_copy(update={"components": components}).model_dump_json()
    )
    layout.pid_file.write_text(str(os.getpid()))
    return layout


def test_running_prometheus_only_while_the_stack_runs(tmp_path: Path) -> None:
    layout = _stack_with("http://127.0.0.1:9", tmp_path)
    assert StackControl(layout).running_prometheus() == "http://127.0.0.1:9"
    layout.pid_file.unlink()
    assert StackControl(layout).running_prometheus() is None


def test_slo_report_uses_the_stacks_prometheus_and_says_so(
    tmp_path: Path, prometheus_factory: Callable[..., PrometheusServer]
) -> None:
    server = prometheus_factory("global:\n  scrape_interval: 1m\n")
    layout = _stack_with(server.url, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "AQUA_PROMETHEUS_URL"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sre_cli",
            "slo",
            "report",
            "--state-dir",
            str(layout.root),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "80"},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert f"using the stack's Prometheus at {server.url}" in done.stderr
    assert json.loads(done.stdout)["slos"][0]["status"] == "no_data"
