"""A release on Kubernetes: settings (environment variables) of a Deployment's first
container changed, which the Deployment rolls out as a new revision.

``release: {deployment: api-service, env: {AQUA_DB_POOL_SIZE: "0"}}`` on target kubernetes
patches those variables into the pod template; a value the API rejects at start leaves the
new pods crash-looping and the rollout stuck (with ``maxUnavailable: 0`` the old pods keep
serving). The variables' values before are kept in the annotation
``chaos.aqua.dev/env-before-release`` of the Deployment itself, so any later process can end
the release.

The automatic rollback (``release`` without ``env``) reads that annotation: when the pod
template still carries the release's values it writes the old ones back (a new rollout);
when something else already took it back (``rollout undo`` in a runbook) it only removes the
annotation, and the template is left alone.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from sre_cli.errors import UsageError
from sre_cli.ops.outcome import ActionPlan, Change

if TYPE_CHECKING:
    from sre_cli.ops.providers.kubernetes import KubeTarget

__all__ = ["ENV_KEY", "plan_release", "plan_revert"]

ENV_KEY = "chaos.aqua.dev/env-before-release"


def _container(d: Any) -> Any:
    containers = d.spec.template.spec.containers or []
    if not containers:
        raise UsageError(f"deployment/{d.metadata.name} has no container")
    return containers[0]


def _env(container: Any) -> dict[str, str | None]:
    return {e.name: e.value for e in container.env or [] if e.value_from is None}


def _patch(
    kube: KubeTarget, name: str, container: str, env: dict[str, str | None], keep: str | None
) -> str:
    entries: list[dict[str, Any]] = [
        {"name": k, "value": v} if v is not None else {"name": k, "$patch": "delete"}
        for k, v in sorted(env.items())
    ]
    body: dict[str, Any] = {"metadata": {"annotations": {ENV_KEY: keep}}}
    if entries:
        body["spec"] = {"template": {"spec": {"containers": [{"name": container, "env": entries}]}}}
    kube.patch_deployment(name, body)
    shown = ", ".join(f"{k}={v if v is not None else '(unset)'}" for k, v in sorted(env.items()))
    return f"deployment/{name}: {shown or 'template left as it is'}"


def plan_release(kube: KubeTarget, name: str, env: dict[str, str]) -> ActionPlan:
    """Roll ``env`` out to deployment ``name``; the values before kept on the Deployment."""
    d = kube.deployment(name)
    if ENV_KEY in (d.metadata.annotations or {}):
        raise UsageError(
            f"deployment/{name} already carries a release of a chaos run ({ENV_KEY})",
            hint="end it first: its automatic rollback, or remove the annotation",
        )
    c = _container(d)
    now = _env(c)
    before = {k: now.get(k) for k in env}
    change = Change(
        f"release deployment/{name} ({c.name}) with "
        + ", ".join(f"{k}={v}" for k, v in sorted(env.items())),
        functools.partial(_patch, kube, name, c.name, dict(env), json.dumps(before)),
    )
    return ActionPlan(f"release deployment/{name}", (change,))


def plan_revert(kube: KubeTarget, name: str) -> ActionPlan:
    """Give deployment ``name`` the values it had before the release, if it still runs it."""
    d = kube.deployment(name)
    saved = (d.metadata.annotations or {}).get(ENV_KEY)
    if saved is None:
        return ActionPlan(f"nothing to do: no release of deployment/{name} to end")
    before: dict[str, str | None] = json.loads(saved)
    c = _container(d)
    now = _env(c)
    back = {k: v for k, v in before.items() if now.get(k) != v}
    what = "write its settings back" if back else "already taken back: forget the release"
    change = Change(
        f"deployment/{name}: {what}",
        functools.partial(_patch, kube, name, c.name, back, None),
    )
    return ActionPlan(f"end the release of deployment/{name}", (change,))
