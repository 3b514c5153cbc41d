"""The plan of a rollout: steps, the replica counts that give each step's weight, limits.

Traffic is split by replica ratio behind one Service: with ``S`` stable replicas a step of
weight ``w`` % runs ``c = ceil(S·w / (100 − w))`` canary replicas (at least one), so the canary
gets ``c / (S + c)`` of the connections, the nearest share at or above the weight that whole
pods allow. Step 100 is the promotion: the stable Deployment takes the canary's pod template
(a rolling update) and the canary goes away::

    plan = RolloutPlan.build("api-service", "img:2", steps=[10, 25, 50, 100], stable=2, ...)
    [s.canary_replicas for s in plan.steps]      # [1, 1, 2, 0]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sre_cli.errors import UsageError

if TYPE_CHECKING:
    from sre_cli.rollout.preview import PreviewSpec

__all__ = ["Limits", "RolloutPlan", "Step", "canary_replicas", "parse_env", "parse_steps"]

Strategy = Literal["canary", "blue-green"]


def parse_steps(text: str) -> list[int]:
    """``"10,25,50,100"`` -> ``[10, 25, 50, 100]``: rising percentages ending at 100."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--steps {text!r}: whole percentages separated by commas", hint="e.g. 10,25,50,100"
        ) from None
    if not steps:
        raise UsageError("--steps is empty", hint="e.g. 10,25,50,100")
    if any(not 0 < s <= 100 for s in steps):
        raise UsageError(f"--steps {text!r}: each step is a percentage from 1 to 100")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise UsageError(f"--steps {text!r}: steps must rise")
    if steps[-1] != 100:
        raise UsageError(
            f"--steps {text!r}: the last step must be 100 (the promotion)",
            hint=f"--steps {','.join(map(str, [*steps, 100]))}",
        )
    return steps


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``["KEY=value", ...]`` -> mapping; a pair without ``=`` or with a bad name is an error."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not (name[0].isalpha() or name[0] == "_"):
            raise UsageError(f"--env {pair!r}: expected NAME=VALUE")
        if not all(c.isalnum() or c in "_.-" for c in name):
            raise UsageError(f"--env {pair!r}: {name!r} is not a valid variable name")
        out[name] = value
    return out


def canary_replicas(weight: int, stable: int) -> int:
    """Canary replicas for ``weight`` % beside ``stable`` replicas (0 at 100: promotion)."""
    if weight >= 100:
        return 0
    return max(1, math.ceil(stable * weight / (100 - weight)))


@dataclass(frozen=True)
class Step:
    index: int
    weight: int
    canary_replicas: int
    stable_replicas: int

    @property
    def promotion(self) -> bool:
        return self.weight >= 100

    @property
    def effective_weight(self) -> float:
        """The canary's share of the Ready pods, in percent."""
        if self.promotion:
            return 100.0
        return 100.0 * self.canary_replicas / (self.canary_replicas + self.stable_replicas)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "weight": self.weight,
            "effective_weight": round(self.effective_weight, 2),
            "canary_replicas": self.canary_replicas,
            "stable_replicas": self.stable_replicas,
            "promotion": self.promotion,
        }


@dataclass(frozen=True)
class Limits:
    """When a step fails: the canary's burn rate over the step's window above
    ``max_burn_rate``, or above the stable pods' by more than ``margin``; a step needs
    ``min_requests`` canary events in its window to pass (fewer: inconclusive, aborted)."""

    max_burn_rate: float = 10.0
    margin: float = 2.0
    min_requests: int = 50

    def to_json(self) -> dict[str, Any]:
        return {
            "max_burn_rate": self.max_burn_rate,
            "margin": self.margin,
            "min_requests": self.min_requests,
        }


@dataclass(frozen=True)
class RolloutPlan:
    strategy: Strategy
    namespace: str
    deployment: str
    image: str
    container: str
    current_image: str
    env: dict[str, str]
    interval_s: float
    check_every_s: float
    slos: list[str]
    limits: Limits
    steps: list[Step] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    #: blue-green: the synthetic load green is judged on before the switch
    preview: PreviewSpec | None = None

    @property
    def canary_name(self) -> str:
        suffix = "green" if self.strategy == "blue-green" else "canary"
        return f"{self.deployment}-{suffix}"

    @classmethod
    def build(
        cls,
        strategy: Strategy,
        *,
        namespace: str,
        deployment: str,
        image: str,
        container: str,
        current_image: str,
        env: dict[str, str],
        weights: list[int],
        stable: int,
        interval_s: float,
        check_every_s: float,
        slos: list[str],
        limits: Limits,
        services: list[str],
        preview: PreviewSpec | None = None,
    ) -> RolloutPlan:
        if stable < 1:
            raise UsageError(
                f"deployment/{deployment} has no replicas to compare against",
                hint=f"kubectl scale deployment/{deployment} --replicas=2",
            )
        if strategy == "blue-green":
            steps = [Step(1, 100, stable, stable)]
        elif len(weights) < 2:
            raise UsageError(
                "a canary needs a step below 100 to be judged before the promotion",
                hint="--steps 10,25,50,100",
            )
        else:
            steps = [
                Step(i, w, canary_replicas(w, stable), stable) for i, w in enumerate(weights, 1)
            ]
        return cls(
            strategy=strategy,
            namespace=namespace,
            deployment=deployment,
            image=image,
            container=container,
            current_image=current_image,
            env=dict(env),
            interval_s=interval_s,
            check_every_s=check_every_s,
            slos=slos,
            limits=limits,
            steps=steps,
            services=services,
            preview=preview if strategy == "blue-green" else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "namespace": self.namespace,
            "deployment": self.deployment,
            "canary": self.canary_name,
            "container": self.container,
            "image": {"from": self.current_image, "to": self.image},
            "env": sorted(self.env),
            "interval_s": self.interval_s,
            "check_every_s": self.check_every_s,
            "slos": list(self.slos),
            "limits": self.limits.to_json(),
            "services": list(self.services),
            "preview": None if self.preview is None else self.preview.to_json(),
            "steps": [s.to_json() for s in self.steps],
        }
