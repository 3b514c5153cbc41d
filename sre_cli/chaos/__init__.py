"""Game-day experiments: steady-state hypothesis, method, rollbacks, within a blast radius.

The vocabulary is chaostoolkit's, one module per concept: :mod:`.experiment` (the YAML spec,
loaded with file and line), :mod:`.hypothesis` (probes and tolerances), :mod:`.method`
(actions), :mod:`.rollback`, :mod:`.blast` (limits), :mod:`.pods` (random pod deletion and
recovery time), :mod:`.engine` (the run) and :mod:`.render`::

    from sre_cli.chaos import RunOptions, load_experiment, run
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sre_cli.chaos.blast import BlastRadius
    from sre_cli.chaos.engine import ExperimentReport, RunOptions, run
    from sre_cli.chaos.experiment import Experiment, find_experiment, load_experiment
    from sre_cli.chaos.hypothesis import Hypothesis, Probe
    from sre_cli.chaos.method import Action
    from sre_cli.chaos.pods import KillPlan, plan_kill, wait_available

__all__ = [
    "Action",
    "BlastRadius",
    "Experiment",
    "ExperimentReport",
    "Hypothesis",
    "KillPlan",
    "Probe",
    "RunOptions",
    "find_experiment",
    "load_experiment",
    "plan_kill",
    "run",
    "wait_available",
]

_HOME = {
    "Action": "method",
    "BlastRadius": "blast",
    "Experiment": "experiment",
    "ExperimentReport": "engine",
    "Hypothesis": "hypothesis",
    "KillPlan": "pods",
    "Probe": "hypothesis",
    "RunOptions": "engine",
    "find_experiment": "experiment",
    "load_experiment": "experiment",
    "plan_kill": "pods",
    "run": "engine",
    "wait_available": "pods",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
