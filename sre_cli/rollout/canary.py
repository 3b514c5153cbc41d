"""The canary strategy: a canary Deployment beside the stable one, stepped up by replicas.

1. ``<deployment>-canary`` is created with the step's replicas (the stable template, the new
   image and env, ``track=canary``); its window opens once they are Ready;
2. each step is analysed (:mod:`.analysis`); a failing or inconclusive step deletes the canary
   at once (scaled to 0, its pods drained, then deleted) and the stable pods never changed;
3. after the last step below 100 passes, the stable Deployment takes the canary's template
   (``track=stable``; its own rolling update, maxUnavailable as it says) while the canary
   still serves, then the canary is removed.

Interrupted (Ctrl-C, an API error), the canary is removed before the error propagates.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sre_cli.errors import UsageError
from sre_cli.rollout.templates import track_deployment

if TYPE_CHECKING:
    from sre_cli.rollout.driver import Driver
    from sre_cli.rollout.report import RolloutReport

__all__ = ["run_canary"]


def refuse_leftover(driver: Driver) -> None:
    name = driver.plan.canary_name
    if driver.work.get(name) is not None:
        raise UsageError(
            f"deployment/{name} already exists in {driver.plan.namespace} "
            "(an earlier rollout that did not finish?)",
            hint=f"kubectl -n {driver.plan.namespace} delete deployment/{name}",
        )


def run_canary(driver: Driver, stable: dict[str, Any]) -> RolloutReport:
    plan, work = driver.plan, driver.work
    name = plan.canary_name
    refuse_leftover(driver)
    driver.log("start", **plan.to_json())
    created = False
    try:
        for step in plan.steps:
            if step.promotion:
                break
            if not created:
                work.create(track_deployment(stable, plan, track="canary", replicas=0))
                created = True
            work.scale(name, step.canary_replicas)
            ready_s = driver.wait(name, step.canary_replicas)
            driver.log("step", **step.to_json(), ready_s=round(ready_s, 2))
            record = driver.watch(step, "canary")
            record.ready_s = ready_s
            if record.verdict != "pass":
                created = False  # the rollback removes it
                return driver.abort(record, lambda: driver.remove(name))
            driver.passed(record)
        t0 = time.monotonic()
        driver.roll_stable(stable)
        if created:
            driver.remove(name)
            created = False
        return driver.promoted(t0, "every step held")
    finally:
        if created:  # interrupted: the stable pods were never changed, the canary goes
            driver.log("interrupted", removing=name)
            driver.remove(name)
