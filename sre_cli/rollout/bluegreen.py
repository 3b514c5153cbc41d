"""The blue-green strategy: a full-size green Deployment, the Services switched to it.

1. the Services that route to the stable pods are pinned to ``track=stable``, and
   ``<deployment>-green`` (the new template, ``track=green``, as many replicas as the stable
   Deployment) starts without traffic until every pod is Ready;
2. the Services switch to ``track=green`` together; the green pods are analysed for one
   interval with live traffic, the blue pods kept Ready;
3. failing, the Services switch back at once (the blue pods never stopped) and green goes;
   passing, the stable Deployment takes the green template while green serves, the Services
   switch back to it, green goes and the Services get their own selectors back.

Judging green before it takes traffic would need traffic of its own; here it is judged on
the live traffic, and the way back is a selector switch, not a redeploy.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sre_cli.errors import UsageError
from sre_cli.rollout.canary import refuse_leftover
from sre_cli.rollout.templates import TRACK, pod_labels, track_deployment
from sre_cli.rollout.workloads import selects

if TYPE_CHECKING:
    from sre_cli.rollout.driver import Driver
    from sre_cli.rollout.report import RolloutReport

__all__ = ["routed_services", "run_blue_green"]


def routed_services(services: dict[str, dict[str, str]], labels: dict[str, str]) -> list[str]:
    """The Services whose selector picks pods with ``labels`` (the stable pods)."""
    return sorted(name for name, sel in services.items() if selects(sel, labels))


def run_blue_green(driver: Driver, stable: dict[str, Any]) -> RolloutReport:
    plan, work = driver.plan, driver.work
    name = plan.canary_name
    labels = pod_labels(stable)
    if labels.get(TRACK) != "stable":
        raise UsageError(
            f"the pods of deployment/{plan.deployment} have no label {TRACK}=stable",
            hint="blue-green pins the Services to them first: add it to the pod template",
        )
    refuse_leftover(driver)
    original = {s: sel for s, sel in work.services().items() if s in plan.services}
    if not original:
        raise UsageError(f"no Service routes to the pods of deployment/{plan.deployment}")

    def route(track: str | None) -> None:
        for svc, sel in original.items():
            work.set_selector(svc, sel if track is None else {**sel, TRACK: track})
        driver.log("route", services=sorted(original), track=track or "original")

    step = plan.steps[0]
    driver.log("start", **plan.to_json())
    green_up = False
    routed = False
    try:
        route("stable")
        routed = True
        work.create(track_deployment(stable, plan, track="green", replicas=step.canary_replicas))
        green_up = True
        ready_s = driver.wait(name, step.canary_replicas)
        driver.log("step", **step.to_json(), ready_s=round(ready_s, 2))
        route("green")
        record = driver.watch(step, "green")
        record.ready_s = ready_s
        if record.verdict != "pass":

            def back() -> None:
                route("stable")
                driver.remove(name)
                route(None)

            green_up = routed = False
            return driver.abort(record, back)
        driver.passed(record)
        t0 = time.monotonic()
        driver.roll_stable(stable)
        route("stable")
        driver.remove(name)
        green_up = False
        route(None)
        routed = False
        return driver.promoted(t0, "green held")
    finally:
        if green_up or routed:
            driver.log("interrupted", removing=name)
            if routed:
                route("stable")
            if green_up:
                driver.remove(name)
            if routed:
                route(None)
