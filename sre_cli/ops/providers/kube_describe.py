"""``describe`` on Kubernetes: a pod or a Deployment as ``kubectl describe`` shows it.

A pod: node, IP, phase and readiness, labels, conditions, then per container its image, state
(running since, waiting and why, terminated with reason and exit code), last state (an
``OOMKilled`` shows here after the restart), readiness, restarts and resources; then the
pod's events. A Deployment: its replica counts, strategy, selector, revision and images,
conditions, and the events of it and of its ReplicaSets and pods. Reads only (get, list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sre_cli.ops.operations import DescribeOp
from sre_cli.ops.outcome import Observation
from sre_cli.ops.providers.kubernetes import REVISION, age, pod_state

if TYPE_CHECKING:
    from sre_cli.ops.providers.kubernetes import KubeTarget

__all__ = ["container_state", "describe"]

#: pods described per step at most (a selector may match hundreds)
MAX_PODS = 10


def container_state(state: Any) -> str:
    """``running since 5m``, ``waiting: CrashLoopBackOff (back-off 10s ...)``,
    ``terminated: OOMKilled, exit 137, 2m ago``; ``-`` for none."""
    if state is None:
        return "-"
    if state.running is not None:
        return f"running since {age(state.running.started_at)}"
    if state.waiting is not None:
        w = state.waiting
        return f"waiting: {w.reason or '?'}" + (f" ({w.message})" if w.message else "")
    if state.terminated is not None:
        t = state.terminated
        signal = f", signal {t.signal}" if t.signal else ""
        message = f" ({t.message.strip()})" if t.message else ""
        return (
            f"terminated: {t.reason or '?'}, exit {t.exit_code}{signal}, "
            f"{age(t.finished_at)} ago{message}"
        )
    return "-"


def _quantities(values: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((values or {}).items())) or "-"


def _conditions(conds: list[Any] | None) -> str:
    return ", ".join(
        f"{c.type}={c.status}" + (f" ({c.reason})" if c.reason else "") for c in conds or []
    )


def _pod(target: KubeTarget, pod: Any, events: int) -> list[str]:
    meta, spec, st = pod.metadata, pod.spec, pod.status
    labels = ", ".join(f"{k}={v}" for k, v in sorted((meta.labels or {}).items())) or "-"
    lines = [
        f"── pod {meta.name} (namespace {meta.namespace})",
        f"   node: {spec.node_name or '-'}   ip: {st.pod_ip or '-'}   "
        f"created: {age(meta.creation_timestamp)} ago",
        f"   status: {st.phase}; {pod_state(pod)}" + (f" ({st.reason})" if st.reason else ""),
        f"   labels: {labels}",
        f"   conditions: {_conditions(st.conditions) or '-'}",
    ]
    statuses = {s.name: s for s in st.container_statuses or []}
    for c in spec.containers or []:
        cs = statuses.get(c.name)
        res = c.resources
        lines += [
            f"   container {c.name}: image {c.image}",
            f"      state: {container_state(cs.state if cs else None)}",
            f"      last state: {container_state(cs.last_state if cs else None)}",
            f"      ready: {'yes' if cs and cs.ready else 'no'}, "
            f"restarts: {cs.restart_count if cs else 0}",
            f"      requests: {_quantities(res.requests if res else None)}; "
            f"limits: {_quantities(res.limits if res else None)}",
        ]
    if events:
        found = target.event_lines(lambda obj: obj == meta.name, events)
        lines.append(f"   events: {'' if found else '(none)'}".rstrip())
        lines += [f"     {e}" for e in found]
    return lines


def _deployment(target: KubeTarget, name: str, events: int) -> list[str]:
    d = target.deployment(name)
    spec, st = d.spec, d.status
    want = spec.replicas if spec.replicas is not None else 1
    strategy = spec.strategy.type if spec.strategy else "?"
    rolling = spec.strategy.rolling_update if spec.strategy else None
    if rolling is not None:
        strategy += f" (max unavailable {rolling.max_unavailable}, max surge {rolling.max_surge})"
    selector = ", ".join(f"{k}={v}" for k, v in (spec.selector.match_labels or {}).items())
    images = ", ".join(f"{c.name}={c.image}" for c in spec.template.spec.containers or [])
    revision = (d.metadata.annotations or {}).get(REVISION, "?")
    lines = [
        f"── deployment/{name} (namespace {d.metadata.namespace})",
        f"   replicas: {want} desired | {st.updated_replicas or 0} updated | "
        f"{st.replicas or 0} total | {st.available_replicas or 0} available | "
        f"{st.unavailable_replicas or 0} unavailable",
        f"   strategy: {strategy}",
        f"   selector: {selector or '-'}",
        f"   revision: {revision}; images: {images or '-'}",
        f"   conditions: {_conditions(st.conditions) or '-'}",
    ]
    if events:
        found = target.event_lines(lambda obj: obj == name or obj.startswith(f"{name}-"), events)
        lines.append(f"   events: {'' if found else '(none)'}".rstrip())
        lines += [f"     {e}" for e in found]
    return lines


def describe(target: KubeTarget, op: DescribeOp) -> Observation:
    from sre_cli.errors import UsageError

    if not (op.deployment or op.pod or op.selector):
        raise UsageError(
            f"{op.describe()}: the step names nothing of Kubernetes",
            hint="add deployment: deployment/NAME, pod: NAME or selector: app=NAME",
        )
    lines: list[str] = []
    what: list[str] = []
    if op.deployment:
        name = op.deployment.split("/", 1)[1]
        lines += _deployment(target, name, op.events)
        what.append(f"deployment/{name}")
    pods: list[Any] = []
    if op.pod:
        pods.append(target.pod(op.pod))
    if op.selector:
        found = sorted(target.list_pods(op.selector), key=lambda p: p.metadata.name)
        if not found:
            lines.append(f"── no pod matches {op.selector} in namespace {target.namespace}")
        pods += found
    shown = pods[:MAX_PODS]
    for pod in shown:
        lines += _pod(target, pod, op.events)
    if len(pods) > MAX_PODS:
        lines.append(f"... {len(pods) - MAX_PODS} more pod(s) not described")
    if op.pod or op.selector:
        what.append(f"{len(pods)} pod(s)")
    return Observation(None, f"described {' and '.join(what)}", tuple(lines))
