"""A namespace in memory for the strategy tests: the Workloads boundary the rollout owns.

Deployments become Ready as soon as they are scaled (no controller to wait for); every call is
recorded in ``calls`` so a test can check the order of the changes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sre_cli.rollout.preview import LoadFigures, PreviewSpec
from sre_cli.rollout.workloads import Readiness


def stable_deployment(replicas: int = 2, image: str = "svc:1") -> dict[str, Any]:
    labels = {"app": "api", "app.kubernetes.io/component": "api", "track": "stable"}
    return {
        "metadata": {"name": "api", "namespace": "ns", "labels": {"app": "api"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "api"}},
            "strategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "initContainers": [{"name": "migrate", "image": image}],
                    "containers": [
                        {"name": "api", "image": image, "env": [{"name": "A", "value": "1"}]}
                    ],
                },
            },
        },
    }


class FakeWorkloads:
    namespace = "ns"

    def __init__(self, stable: dict[str, Any]) -> None:
        self.deployments = {"api": copy.deepcopy(stable)}
        self.selectors = {"api": {"app": "api"}, "api-nodeport": {"app": "api"}}
        self.calls: list[tuple[Any, ...]] = []

    def get(self, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.deployments.get(name))

    def create(self, body: dict[str, Any]) -> None:
        self.calls.append(("create", body["metadata"]["name"], body["spec"]["replicas"]))
        self.deployments[body["metadata"]["name"]] = copy.deepcopy(body)

    def set_template(self, name: str, template: dict[str, Any]) -> None:
        self.calls.append(("set_template", name))
        self.deployments[name]["spec"]["template"] = copy.deepcopy(template)

    def scale(self, name: str, replicas: int) -> None:
        self.calls.append(("scale", name, replicas))
        self.deployments[name]["spec"]["replicas"] = replicas

    def delete(self, name: str) -> None:
        self.calls.append(("delete", name))
        del self.deployments[name]

    def readiness(self, name: str) -> Readiness:
        n = int(self.deployments[name]["spec"]["replicas"])
        return Readiness(n, n, n, n, True, n)

    def services(self) -> dict[str, dict[str, str]]:
        return copy.deepcopy(self.selectors)

    def set_selector(self, service: str, selector: dict[str, str]) -> None:
        self.calls.append(("route", service, selector.get("track")))
        self.selectors[service] = dict(selector)

    def pod_addresses(self, selector: dict[str, str]) -> list[str]:
        """One address per replica of each Deployment whose pods ``selector`` picks."""
        out = []
        for i, d in enumerate(self.deployments.values()):
            labels = d["spec"]["template"]["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in selector.items()):
                out += [f"10.244.{i}.{n}" for n in range(1, int(d["spec"]["replicas"]) + 1)]
        return out


class FakePreview:
    """The preview boundary: records the targets and whether its load is running."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []
        self.running = False

    def __call__(
        self, targets: Sequence[tuple[str, int]], spec: PreviewSpec, max_s: float
    ) -> AbstractContextManager[LoadFigures]:
        self.targets = list(targets)
        return self._run(spec)

    @contextmanager
    def _run(self, spec: PreviewSpec) -> Iterator[LoadFigures]:
        self.running = True
        try:
            yield LoadFigures([f"{h}:{p}" for h, p in self.targets], spec.path, requests=100)
        finally:
            self.running = False
