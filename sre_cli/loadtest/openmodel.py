"""An open-model run: the requests of a plan, sent on its schedule by the native engine.

The reference mix is the closed model's (see :mod:`~sre_cli.loadtest.scenario`) laid out as
a fixed cycle of 20 requests per login, shuffled once: 10 pond summaries, 6 pond lists, 3
reading queries and 1 POST of 500 readings, each pond drawn at random from those that
existed before the run. Every login's token is used in turn, so each load user keeps its
own share of the rate (and of any per-user rate limit). ``--endpoint PATH`` sends GET PATH
only, with the logins' tokens when there are any.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from sre_cli.loadtest.native import Live, NativeTarget, engine_binary, run_native
from sre_cli.loadtest.plan import LoadPlan
from sre_cli.loadtest.results import LoadReport, Recorder
from sre_cli.loadtest.scenario import READINGS, SUMMARY, readings_body

__all__ = ["reference_logins", "reference_targets", "run_open_load"]

Progress = Callable[[str], None]


def reference_targets(
    target: str, tokens: list[str], ponds: list[int], rng: random.Random
) -> list[NativeTarget]:
    """20 requests per token in the reference mix, shuffled."""
    out: list[NativeTarget] = []
    for token in tokens:
        auth = {"Authorization": f"Bearer {token}"}
        cycle: list[NativeTarget] = []
        for _ in range(10):
            url = f"{target}/api/v1/ponds/{rng.choice(ponds)}/summary"
            cycle.append(NativeTarget("GET", url, SUMMARY, auth))
        for _ in range(6):
            cycle.append(
                NativeTarget("GET", f"{target}/api/v1/ponds?limit=50", "/api/v1/ponds", auth)
            )
        for _ in range(3):
            url = f"{target}/api/v1/ponds/{rng.choice(ponds)}/readings?bucket_seconds=3600"
            cycle.append(NativeTarget("GET", url, READINGS, auth))
        body = json.dumps(readings_body(rng))
        post = {**auth, "Content-Type": "application/json"}
        url = f"{target}/api/v1/ponds/{rng.choice(ponds)}/readings"
        cycle.append(NativeTarget("POST", url, READINGS, post, body))
        rng.shuffle(cycle)
        out.extend(cycle)
    return out


def reference_logins(plan: LoadPlan) -> tuple[list[str], list[int]]:
    """The reference mix's pre-flight: a token per account of the plan, the ponds that exist.
    Unavailable when the target does not answer."""
    import httpx

    from sre_cli.loadtest.preflight import list_ponds, log_in

    with httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False) as client:
        tokens = [log_in(client, plan.target, c) for c in plan.accounts]
        return tokens, list_ponds(client, plan.target, tokens[0])


def _preflight(plan: LoadPlan, say: Progress) -> list[NativeTarget]:
    """Log in, check the target, and lay out the plan's requests."""
    import httpx

    from sre_cli.loadtest.preflight import check_up, log_in

    assert plan.schedule is not None
    if plan.endpoint is None:
        tokens, ponds = reference_logins(plan)
        say(f"{len(ponds)} ponds found; {len(tokens)} login(s); {plan.schedule.describe()}")
        return reference_targets(plan.target, tokens, ponds, random.Random())  # noqa: S311
    with httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False) as client:
        tokens = [log_in(client, plan.target, c) for c in plan.accounts]
        check_up(client, plan.target, plan.endpoint)
    heads = [{"Authorization": f"Bearer {t}"} for t in tokens] or [{}]
    url = f"{plan.target}{plan.endpoint}"
    return [NativeTarget("GET", url, plan.endpoint.split("?", 1)[0], h) for h in heads]


def run_open_load(
    plan: LoadPlan,
    progress: Progress | None = None,
    live: Live | None = None,
    targets: list[NativeTarget] | None = None,
) -> LoadReport:
    """Pre-flight, then the plan's schedule; the report with intended and achieved rates.
    With ``live``, the counts as they go and a way to end the schedule early; with
    ``targets``, those requests and no pre-flight (the caller logged in)."""
    assert plan.schedule is not None
    engine_binary()  # a missing engine stops the run before the pre-flight sends anything
    say = progress or (lambda _msg: None)
    recorder = Recorder()
    if targets is None:
        targets = _preflight(plan, say)
    started_at = time.time()
    run = run_native(
        plan.schedule,
        targets,
        recorder,
        max_in_flight=plan.max_in_flight,
        connections=plan.connections,
        progress=say,
        live=live,
    )
    report = LoadReport(
        plan,
        run.duration_s,
        recorder,
        model="open",
        intended_requests=run.intended,
        started_at=started_at,
    )
    if run.sent < run.intended:
        report.notes.append(
            f"the generator could not keep up: {run.sent} of {run.intended} intended requests "
            f"were sent ({run.sent / run.intended:.1%}); raise --max-in-flight or lower the rate"
        )
    if run.stopped:
        report.notes.append("interrupted: the run stopped before its schedule ended")
    if report.failures:
        report.notes.append(f"failed requests by status: {report.failure_breakdown()}")
        for message, n in list(run.errors.items())[:3]:
            report.notes.append(f"{n}x {message}")
    return report
