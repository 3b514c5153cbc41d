"""Pod templates and Deployments derived from the stable Deployment.

The canary (or green) runs the stable pod template with the new image and extra environment,
and a ``track`` label of its own, so Prometheus (which copies the pod's ``track`` label onto
every series it scrapes from it) tells its requests apart. Its selector is the stable one plus
``track``; the Services select on the stable labels without ``track``, so they route to both::

    body = track_deployment(stable, plan, track="canary", replicas=1)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from sre_cli.errors import UsageError

if TYPE_CHECKING:
    from sre_cli.rollout.plan import RolloutPlan

__all__ = [
    "ROLLOUT_OF",
    "TRACK",
    "container_image",
    "pod_labels",
    "track_deployment",
    "track_template",
]

TRACK = "track"
#: annotation on a canary/green Deployment naming the Deployment it belongs to
ROLLOUT_OF = "aqua.io/rollout-of"


def _containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = template.get("spec", {}).get("containers") or []
    return containers


def pick_container(stable: dict[str, Any], name: str | None) -> str:
    """``name``, checked, or the only/first container of the stable pod template."""
    names = [str(c.get("name")) for c in _containers(stable["spec"]["template"])]
    if not names:
        raise UsageError(f"deployment/{stable['metadata']['name']} has no containers")
    if name is None:
        return names[0]
    if name not in names:
        raise UsageError(f"no container {name!r} in the pod template", hint=", ".join(names))
    return name


def container_image(stable: dict[str, Any], container: str) -> str:
    for c in _containers(stable["spec"]["template"]):
        if c.get("name") == container:
            return str(c.get("image", ""))
    raise UsageError(f"no container {container!r} in the pod template")


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"].get("metadata", {}).get("labels") or {}
    return {k: v for k, v in labels.items() if k != "pod-template-hash"}


def track_template(stable: dict[str, Any], plan: RolloutPlan, track: str) -> dict[str, Any]:
    """The stable pod template with the plan's image and env, labelled ``track``.

    Init containers that ran the container's old image (the schema migration) run the new
    one too: a release's migrations run before its pods start."""
    template: dict[str, Any] = copy.deepcopy(stable["spec"]["template"])
    meta = template.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    labels.pop("pod-template-hash", None)
    labels[TRACK] = track
    old = container_image(stable, plan.container)
    for init in template.get("spec", {}).get("initContainers") or []:
        if init.get("image") == old:
            init["image"] = plan.image
    for c in _containers(template):
        if c.get("name") != plan.container:
            continue
        c["image"] = plan.image
        env: list[dict[str, Any]] = c.setdefault("env", [])
        for name, value in plan.env.items():
            env[:] = [e for e in env if e.get("name") != name]
            env.append({"name": name, "value": value})
    return template


def track_deployment(
    stable: dict[str, Any], plan: RolloutPlan, *, track: str, replicas: int
) -> dict[str, Any]:
    """A Deployment named ``plan.canary_name`` running the ``track`` template."""
    meta = stable["metadata"]
    spec = stable["spec"]
    selector = dict(spec["selector"].get("matchLabels") or {})
    if spec["selector"].get("matchExpressions"):
        raise UsageError(
            f"deployment/{meta['name']} selects its pods with matchExpressions",
            hint="aqua rollout handles matchLabels selectors only",
        )
    selector[TRACK] = track
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": plan.canary_name,
            "namespace": plan.namespace,
            "labels": {**(meta.get("labels") or {}), TRACK: track},
            "annotations": {ROLLOUT_OF: meta["name"]},
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 1,
            "selector": {"matchLabels": selector},
            "template": track_template(stable, plan, track),
        },
    }
    for key in ("strategy", "minReadySeconds", "progressDeadlineSeconds"):
        if key in spec:
            body["spec"][key] = copy.deepcopy(spec[key])
    return body
