"""The closed model on several processes: locust's master and its workers on this machine.

``aqua loadtest run --users U --workers N`` starts N worker processes
(``python -m sre_cli.loadtest.distributed --master-port P``, the plan as JSON on stdin, never
in a file or on a command line: it holds the credentials). This process is locust's master:
it binds its message port on 127.0.0.1 only, waits until every worker is ready, spreads the U
users over them and stops them at the end. Each worker records its own requests and ships
them in its periodic reports (locust's ``report_to_master``) and, once stopped, a final batch;
the master merges them into one :class:`Recorder`, so percentiles are computed over every
request, never averaged across workers.

Locust's own protocol carries no authentication: the port listens on loopback for the length
of the run only, and the master accepts no more than the N workers it started.

The same master/worker split is how locust spreads load across machines; aqua keeps it on this
machine, where it puts both cores to work (one Python process drives about one core).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any

from sre_cli.errors import Unavailable
from sre_cli.loadtest.plan import Credentials, Limits, LoadPlan
from sre_cli.loadtest.results import LoadReport, Recorder

__all__ = ["MAX_WORKERS", "main", "run_distributed"]

MAX_WORKERS = 16
_READY_TIMEOUT_S = 60.0
_FLUSH_TIMEOUT_S = 30.0
_ROWS = "aqua_rows"
_STOP = "aqua_stop"

Progress = Callable[[str], None]
# method, name, response time (ms), status, failed, setup
Row = tuple[str, str, float, int | None, bool, bool]


def plan_to_json(plan: LoadPlan) -> str:
    if plan.schedule is not None:
        raise ValueError("workers run the closed model only")
    return json.dumps(dataclasses.asdict(plan))


def plan_from_json(text: str) -> LoadPlan:
    data = json.loads(text)
    data["limits"] = Limits(**data["limits"])
    if data["credentials"] is not None:
        data["credentials"] = Credentials(**data["credentials"])
    data["logins"] = tuple(Credentials(**c) for c in data["logins"])
    return LoadPlan(**data)


def run_distributed(plan: LoadPlan, workers: int, progress: Progress | None = None) -> LoadReport:
    """``plan.users`` users spread over ``workers`` processes for ``plan.duration_s`` seconds."""
    import gevent  # type: ignore[import-untyped]  # locust's own dependency
    from locust.env import Environment

    from sre_cli.loadtest.runner import user_classes

    say = progress or (lambda _msg: None)
    classes, n_ponds = user_classes(plan)  # the pre-flight: exit 2 before any load
    for cls in classes:
        cls.host = plan.target
    recorder = Recorder()
    per_worker: dict[str, int] = {}
    finished: set[str] = set()

    def take(node_id: str, rows: list[list[Any]]) -> None:
        for method, name, ms, status, failed, setup in rows:
            recorder.record(method, name, ms, status, failed, setup)
            if not setup:
                per_worker[node_id] = per_worker.get(node_id, 0) + 1

    def on_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        take(client_id, data.get(_ROWS, []))

    def on_final(environment: Any, msg: Any, **_: Any) -> None:
        take(msg.node_id, msg.data["rows"])
        finished.add(msg.node_id)

    env = Environment(user_classes=classes, host=plan.target, stop_timeout=0)
    runner = env.create_master_runner(master_bind_host="127.0.0.1", master_bind_port=0)
    env.events.worker_report.add_listener(on_report)  # type: ignore[no-untyped-call]
    runner.register_message(_ROWS, on_final)
    port = runner.server.port
    with contextlib.ExitStack() as files:
        logs = [
            files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
            for _ in range(workers)
        ]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "sre_cli.loadtest.distributed", "--master-port", str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
            for log in logs
        ]
        try:
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(plan_to_json(plan))
                proc.stdin.close()
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while runner.worker_count < workers:
                dead = [i for i, p in enumerate(procs) if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    why = _tail(logs[dead[0]]) if dead else ""
                    raise Unavailable(
                        f"{runner.worker_count} of {workers} load workers connected",
                        hint=why.splitlines()[-1] if why else "a worker did not start in time",
                    )
                gevent.sleep(0.1)
            if n_ponds:
                say(f"{n_ponds} ponds found; {plan.users} users over {workers} workers")
            started, started_at = time.monotonic(), time.time()
            runner.start(plan.users, spawn_rate=plan.spawn_rate)
            while (left := plan.duration_s - (time.monotonic() - started)) > 0:
                gevent.sleep(min(5.0, left))
                say(
                    f"{time.monotonic() - started:5.1f}s  users {runner.user_count}  "
                    f"requests {recorder.requests}  failures {recorder.failures}"
                )
            runner.send_message(_STOP)
            elapsed = time.monotonic() - started
            deadline = time.monotonic() + _FLUSH_TIMEOUT_S
            while len(finished) < workers and time.monotonic() < deadline:
                gevent.sleep(0.05)
        finally:
            runner.quit()  # every worker quits, on success or not
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            crashed = [_tail(log) for log, p in zip(logs, procs, strict=True) if p.returncode]
    report = LoadReport(plan, elapsed, recorder, started_at=started_at)
    report.workers = sorted(per_worker.values(), reverse=True)
    report.notes.extend(f"a worker failed: {why}" for why in crashed if why)
    if len(finished) < workers:
        report.notes.append(
            f"{workers - len(finished)} of {workers} workers sent no final report: "
            "their last seconds of requests are missing"
        )
    report.note_failures()
    return report


def _tail(log: IO[str]) -> str:
    """The last line a worker wrote to its log (its error, when it failed)."""
    log.seek(0)
    lines = log.read().strip().splitlines()
    return lines[-1] if lines else ""


def _work(master_port: int, plan: LoadPlan) -> None:
    from locust.env import Environment

    from sre_cli.loadtest.runner import request_listener, user_classes

    classes, _ = user_classes(plan)
    for cls in classes:
        cls.host = plan.target
    rows: list[Row] = []

    def keep(
        method: str, name: str, ms: float, status: int | None, failed: bool, setup: bool
    ) -> None:
        rows.append((method, name, ms, status, failed, setup))

    on_request = request_listener(keep)

    def on_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[_ROWS] = rows[:]
        rows.clear()

    env = Environment(user_classes=classes, host=plan.target, stop_timeout=0)
    env.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    env.events.report_to_master.add_listener(on_report)  # type: ignore[no-untyped-call]
    runner = env.create_worker_runner("127.0.0.1", master_port)

    def on_stop(environment: Any, msg: Any, **_: Any) -> None:
        runner.stop()
        runner.send_message(_ROWS, {"rows": rows[:]})
        rows.clear()

    runner.register_message(_STOP, on_stop)
    runner.greenlet.join()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sre_cli.loadtest.distributed")
    parser.add_argument("--master-port", type=int, required=True)
    args = parser.parse_args(argv)
    plan = plan_from_json(sys.stdin.read())
    _work(args.master_port, plan)
    return 0


if __name__ == "__main__":
    # locust (and gevent's monkey-patching) first, before anything opens a socket
    import locust  # noqa: F401

    raise SystemExit(main())
