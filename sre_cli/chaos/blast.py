"""Blast radius: how much an experiment may break, checked before anything is touched.

Limits are data in the experiment (``blast_radius:``) or options of ``aqua chaos kill-pod``::

    blast_radius: {max_pods: 1, max_percent: 34, namespaces: [aquaculture-prod]}

Whatever the limits say, a ``kube-*`` namespace is refused, and a deletion that would leave
a Deployment without one Ready pod is refused.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sre_cli.errors import UsageError

__all__ = ["BlastRadius", "allowed_count", "check_namespace"]

_PROTECTED = ("kube-system", "kube-public", "kube-node-lease")


def _protected(namespace: str) -> bool:
    return namespace in _PROTECTED or namespace.startswith("kube-")


class BlastRadius(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: pods (or stack components) one action may take down
    max_pods: int = Field(default=1, ge=1, le=50)
    #: share of a Deployment's replicas one action may take down
    max_percent: float = Field(default=50.0, gt=0, le=100)
    #: namespaces pod actions may touch (never a kube-* namespace)
    namespaces: tuple[str, ...] = ("aquaculture-prod",)

    @field_validator("namespaces")
    @classmethod
    def _no_system(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ns in value:
            if _protected(ns):
                raise ValueError(f"namespace {ns} is never a chaos target")
        return value


def check_namespace(namespace: str, radius: BlastRadius | None) -> None:
    """Refuse a ``kube-*`` namespace, and one outside the allow-list when there is one."""
    if _protected(namespace):
        raise UsageError(
            f"refusing to inject faults into namespace {namespace}: the cluster's own",
            hint="chaos experiments target application namespaces only",
        )
    if radius is not None and namespace not in radius.namespaces:
        raise UsageError(
            f"namespace {namespace} is outside the blast radius "
            f"(allowed: {', '.join(radius.namespaces)})"
        )


def allowed_count(requested: int, replicas: int, ready: int, radius: BlastRadius) -> int:
    """``requested`` if within the limits; :class:`UsageError` naming the limit otherwise."""
    by_percent = math.floor(replicas * radius.max_percent / 100)
    limits = (
        (radius.max_pods, f"max_pods is {radius.max_pods}"),
        (by_percent, f"max_percent {radius.max_percent:g}% of {replicas} replicas is {by_percent}"),
        (ready - 1, f"{ready} pod(s) are Ready and one must stay Ready"),
    )
    for most, why in limits:
        if requested > most:
            raise UsageError(
                f"refusing to delete {requested} pod(s): outside the blast radius ({why})"
            )
    return requested
