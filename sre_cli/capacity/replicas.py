"""Replicas needed at the horizon: forecast peak / what one replica sustains, plus one spare.

What one replica sustains comes from a *knee file*, the small JSON document ``aqua loadtest
knee`` writes (any other tool may write it too)::

    {"per_replica_rps": 412.5,                 # required: requests/s one API replica sustains
     "total_rps": 825.0, "replicas": 2,        # optional, shown when present
     "measured_at": "2026-12-06T01:00:00Z"}    # optional; other keys are ignored

The ceiling comes from the HorizontalPodAutoscaler's ``maxReplicas`` in the manifests: a YAML
file or folder, or a kustomize overlay whose JSON patches replace ``/spec/maxReplicas``::

    knee = load_knee(Path("knee.json"))                     # SpecError names file and field
    hpa = max_replicas(Path("manifests/overlays/prod"))     # {"api-service": (20, "...yaml")}
    plan(forecast, knee, hpa)                               # ReplicaPlan: needed vs maxReplicas

Needed = ceil(upper edge of the band at the peak / per-replica rate) + 1 (N+1: one replica may
be lost, or drained for an upgrade, at the peak).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sre_cli.errors import SpecError

if TYPE_CHECKING:
    from sre_cli.capacity.forecast import Forecast

__all__ = ["Knee", "ReplicaPlan", "load_knee", "max_replicas", "plan"]


@dataclass(frozen=True)
class Knee:
    per_replica_rps: float
    source: str


@dataclass(frozen=True)
class ReplicaPlan:
    deployment: str
    forecast: str
    labels: dict[str, str]
    per_replica: float
    peak: float
    peak_upper: float
    needed: int
    needed_likely: int
    max_replicas: int | None
    source: str | None

    @property
    def enough(self) -> bool | None:
        return None if self.max_replicas is None else self.needed <= self.max_replicas


def load_knee(path: Path) -> Knee:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise SpecError(f"cannot read the knee file: {exc.strerror}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"not JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc
    value = data.get("per_replica_rps") if isinstance(data, dict) else None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SpecError(
            "per_replica_rps: must be a positive number (requests/s one replica sustains)",
            path=str(path),
        )
    return Knee(float(value), str(path))


def _documents(path: Path) -> list[tuple[dict[str, Any], str]]:
    import yaml

    files = (
        sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"})
        if path.is_dir()
        else [path]
    )
    out = []
    for file in files:
        try:
            docs = list(yaml.safe_load_all(file.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise SpecError(f"cannot read manifests: {exc}", path=str(file)) from exc
        out += [(d, str(file)) for d in docs if isinstance(d, dict)]
    return out


_Found = dict[str, tuple[int, str, str]]
"""deployment -> (maxReplicas, HPA name, where it was read)"""


def _kustomize(path: Path, seen: set[Path]) -> _Found:
    """HPA maxReplicas of a kustomization folder: its resources, then its JSON patches."""
    import yaml

    if path in seen:
        return {}
    seen.add(path)
    file = path / "kustomization.yaml"
    kustomization = yaml.safe_load(file.read_text()) or {}
    found: _Found = {}
    for resource in kustomization.get("resources", []):
        found.update(_read(path / str(resource), seen))
    for patch in kustomization.get("patches", []):
        target = patch.get("target", {}) if isinstance(patch, dict) else {}
        if target.get("kind") != "HorizontalPodAutoscaler" or "patch" not in patch:
            continue
        ops = yaml.safe_load(patch["patch"])
        for op in ops if isinstance(ops, list) else []:
            if not (
                isinstance(op, dict)
                and op.get("op") in {"replace", "add"}
                and op.get("path") == "/spec/maxReplicas"
                and isinstance(op.get("value"), int)
            ):
                continue
            for deployment, (_, hpa, _) in list(found.items()):
                if target.get("name") in {None, hpa}:
                    found[deployment] = (op["value"], hpa, str(file))
    return found


def _read(path: Path, seen: set[Path]) -> _Found:
    if path.is_dir() and (path / "kustomization.yaml").exists():
        return _kustomize(path.resolve(), seen)
    found: _Found = {}
    for doc, file in _documents(path):
        if doc.get("kind") != "HorizontalPodAutoscaler":
            continue
        spec = doc.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        if isinstance(spec.get("maxReplicas"), int) and ref.get("name"):
            hpa = str((doc.get("metadata") or {}).get("name", ref["name"]))
            found[str(ref["name"])] = (spec["maxReplicas"], hpa, file)
    return found


def max_replicas(path: Path) -> dict[str, tuple[int, str]]:
    """``{deployment: (maxReplicas, where it was read)}`` of every HPA under ``path``."""
    if not path.exists():
        raise SpecError("no such file or folder", path=str(path))
    return {name: (value, where) for name, (value, _, where) in _read(path, set()).items()}


def plan(forecast: Forecast, knee: Knee, hpas: dict[str, tuple[int, str]]) -> ReplicaPlan | None:
    """The replicas ``forecast``'s deployment needs at its peak; None without a peak."""
    deployment = forecast.target.deployment
    if deployment is None or forecast.peak is None or forecast.band is None:
        return None
    upper = max(forecast.peak, forecast.band.upper)
    hpa = hpas.get(deployment)
    return ReplicaPlan(
        deployment=deployment,
        forecast=forecast.target.name,
        labels=forecast.labels,
        per_replica=knee.per_replica_rps,
        peak=forecast.peak,
        peak_upper=upper,
        needed=max(1, math.ceil(upper / knee.per_replica_rps)) + 1,
        needed_likely=max(1, math.ceil(forecast.peak / knee.per_replica_rps)) + 1,
        max_replicas=None if hpa is None else hpa[0],
        source=None if hpa is None else hpa[1],
    )
