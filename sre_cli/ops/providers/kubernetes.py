"""``k8s`` steps: the Kubernetes API in one namespace, with the ``kubernetes`` client.

Only what the ``aqua-operator`` Role grants is used (get deployments, never list; list and
delete pods; read pod logs and events; patch deployments and their scale; list the
ReplicaSets a rollout undo chooses from; read pod metrics). ``exec`` needs ``create`` on
``pods/exec``, which that Role does not grant: run it with credentials that have it. A refusal is a
:class:`ConfigError` carrying the API server's own message ("... is forbidden: User ...
cannot list resource "pods" ... in the namespace ..."); an unreachable server is
:class:`Unavailable`. The client is imported here, and this module only when a run targets a
cluster: ``aqua --help`` never loads it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sre_cli.errors import ConfigError, Unavailable, UsageError
from sre_cli.ops.operations import (
    ExecOp,
    K8sOp,
    PatchResources,
    PodSelection,
    RolloutOp,
    TopOp,
    number,
)
from sre_cli.ops.outcome import ActionPlan, Change, Observation
from sre_cli.ops.providers.command import exec_change, exec_env, exec_observation, usage_row

__all__ = [
    "KubeTarget",
    "age",
    "last_terminations",
    "pod_metrics_rows",
    "pod_ready",
    "pod_state",
    "rollout_state",
]

TIMEOUT_S = 15.0
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
_T = TypeVar("_T")


def pod_ready(pod: Any) -> bool:
    """Running, not being deleted, and its Ready condition is True."""
    if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running":
        return False
    conds = {c.type: c.status for c in pod.status.conditions or []}
    return conds.get("Ready") == "True"


def age(when: dt.datetime | None) -> str:
    if when is None:
        return "?"
    seconds = (dt.datetime.now(dt.UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def pod_state(pod: Any) -> str:
    if pod.metadata.deletion_timestamp is not None:
        return "terminating"
    if pod_ready(pod):
        return "ready"
    conds = {c.type: c for c in pod.status.conditions or []}
    ready = conds.get("Ready")
    why = f", {ready.reason}" if ready is not None and ready.reason else ""
    return f"NOT READY: {pod.status.phase}{why}"


def last_terminations(pod: Any) -> list[tuple[str, Any]]:
    """Each container's last termination (``lastState.terminated``), by container name."""
    return [
        (cs.name, cs.last_state.terminated)
        for cs in pod.status.container_statuses or []
        if cs.last_state is not None and cs.last_state.terminated is not None
    ]


def _pod_row(pod: Any) -> str:
    restarts = sum(s.restart_count or 0 for s in pod.status.container_statuses or [])
    last = "".join(
        f" last={name}:{t.reason or '?'}(exit {t.exit_code}, {age(t.finished_at)} ago)"
        for name, t in last_terminations(pod)
    )
    return (
        f"{pod.metadata.name:<36} {pod_state(pod):<28} node={pod.spec.node_name or '-'} "
        f"restarts={restarts} age={age(pod.metadata.creation_timestamp)}{last}"
    )


def rollout_state(d: Any) -> tuple[bool | None, str]:
    """Whether a Deployment's rollout is complete (True), failed (False: its progress deadline
    passed) or still going (None), with what ``kubectl rollout status`` would say."""
    name = f"deployment/{d.metadata.name}"
    want = d.spec.replicas if d.spec.replicas is not None else 1
    st = d.status
    conds = {c.type: c for c in st.conditions or []}
    progressing = conds.get("Progressing")
    if (st.observed_generation or 0) < (d.metadata.generation or 0):
        return None, f"waiting for the controller to see the new spec of {name}"
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return False, f"{name} exceeded its progress deadline: {progressing.message or ''}"
    updated, total = st.updated_replicas or 0, st.replicas or 0
    available = st.available_replicas or 0
    if updated < want:
        return None, f"{name}: {updated} of {want} updated replicas"
    if total > updated:
        return None, f"{name}: {total - updated} old replica(s) pending termination"
    if available < updated:
        return None, f"{name}: {available} of {updated} updated replicas available"
    return True, f"{name} successfully rolled out ({updated}/{want} updated and available)"


