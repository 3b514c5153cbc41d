"""The blue-green strategy: a full-size green Deployment, judged before any Service moves.

1. the Services that route to the stable pods are pinned to ``track=stable`` (the same pods:
   no request moves), and ``<deployment>-green`` (the new template, ``track=green``, as many
   replicas as the stable Deployment) starts without traffic until every pod is Ready;
2. the gate (``preview``): synthetic load of its own (:mod:`.preview`: paced requests of one
   path the SLOs count, at the green pods' own addresses) for one interval, judged as a
   canary step is: green's SLIs (``track="green"``) by the SLO engine's burn rates over the
   window, against the ceiling and against the stable pods. Failing or inconclusive, green
   is deleted and the Services get their own selectors back: they never routed to green;
3. passing, the Services switch to ``track=green`` together, and green is watched for one
   more interval on the live traffic (the synthetic load exercised one path; users exercise
   all of them) with the blue pods kept Ready: a failing check switches back at once,
   fewer requests than ``min_requests`` do not (the gate already judged green);
4. the stable Deployment takes the green template while green serves, the Services switch
   back to it, green goes and the Services get their own selectors back.
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
    from sre_cli.rollout.preview import PreviewSpec
    from sre_cli.rollout.report import RolloutReport, StepRecord

__all__ = ["routed_services", "run_blue_green"]


def routed_services(services: dict[str, dict[str, str]], labels: dict[str, str]) -> list[str]:
    """The Services whose selector picks pods with ``labels`` (the stable pods)."""
    return sorted(name for name, sel in services.items() if selects(sel, labels))


def _preview(driver: Driver, spec: PreviewSpec, selector: dict[str, str]) -> StepRecord:
    """Green's gate: its own synthetic load on its Ready pods, analysed for one interval."""
    plan = driver.plan
    targets = [(ip, spec.port) for ip in driver.work.pod_addresses(selector)]
    driver.log("preview", targets=[f"{h}:{p}" for h, p in targets], **spec.to_json())
    # the load stops by itself a while after the interval should have ended
    with driver.preview(targets, spec, plan.interval_s + 60.0) as load:
        record = driver.watch(plan.steps[0], "green", phase="preview")
    record.load = load
    driver.log("preview-load", **load.to_json())
    return record


def run_blue_green(driver: Driver, stable: dict[str, Any]) -> RolloutReport:
    plan, work = driver.plan, driver.work
    name = plan.canary_name
    labels = pod_labels(stable)
    if labels.get(TRACK) != "stable":
        raise UsageError(
            f"the pods of deployment/{plan.deployment} have no label {TRACK}=stable",
            hint="blue-green pins the Services to them first: add it to the pod template",
        )
    spec = plan.preview
    if spec is None:
        raise UsageError("blue-green needs the preview load (path, rate, port) to judge green")
    refuse_leftover(driver)
    original = {s: sel for s, sel in work.services().items() if s in plan.services}
    if not original:
        raise UsageError(f"no Service routes to the pods of deployment/{plan.deployment}")

    def route(track: str | None) -> None:
        for svc, sel in original.items():
            work.set_selector(svc, sel if track is None else {**sel, TRACK: track})
        driver.log("route", services=sorted(original), track=track or "original")

    def drop_green() -> None:
        """Green goes before the Services lose their pin (unpinned, they would pick it)."""
        driver.remove(name)
        route(None)

    step = plan.steps[0]
    driver.log("start", **plan.to_json())
    green_up = pinned = switched = False
    try:
        route("stable")
        pinned = True
        work.create(track_deployment(stable, plan, track="green", replicas=step.canary_replicas))
        green_up = True
        ready_s = driver.wait(name, step.canary_replicas)
        driver.log("step", **step.to_json(), ready_s=round(ready_s, 2))
        selector = {**(stable["spec"]["selector"].get("matchLabels") or {}), TRACK: "green"}
        gate = _preview(driver, spec, selector)
        gate.ready_s = ready_s
        if gate.verdict != "pass":
            green_up = pinned = False
            return driver.abort(gate, drop_green)
        driver.passed(gate)
        route("green")
        switched = True
        live = driver.watch(step, "green", phase="live")
        if live.verdict == "fail":

            def back() -> None:
                route("stable")
                drop_green()

            green_up = pinned = switched = False
            return driver.abort(live, back)
        driver.passed(live)
        t0 = time.monotonic()
        driver.roll_stable(stable)
        route("stable")
        switched = False
        driver.remove(name)
        green_up = False
        route(None)
        pinned = False
        return driver.promoted(t0, "green held before and after the switch")
    finally:
        if green_up or pinned:
            driver.log("interrupted", removing=name)
            if switched:
                route("stable")
            if green_up:
                driver.remove(name)
            if pinned:
                route(None)
