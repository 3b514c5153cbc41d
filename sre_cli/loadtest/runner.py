"""Drive a :class:`LoadPlan` with locust as a library (``Environment`` + ``LocalRunner``).

Before any load: a pre-flight against the target (nothing listening, a failed login or no
ponds is exit 2 and no load is sent). Then locust spawns the users, a timer quits the runner
after the duration, and every request is recorded through locust's ``request`` event.

Locust (and gevent, which it monkey-patches the standard library with) is imported inside
:func:`run_load` only, before anything else that opens sockets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sre_cli.loadtest.plan import LoadPlan
from sre_cli.loadtest.results import LoadReport, Recorder

if TYPE_CHECKING:
    from locust import User

__all__ = ["request_listener", "run_load", "user_classes"]

Progress = Callable[[str], None]


def user_classes(plan: LoadPlan) -> tuple[list[type[User]], int]:
    """The plan's locust users and how many ponds they load (after the pre-flight)."""
    import httpx

    from sre_cli.loadtest.preflight import check_up, list_ponds, log_in
    from sre_cli.loadtest.scenario import load_locustfile, reference_user

    with httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False) as client:
        if plan.is_reference:
            assert plan.credentials is not None
            token = log_in(client, plan.target, plan.credentials)
            ponds = list_ponds(client, plan.target, token)
            return [reference_user(ponds, plan.accounts)], len(ponds)
        check_up(client, plan.target)
    return load_locustfile(Path(plan.scenario)), 0


Record = Callable[[str, str, float, "int | None", bool, bool], None]


def request_listener(record: Record) -> Callable[..., None]:
    """A listener of locust's ``request`` event that hands each request to ``record`` as
    (method, name, milliseconds, status, failed, setup): ``setup`` when the user marked it
    so (``context={"setup": True}``, e.g. its login)."""

    def on_request(
        request_type: str,
        name: str,
        response_time: float | None,
        response: Any = None,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        status = getattr(response, "status_code", None)
        setup = bool((context or {}).get("setup"))
        ms = float(response_time or 0.0)
        record(request_type, name, ms, status, exception is not None, setup)

    return on_request


def run_load(plan: LoadPlan, progress: Progress | None = None) -> LoadReport:
    """Pre-flight, then ``plan.users`` users for ``plan.duration_s`` seconds; the report."""
    import gevent  # type: ignore[import-untyped]  # locust's own dependency
    from locust.env import Environment

    say = progress or (lambda _msg: None)
    classes, n_ponds = user_classes(plan)
    for cls in classes:
        cls.host = plan.target
    recorder = Recorder()
    on_request = request_listener(recorder.record)

    env = Environment(user_classes=classes, host=plan.target, stop_timeout=0)
    env.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    runner = env.create_local_runner()
    if n_ponds:
        say(f"{n_ponds} ponds found; {plan.users} users for {plan.duration_s:g} s")
    started, started_at = time.monotonic(), time.time()

    def report_progress() -> None:
        while True:
            gevent.sleep(5.0)
            elapsed = time.monotonic() - started
            say(
                f"{elapsed:5.1f}s  users {runner.user_count}  requests {recorder.requests}  "
                f"failures {recorder.failures}"
            )

    ticker = gevent.spawn(report_progress)
    try:
        runner.start(plan.users, spawn_rate=plan.spawn_rate)
        gevent.spawn_later(plan.duration_s, runner.quit)
        if not runner.greenlet.join(timeout=plan.duration_s + 30):  # True once all stopped
            runner.quit()
    finally:
        ticker.kill()
    elapsed = time.monotonic() - started
    report = LoadReport(plan, elapsed, recorder, started_at=started_at)
    for err in list(runner.exceptions.values())[:3]:
        report.notes.append(f"a user raised ({err['count']}x): {err['msg']}")
    report.note_failures()
    return report
