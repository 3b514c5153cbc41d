"""The reference stack as supervised processes on one machine, no Docker.

A stack is data: :func:`build_plan` turns :class:`StackOptions` and what the machine has into a
:class:`StackPlan` (components with ports, dependencies and readiness probes, plus what is
degraded or not available). :class:`StackControl` starts it with a background supervisor
(:mod:`.supervisor`) and drives it through the state dir (:class:`StateLayout`)::

    from sre_cli.stack import StackControl, StackOptions, StateLayout, default_state_dir

    ctl = StackControl(StateLayout(default_state_dir()))
    ctl.up(StackOptions(lite=True))
    ctl.request("kill", "api-1")         # the supervisor restarts it with backoff
    ctl.status().to_json()
    ctl.down()

Modules: ``spec`` (ports, specs, state-dir layout), ``plan`` (options -> plan), ``supervisor``,
``runners``/``launch``/``servers`` (how each kind starts), ``probes``, ``state``, ``control``,
``configs`` (nginx, Prometheus, Alertmanager), ``agent`` (alert receiver and health
exporter), ``seed``, ``alerts``, ``render``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sre_cli.stack.control import StackControl, StackStatus
    from sre_cli.stack.plan import MachineEnvironment, StackOptions, build_plan
    from sre_cli.stack.seed import SeedOptions, run_seed
    from sre_cli.stack.spec import (
        ComponentSpec,
        Ports,
        Probe,
        StackPlan,
        StateLayout,
        default_state_dir,
    )

# Resolved on first use: the supervisor and the agent import submodules of this package and
# should not pay for the rest.
_HOMES = {
    "ComponentSpec": "spec",
    "MachineEnvironment": "plan",
    "Ports": "spec",
    "Probe": "spec",
    "SeedOptions": "seed",
    "StackControl": "control",
    "StackOptions": "plan",
    "StackPlan": "spec",
    "StackStatus": "control",
    "StateLayout": "spec",
    "build_plan": "plan",
    "default_state_dir": "spec",
    "run_seed": "seed",
}

__all__ = [
    "ComponentSpec",
    "MachineEnvironment",
    "Ports",
    "Probe",
    "SeedOptions",
    "StackControl",
    "StackOptions",
    "StackPlan",
    "StackStatus",
    "StateLayout",
    "build_plan",
    "default_state_dir",
    "run_seed",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"sre_cli.stack.{home}"), name)
