"""The step of a runbook: one operation (:mod:`sre_cli.ops.operations`) plus the modifiers a
runbook adds to it.

A step body is YAML with exactly one operation key plus a few modifiers::

    http: {url: "{entry_url}/ready", expect_status: 200}
    wait: {until: {k8s: {available: deployment/api-service}}, timeout: 90s}
    rollout: {undo: deployment/api-service}
    exec: {command: psql -c "SELECT count(*) FROM pg_stat_activity", component: postgres}
    describe: {deployment: deployment/api-service, component: "api-*"}
    shell: {command: "ss -tn | wc -l", risk: read}     # needs `shell: true` in the front matter
    faults: {clear: true}    # the API's injected faults (stack --faults)
    on_fail: continue        # a check that only triages: record the failure, go on
    target: stack            # restrict a target-neutral step (http, prometheus) to one target
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sre_cli.ops.operations import (
    PROBE_KEYS,
    DescribeOp,
    EscalateOp,
    ExecOp,
    FaultsOp,
    Operation,
    PatchResources,
    ProbeKeys,
    RolloutOp,
    ShellOp,
    TargetName,
    TopOp,
    WaitOp,
    exactly_one,
)

__all__ = ["StepBody"]

_KEYS = (
    *PROBE_KEYS,
    "rollout",
    "patch_resources",
    "exec",
    "top",
    "describe_",
    "shell",
    "wait",
    "escalate",
    "faults",
)


class StepBody(ProbeKeys):
    """The YAML of one fenced step block: a probe key (:class:`ProbeKeys`) or one of these."""

    rollout: RolloutOp | None = None
    #: also spelt ``patch-resources``
    patch_resources: PatchResources | None = Field(default=None, alias="patch-resources")
    exec: ExecOp | None = None
    top: TopOp | None = None
    describe_: DescribeOp | None = Field(default=None, alias="describe")
    shell: ShellOp | None = None
    wait: WaitOp | None = None
    escalate: EscalateOp | None = None
    faults: FaultsOp | None = None
    #: restrict a target-neutral step (http, prometheus) to one target
    target: TargetName | None = None
    #: ``continue``: a failed check is recorded and the run goes on (triage)
    on_fail: Literal["stop", "continue"] = "stop"
    #: what the operator sees instead of the generated description
    title: str | None = None

    @model_validator(mode="after")
    def _one_op(self) -> StepBody:
        exactly_one(self, _KEYS, "a step")
        needed = self.op.target
        if needed is not None and self.target is not None and self.target != needed:
            raise ValueError(
                f"target {self.target} contradicts the operation, which needs {needed}"
            )
        return self

    @property
    def key(self) -> str:
        """The operation's key as the YAML spells it (``describe``, ``patch_resources``)."""
        return exactly_one(self, _KEYS, "a step").rstrip("_")

    @property
    def op(self) -> Operation:
        op: Operation = getattr(self, exactly_one(self, _KEYS, "a step"))
        return op

    @property
    def targets(self) -> frozenset[str]:
        """Targets this step runs on (empty: every target of the runbook)."""
        needed = self.target or self.op.target
        return frozenset({needed}) if needed else frozenset()

    def describe(self) -> str:
        return self.title or self.op.describe()