def _images(template: Mapping[str, Any]) -> str:
    containers = template.get("spec", {}).get("containers", [])
    return ", ".join(str(c.get("image")) for c in containers) or "?"


def _quantity(text: str) -> float:
    """``"12Mi"`` -> 12582912.0, ``"250m"`` -> 0.25 (Kubernetes quantities)."""
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(text))  # type: ignore[no-untyped-call]


def pod_metrics_rows(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """Rows of ``metrics.k8s.io/v1beta1`` PodMetrics: per pod, the sum of its containers'
    memory and CPU, then each container."""
    rows: list[str] = []
    for item in sorted(items, key=lambda i: str(i.get("metadata", {}).get("name"))):
        pod = str(item.get("metadata", {}).get("name"))
        usage = [(c.get("name"), c.get("usage", {})) for c in item.get("containers", [])]
        mem = [_quantity(u.get("memory", "0")) for _, u in usage]
        cpu = [_quantity(u.get("cpu", "0")) for _, u in usage]
        rows.append(usage_row(pod, sum(mem), sum(cpu)))
        if len(usage) > 1:
            rows.extend(
                usage_row(f"  {n}", m, c) for (n, _), m, c in zip(usage, mem, cpu, strict=True)
            )
    return rows


class KubeTarget:
    """A namespace of a cluster, reached with a kubeconfig (a token or a client certificate)."""

    def __init__(self, api: Any, namespace: str) -> None:
        from kubernetes import client

        self.api = api
        self.namespace = namespace
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    @classmethod
    def connect(
        cls, kubeconfig: Path | None, namespace: str | None, context: str | None = None
    ) -> KubeTarget:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        path = str(kubeconfig) if kubeconfig else None
        cfg = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=cfg
            )
            _, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
        except (ConfigException, OSError) as exc:
            raise ConfigError(
                f"cannot load the kubeconfig {path or '(default)'}: {exc}",
                hint="pass --kubeconfig FILE, or set KUBECONFIG",
            ) from exc
        cfg.retries = 1
        ns = namespace or (active or {}).get("context", {}).get("namespace") or "default"
        return cls(client.ApiClient(cfg), ns)

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def close(self) -> None:
        self.api.close()

    # -- calls ------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, _request_timeout=TIMEOUT_S, **kwargs)
        except ApiException as exc:
            raise self._api_error(what, exc) from None
        except HTTPError as exc:
            reason = str(getattr(exc, "reason", None) or exc).rsplit(": ", 1)[-1]
            raise Unavailable(
                f"the Kubernetes API at {self.server} did not answer ({what}): {reason}",
                hint="check --kubeconfig and that the API server is reachable",
            ) from None

    def call(self, what: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Any call of the client (``self.core``, ``self.apps``) with this target's timeout,
        its errors turned into aqua's; ``what`` names it in the message."""
        return self._call(what, fn, *args, **kwargs)

    def _api_error(self, what: str, exc: Any) -> ConfigError | Unavailable:
        try:
            message = str(json.loads(exc.body).get("message") or exc.reason)
        except (TypeError, ValueError, AttributeError):
            message = str(exc.reason)
        ns = self.namespace
        if exc.status == 403:
            return ConfigError(
                f"Forbidden: {message}",
                hint=f"these credentials may not {what} in namespace {ns}: check --namespace "
                "and the aqua-operator Role (manifests/base/operator-rbac.yaml)",
            )
        if exc.status == 401:
            return ConfigError(
                f"Unauthorized: the API server rejected the credentials ({what})",
                hint="the token may have expired: `kubectl create token aqua-operator`",
            )
        if exc.status == 404:
            return Unavailable(f"{what}: not found in namespace {ns}: {message}")
        return Unavailable(f"{what}: HTTP {exc.status}: {message}")

    # -- the public API: what chaos and other callers may ask of the namespace ---------------
    def list_pods(self, selector: str) -> list[Any]:
        """The pods matching a label selector, in the API server's order."""
        pods: list[Any] = self._call(
            f"list pods {selector}",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector,
        ).items
        return pods

    def pod(self, name: str) -> Any:
        return self._call(f"get pod {name}", self.core.read_namespaced_pod, name, self.namespace)

    def deployment(self, name: str) -> Any:
        return self._call(
            f"get deployment/{name}", self.apps.read_namespaced_deployment, name, self.namespace
        )

    def replica_set(self, name: str) -> Any:
        return self._call(
            f"get replicaset/{name}",
            self.apps.read_namespaced_replica_set,
            name,
            self.namespace,
        )

    def delete_pod(self, name: str) -> str:
        self._call(f"delete pod {name}", self.core.delete_namespaced_pod, name, self.namespace)
        return f"deleted pod {name}"

    def create_deployment(self, body: Mapping[str, Any]) -> None:
        name = body.get("metadata", {}).get("name", "?")
        self._call(
            f"create deployment/{name}",
            self.apps.create_namespaced_deployment,
            self.namespace,
            dict(body),
        )

    def find_deployment(self, name: str) -> Any | None:
        """The Deployment, or None when the namespace has none of that name."""
        found: Any = self._call(
            f"list deployments named {name}",
            self.apps.list_namespaced_deployment,
            self.namespace,
            field_selector=f"metadata.name={name}",
        )
        return found.items[0] if found.items else None

    def delete_deployment(self, name: str) -> None:
        self._call(
            f"delete deployment/{name}",
            self.apps.delete_namespaced_deployment,
            name,
            self.namespace,
            propagation_policy="Background",
        )

    def patch_deployment(self, name: str, body: object) -> None:
        """A strategic merge patch (a mapping) or a JSON patch (a list) of the Deployment."""
        self._patch(name, body)

    def scale_deployment(self, name: str, replicas: int) -> None:
        self._scale(name, replicas)

    def list_services(self) -> list[Any]:
        found: Any = self._call("list services", self.core.list_namespaced_service, self.namespace)
        return list(found.items)

    def patch_service(self, name: str, body: object) -> None:
        self._call(
            f"patch service/{name}",
            self.core.patch_namespaced_service,
            name,
            self.namespace,
            body,
        )

    def plain(self, obj: Any) -> Any:
        """An API object as the JSON the server speaks (camelCase mappings)."""
        return self.api.sanitize_for_serialization(obj)

    def _pods(self, sel: PodSelection) -> list[Any]:
        pods = sorted(self.list_pods(sel.selector), key=lambda p: p.metadata.name)
        if sel.only == "not_ready":
            pods = [p for p in pods if not pod_ready(p)]
        elif sel.only == "oom_killed":
            pods = [
                p for p in pods if any(t.reason == "OOMKilled" for _, t in last_terminations(p))
            ]
        return pods

    # -- read -------------------------------------------------------------------------------
    def observe(self, op: K8sOp | ExecOp | TopOp) -> Observation:
        if isinstance(op, ExecOp):
            return self._exec(op)
        if isinstance(op, TopOp):
            return self._top(op)
        if op.verb == "available":
            return self._available(op.deployment)
        if op.pods is not None:
            pods = self._pods(op.pods)
            if not pods:
                return Observation(None, f"no {op.pods.describe()}")
            return Observation(
                None, f"{len(pods)} {op.pods.describe()}", tuple(map(_pod_row, pods))
            )
        if op.events is not None:
            return self._events(op.events.for_, op.events.limit)
        if op.logs is not None:
            return self._logs(op)
        raise AssertionError(op.verb)  # pragma: no cover - validated

    def _available(self, name: str) -> Observation:
        d = self.deployment(name)
        want = d.spec.replicas if d.spec.replicas is not None else 1
        st = d.status
        conds = {c.type: c for c in st.conditions or []}
        available = conds.get("Available")
        counts = {
            "available": st.available_replicas or 0,
            "ready": st.ready_replicas or 0,
            "updated": st.updated_replicas or 0,
        }
        # Scaled to 0, Kubernetes calls a Deployment Available (nothing is missing); nothing
        # serves, though, and that is what the check asks.
        ok = (
            want > 0
            and available is not None
            and available.status == "True"
            and all(n >= want for n in counts.values())
            and (st.observed_generation or 0) >= (d.metadata.generation or 0)
        )
        cond = "Available=?" if available is None else f"Available={available.status}"
        if available is not None and available.status != "True" and available.reason:
            cond += f" ({available.reason})"
        if want == 0:
            cond += ", scaled to 0: nothing serves"
        summary = f"deployment/{name}: {counts['available']}/{want} available, {cond}"
        details = tuple(
            f"{c.type}={c.status} {c.reason or ''}: {c.message or ''}".rstrip(": ")
            for c in conds.values()
        )
        return Observation(ok, summary, details)

    def event_lines(self, related: Callable[[str], bool], limit: int) -> tuple[str, ...]:
        """The latest ``limit`` events of the objects whose name ``related`` accepts, oldest
        first, one line each (age, type, reason, object, message)."""
        items = self._call("list events", self.core.list_namespaced_event, self.namespace).items

        def when(e: Any) -> dt.datetime:
            stamp = e.last_timestamp or e.event_time or e.metadata.creation_timestamp
            return stamp or dt.datetime.min.replace(tzinfo=dt.UTC)

        found = [e for e in items if related(e.involved_object.name or "")]
        chosen = sorted(found, key=when)[-limit:] if limit else []
        return tuple(
            f"{age(when(e)):>5} {e.type or '':<7} {e.reason or '':<22} "
            f"{(e.involved_object.kind or '').lower()}/{e.involved_object.name}: "
            f"{(e.message or '').strip()}" + (f" (x{e.count})" if (e.count or 1) > 1 else "")
            for e in chosen
        )

    def _events(self, ref: str, limit: int) -> Observation:
        name = ref.split("/", 1)[-1]
        lines = self.event_lines(lambda obj: obj == name or obj.startswith(f"{name}-"), limit)
        return Observation(None, f"{len(lines)} event(s) of {name} and its pods", lines)

    def _logs(self, op: K8sOp) -> Observation:
        assert op.logs is not None
        pods = self._pods(op.logs)
        if not pods:
            return Observation(None, f"no {op.logs.describe()}: no logs to show")
        lines: list[str] = []
        for pod in pods:
            name = pod.metadata.name
            lines.append(f"── {name} ({pod_state(pod)}): last {op.logs.lines} lines")
            try:
                text = self._call(
                    f"read the log of pod {name}",
                    self.core.read_namespaced_pod_log,
                    name,
                    self.namespace,
                    tail_lines=number(op.logs.lines),
                    container=op.logs.container,
                )
            except (ConfigError, Unavailable) as exc:
                lines.append(f"   (log not available: {exc.message})")
                continue
            lines.extend(str(text).splitlines() or ["   (empty)"])
        return Observation(None, f"logs of {len(pods)} pod(s)", tuple(lines))

    def rollout_status(self, op: RolloutOp) -> Observation:
        """The rollout's state now; a run polls it until it completes (``op.timeout``)."""
        if op.verb != "status":
            raise UsageError(f"{op.describe()} is an action, not a check")
        d = self.deployment(op.deployment)
        done, summary = rollout_state(d)
        return Observation(done is True, summary, (f"image(s): {self._template_images(d)}",))

    def _template_images(self, d: Any) -> str:
        return _images(self.api.sanitize_for_serialization(d.spec.template))

    def _top(self, op: TopOp) -> Observation:
        from kubernetes import client

        if op.selector is None:
            raise UsageError(
                f"{op.describe()}: the step names no pods", hint="add selector: app=NAME"
            )
        try:
            found: Any = self._call(
                f"get pod metrics {op.selector}",
                client.CustomObjectsApi(self.api).list_namespaced_custom_object,
                "metrics.k8s.io",
                "v1beta1",
                self.namespace,
                "pods",
                label_selector=op.selector,
            )
        except Unavailable as exc:
            raise Unavailable(
                f"no pod metrics: {exc.message}",
                hint="the metrics API comes from metrics-server (`kubectl top pods` needs it too)",
            ) from None
        rows = pod_metrics_rows(found.get("items", []))
        if not rows:
            return Observation(None, f"no pod metrics for {op.selector} yet")
        return Observation(None, f"memory and CPU of pods {op.selector}", tuple(rows))

    def _exec_pod(self, op: ExecOp) -> str:
        if op.selector is None:
            raise UsageError(
                f"{op.describe()}: the step names no pods", hint="add selector: app=NAME"
            )
        pods = sorted(
            self.list_pods(op.selector), key=lambda p: (not pod_ready(p), p.metadata.name)
        )
        if not pods:
            raise Unavailable(f"no pod matches {op.selector} in namespace {self.namespace}")
        return str(pods[0].metadata.name)

    def _exec(self, op: ExecOp, pod: str | None = None) -> Observation:
        from kubernetes.stream import stream

        name = pod or self._exec_pod(op)
        env = [f"{k}={v}" for k, v in exec_env(op).items()]
        argv = ["env", *env, *op.command] if env else list(op.command)
        resp: Any = self._call(
            f"exec in pod {name}",
            functools.partial(stream, self.core.connect_get_namespaced_pod_exec),
            name,
            self.namespace,
            command=argv,
            container=op.container,
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        out: list[str] = []
        deadline = time.monotonic() + op.timeout
        while resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=1)
            out.append(resp.read_stdout() or "")
            out.append(resp.read_stderr() or "")
        code = resp.returncode if not resp.is_open() else None
        resp.close()
        return exec_observation(op, f"pod {name}", code, "".join(out))

    def plan_exec(self, op: ExecOp) -> ActionPlan:
        name = self._exec_pod(op)
        change = exec_change(op, f"pod {name}", functools.partial(self._exec, op, name))
        return ActionPlan(change.summary, (change,))

    # -- act --------------------------------------------------------------------------------
    def plan_action(self, op: K8sOp | RolloutOp | PatchResources) -> ActionPlan:
        if isinstance(op, RolloutOp):
            return self._plan_rollout(op)
        if isinstance(op, PatchResources):
            return self._plan_resources(op)
        if op.delete_pods is not None:
            spec = op.delete_pods
            pods = [p for p in self._pods(spec) if p.metadata.deletion_timestamp is None]
            if not pods:
                return ActionPlan(f"nothing to do: no {spec.describe()}")
            pods.sort(key=lambda p: (pod_ready(p), p.metadata.name))
            most = number(spec.max)
            chosen, left = pods[:most], pods[most:]
            changes = tuple(
                Change(
                    f"delete pod {p.metadata.name} ({pod_state(p)})",
                    functools.partial(self.delete_pod, p.metadata.name),
                )
                for p in chosen
            )
            details = (f"{len(left)} more left alone (max {most})",) if left else ()
            return ActionPlan(f"delete {len(chosen)} pod(s)", changes, details)
        if op.rollout_restart is not None:
            return self._plan_restart(op.deployment)
        if op.scale is not None:
            name, want = op.scale.deployment, number(op.scale.replicas)
            scale: Any = self._call(
                f"get deployment/{name} scale",
                self.apps.read_namespaced_deployment_scale,
                name,
                self.namespace,
            )
            now = scale.spec.replicas or 0
            if now == want or (op.scale.at_least and now >= want):
                return ActionPlan(f"nothing to do: deployment/{name} has {now} replicas")
            change = Change(
                f"scale deployment/{name} from {now} to {want}",
                functools.partial(self._scale, name, want),
            )
            return ActionPlan(f"scale deployment/{name}", (change,))
        raise AssertionError(op.verb)  # pragma: no cover - validated

    def _restart(self, name: str) -> str:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._patch(
            name, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        )
        return f"deployment/{name} restarted at {stamp}"

    def _patch(self, name: str, body: object) -> None:
        """A strategic merge patch (a mapping) or a JSON patch (a list) of the Deployment."""
        self._call(
            f"patch deployment/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            self.namespace,
            body,
        )

    def _scale(self, name: str, replicas: int) -> str:
        self._call(
            f"scale deployment/{name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            self.namespace,
            {"spec": {"replicas": replicas}},
        )
        return f"deployment/{name} scaled to {replicas}"

    def _plan_restart(self, name: str) -> ActionPlan:
        d = self.deployment(name)
        now = f"{d.status.ready_replicas or 0}/{d.spec.replicas} ready"
        change = Change(
            f"rollout restart deployment/{name} ({now})", functools.partial(self._restart, name)
        )
        return ActionPlan(f"restart every pod of deployment/{name}, rolling", (change,))

    # -- rollout undo, resources ------------------------------------------------------------------
    def _plan_rollout(self, op: RolloutOp) -> ActionPlan:
        if op.verb == "restart":
            return self._plan_restart(op.deployment)
        if op.verb != "undo":
            raise UsageError(f"{op.describe()} is a check, not an action")
        name = op.deployment
        d = self.deployment(name)
        current = int((d.metadata.annotations or {}).get(REVISION, "0"))
        history = self._revisions(d)
        if op.to_revision is not None:
            want = number(op.to_revision)
            if want not in history:
                known = ", ".join(map(str, sorted(history))) or "none"
                raise UsageError(
                    f"deployment/{name} has no revision {want}", hint=f"revisions: {known}"
                )
        else:
            older = [r for r in history if r < current]
            if not older:
                return ActionPlan(f"nothing to do: deployment/{name} has no earlier revision")
            want = max(older)
        template = history[want]
        now = self.api.sanitize_for_serialization(d.spec.template)
        if template == now:
            return ActionPlan(f"nothing to do: deployment/{name} already runs revision {want}")
        change = Change(
            f"roll deployment/{name} back from revision {current} ({_images(now)}) "
            f"to revision {want} ({_images(template)})",
            functools.partial(self._set_template, name, template, want),
        )
        details = tuple(f"revision {r}: {_images(t)}" for r, t in sorted(history.items()))
        return ActionPlan(f"rollout undo deployment/{name}", (change,), details)

    def _revisions(self, d: Any) -> dict[int, dict[str, Any]]:
        """The pod templates of the Deployment's ReplicaSets by revision, without the
        ``pod-template-hash`` label the controller adds."""
        labels = d.spec.selector.match_labels or {}
        found: Any = self._call(
            "list replicasets",
            self.apps.list_namespaced_replica_set,
            self.namespace,
            label_selector=",".join(f"{k}={v}" for k, v in labels.items()),
        )
        out: dict[int, dict[str, Any]] = {}
        for rs in found.items:
            owners = rs.metadata.owner_references or []
            revision = (rs.metadata.annotations or {}).get(REVISION)
            if revision is None or not any(o.uid == d.metadata.uid for o in owners):
                continue
            template: dict[str, Any] = self.api.sanitize_for_serialization(rs.spec.template)
            meta_labels = template.get("metadata", {}).get("labels", {})
            meta_labels.pop("pod-template-hash", None)
            out[int(revision)] = template
        return out

    def _set_template(self, name: str, template: dict[str, Any], revision: int) -> str:
        self._patch(name, [{"op": "replace", "path": "/spec/template", "value": template}])
        return f"deployment/{name} rolled back to revision {revision} ({_images(template)})"

    def _plan_resources(self, op: PatchResources) -> ActionPlan:
        name = op.deployment
        d = self.deployment(name)
        containers = d.spec.template.spec.containers or []
        names = [c.name for c in containers]
        chosen = next((c for c in containers if c.name == op.container), None)
        if op.container is None and containers:
            chosen = containers[0]
        if chosen is None:
            raise UsageError(
                f"deployment/{name} has no container {op.container}",
                hint=f"containers: {', '.join(names)}",
            )
        res = chosen.resources
        have = {
            "requests": (res.requests if res else None) or {},
            "limits": (res.limits if res else None) or {},
        }
        moves = [
            f"{kind}.{r}: {have[kind].get(r, 'unset')} -> {q}"
            for kind, items in op.wanted().items()
            for r, q in items.items()
            if str(have[kind].get(r)) != q
        ]
        if not moves:
            return ActionPlan(f"nothing to do: container {chosen.name} already has these resources")
        change = Change(
            f"set container {chosen.name} of deployment/{name}: {', '.join(moves)}",
            functools.partial(self._patch_resources, name, chosen.name, op.wanted()),
        )
        return ActionPlan(f"patch the resources of deployment/{name} (pods roll)", (change,))

    def _patch_resources(self, name: str, container: str, wanted: dict[str, dict[str, str]]) -> str:
        # strategic merge: containers merge by name, the other containers are left alone
        containers = [{"name": container, "resources": wanted}]
        self._patch(name, {"spec": {"template": {"spec": {"containers": containers}}}})
        return f"deployment/{name} container {container} resources set"
