"""``k8s`` steps: the Kubernetes API in one namespace, with the ``kubernetes`` client.

Only what the ``aqua-operator`` Role grants is used (get deployments, never list; list and
delete pods; read pod logs and events; patch deployments and their scale). A refusal is a
:class:`ConfigError` carrying the API server's own message ("... is forbidden: User ...
cannot list resource "pods" ... in the namespace ..."); an unreachable server is
:class:`Unavailable`. The client is imported here, and this module only when a run targets a
cluster: ``aqua --help`` never loads it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sre_cli.errors import ConfigError, Unavailable
from sre_cli.ops.operations import K8sOp, PodSelection, number
from sre_cli.ops.outcome import ActionPlan, Change, Observation

__all__ = ["KubeTarget", "pod_ready"]

TIMEOUT_S = 15.0
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_T = TypeVar("_T")


def pod_ready(pod: Any) -> bool:
    """Running, not being deleted, and its Ready condition is True."""
    if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running":
        return False
    conds = {c.type: c.status for c in pod.status.conditions or []}
    return conds.get("Ready") == "True"


def _age(when: dt.datetime | None) -> str:
    if when is None:
        return "?"
    seconds = (dt.datetime.now(dt.UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _pod_state(pod: Any) -> str:
    if pod.metadata.deletion_timestamp is not None:
        return "terminating"
    if pod_ready(pod):
        return "ready"
    conds = {c.type: c for c in pod.status.conditions or []}
    ready = conds.get("Ready")
    why = f", {ready.reason}" if ready is not None and ready.reason else ""
    return f"NOT READY: {pod.status.phase}{why}"


def _pod_row(pod: Any) -> str:
    restarts = sum(s.restart_count or 0 for s in pod.status.container_statuses or [])
    return (
        f"{pod.metadata.name:<36} {_pod_state(pod):<28} node={pod.spec.node_name or '-'} "
        f"restarts={restarts} age={_age(pod.metadata.creation_timestamp)}"
    )


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

    def _pods(self, sel: PodSelection) -> list[Any]:
        pods = sorted(self.list_pods(sel.selector), key=lambda p: p.metadata.name)
        if sel.only == "not_ready":
            pods = [p for p in pods if not pod_ready(p)]
        return pods

    # -- read -------------------------------------------------------------------------------
    def observe(self, op: K8sOp) -> Observation:
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
        ok = (
            available is not None
            and available.status == "True"
            and all(n >= want for n in counts.values())
            and (st.observed_generation or 0) >= (d.metadata.generation or 0)
        )
        cond = "Available=?" if available is None else f"Available={available.status}"
        if available is not None and available.status != "True" and available.reason:
            cond += f" ({available.reason})"
        summary = f"deployment/{name}: {counts['available']}/{want} available, {cond}"
        details = tuple(
            f"{c.type}={c.status} {c.reason or ''}: {c.message or ''}".rstrip(": ")
            for c in conds.values()
        )
        return Observation(ok, summary, details)

    def _events(self, ref: str, limit: int) -> Observation:
        name = ref.split("/", 1)[-1]
        items = self._call("list events", self.core.list_namespaced_event, self.namespace).items

        def related(e: Any) -> bool:
            obj = e.involved_object.name or ""
            return obj == name or obj.startswith(f"{name}-")

        def when(e: Any) -> dt.datetime:
            stamp = e.last_timestamp or e.event_time or e.metadata.creation_timestamp
            return stamp or dt.datetime.min.replace(tzinfo=dt.UTC)

        chosen = sorted(filter(related, items), key=when)[-limit:]
        lines = tuple(
            f"{_age(when(e)):>5} {e.type or '':<7} {e.reason or '':<22} "
            f"{(e.involved_object.kind or '').lower()}/{e.involved_object.name}: "
            f"{(e.message or '').strip()}" + (f" (x{e.count})" if (e.count or 1) > 1 else "")
            for e in chosen
        )
        return Observation(None, f"{len(lines)} event(s) of {name} and its pods", lines)

    def _logs(self, op: K8sOp) -> Observation:
        assert op.logs is not None
        pods = self._pods(op.logs)
        if not pods:
            return Observation(None, f"no {op.logs.describe()}: no logs to show")
        lines: list[str] = []
        for pod in pods:
            name = pod.metadata.name
            lines.append(f"── {name} ({_pod_state(pod)}): last {op.logs.lines} lines")
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

    # -- act --------------------------------------------------------------------------------
    def plan_action(self, op: K8sOp) -> ActionPlan:
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
                    f"delete pod {p.metadata.name} ({_pod_state(p)})",
                    functools.partial(self.delete_pod, p.metadata.name),
                )
                for p in chosen
            )
            details = (f"{len(left)} more left alone (max {most})",) if left else ()
            return ActionPlan(f"delete {len(chosen)} pod(s)", changes, details)
        if op.rollout_restart is not None:
            name = op.deployment
            d = self.deployment(name)
            now = f"{d.status.ready_replicas or 0}/{d.spec.replicas} ready"
            change = Change(
                f"rollout restart deployment/{name} ({now})",
                functools.partial(self._restart, name),
            )
            return ActionPlan(f"restart every pod of deployment/{name}, rolling", (change,))
        if op.scale is not None:
            name, want = op.scale.deployment, number(op.scale.replicas)
            scale: Any = self._call(
                f"get deployment/{name} scale",
                self.apps.read_namespaced_deployment_scale,
                name,
                self.namespace,
            )
            if scale.spec.replicas == want:
                return ActionPlan(f"nothing to do: deployment/{name} has {want} replicas")
            change = Change(
                f"scale deployment/{name} from {scale.spec.replicas} to {want}",
                functools.partial(self._scale, name, want),
            )
            return ActionPlan(f"scale deployment/{name}", (change,))
        raise AssertionError(op.verb)  # pragma: no cover - validated

    def _restart(self, name: str) -> str:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        self._call(
            f"patch deployment/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            self.namespace,
            body,
        )
        return f"deployment/{name} restarted at {stamp}"

    def _scale(self, name: str, replicas: int) -> str:
        self._call(
            f"scale deployment/{name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            self.namespace,
            {"spec": {"replicas": replicas}},
        )
        return f"deployment/{name} scaled to {replicas}"
