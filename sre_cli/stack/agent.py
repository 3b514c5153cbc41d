"""The stack agent: Alertmanager's webhook receiver and the stack's own health exporter.

A small stdlib HTTP server, supervised like every other component:

- ``POST /alerts`` takes Alertmanager's webhook payload and appends one JSON line per
  notification to ``ROOT/alerts.jsonl`` (``aqua stack alerts`` shows them);
- ``GET /metrics`` probes every component of the plan at scrape time, so Prometheus sees all
  of them, including those without metrics of their own (PostgreSQL, Redis, Kafka, nginx)::

      aqua_stack_component_up{component="api-1",kind="api"} 1      liveness probe passed
      aqua_stack_component_ready{component="api-1",kind="api"} 1   readiness probe passed
      aqua_stack_component_restarts_total{component="api-1",kind="api"} 0
      aqua_stack_alert_notifications_total{status="firing"} 3
      aqua_stack_component_memory_bytes{component="api-1",kind="api"} 1.2e8   resident memory
      aqua_stack_component_cpu_seconds_total{component="api-1",kind="api"} 4.2  user + system
      pg_stat_activity_count{state="active"} 3          PostgreSQL sessions (stack/usage.py)
      pg_settings_max_connections 100
      kafka_consumergroup_lag{consumergroup="aqua-worker-readings",partition="0",...} 12
                                                        not committed yet, read at the broker
                                                        (stack/kafkalag.py)

- ``GET /health`` answers 200;
- ``GET /dashboards/`` draws the shipped dashboards from the stack's Prometheus, for a browser
  holding the stack's dashboards token (:mod:`sre_cli.stack.dashboards`).

Run: ``python -m sre_cli.stack.agent --state-dir DIR --port PORT``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sre_cli.infra.pgroles import MONITOR
from sre_cli.stack.dashboards import PREFIX, DashboardsPage
from sre_cli.stack.kafkalag import BrokerLag, GroupLag, lag_lines
from sre_cli.stack.probes import check_live, check_ready
from sre_cli.stack.spec import ComponentSpec, StackPlan, StateLayout
from sre_cli.stack.state import load_or_create_secrets, read_state
from sre_cli.stack.usage import (
    KUBERNETES_LIMITS,
    PostgresActivity,
    postgres_activity,
    process_usage,
)

__all__ = ["Agent", "agent_handler", "main"]

_MAX_BODY = 4 * 1024 * 1024
# A notification's status becomes a label value: bounded in length and in distinct values,
# so a crafted POST can neither break the exposition format nor blow up the series count.
_MAX_STATUS_CHARS = 64
_MAX_STATUSES = 16
OTHER_STATUS = "other"


def escape_label(value: str) -> str:
    r"""A label value as the text exposition format writes it: backslash, double quote and
    line feed escaped (``\\``, ``\"``, ``\n``)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Agent:
    """State shared by the request handlers."""

    def __init__(self, layout: StateLayout) -> None:
        self.layout = layout
        self.plan = StackPlan.model_validate_json(layout.plan_file.read_text(encoding="utf-8"))
        self.lock = threading.Lock()
        self.notifications: dict[str, int] = {"firing": 0, "resolved": 0}
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")
        self.psql = _find_psql()
        self.pg_password = _monitor_password(layout)
        token = load_or_create_secrets(layout.secrets_file).dashboards_token
        self.dashboards = DashboardsPage(self.plan, token)
        kafka = [c for c in self.plan.components if c.kind == "kafka"]
        self.kafka_lag = BrokerLagCache(BrokerLag(f"127.0.0.1:{kafka[0].port}")) if kafka else None

    def record_alert(self, payload: dict[str, object]) -> None:
        status = str(payload.get("status", "unknown"))[:_MAX_STATUS_CHARS]
        line = json.dumps({"received_at": time.time(), **payload}, sort_keys=True)
        with self.lock:
            # The last of the _MAX_STATUSES label values is reserved for "other".
            if status not in self.notifications and len(self.notifications) >= _MAX_STATUSES - 1:
                status = OTHER_STATUS
            self.notifications[status] = self.notifications.get(status, 0) + 1
            with open(self.layout.alerts_file, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def metrics(self) -> str:
        comps = list(self.plan.components)
        live = list(self.pool.map(lambda c: check_live(c.probe, c.port, 0.5), comps))
        ready = list(self.pool.map(lambda c: check_ready(c.probe, c.port, 0.5), comps))
        try:
            state = read_state(self.layout.state_file)
        except Exception:  # a torn or foreign file must not break the scrape
            state = None
        restarts = {n: s.restarts for n, s in state.components.items()} if state else {}
        pids = {n: s.pid for n, s in state.components.items() if s.pid} if state else {}
        with self.lock:
            counts = dict(self.notifications)
        out = [
            *_family(
                "aqua_stack_component_up",
                "gauge",
                "1 when the component answers its liveness probe.",
                ((c, int(ok)) for c, ok in zip(comps, live, strict=True)),
            ),
            *_family(
                "aqua_stack_component_ready",
                "gauge",
                "1 when the component answers its readiness probe.",
                ((c, int(ok)) for c, ok in zip(comps, ready, strict=True)),
            ),
            *_family(
                "aqua_stack_component_restarts_total",
                "counter",
                "Restarts by the supervisor.",
                ((c, restarts.get(c.name, 0)) for c in comps),
            ),
            "# HELP aqua_stack_alert_notifications_total Alertmanager notifications received.",
            "# TYPE aqua_stack_alert_notifications_total counter",
            *(
                f'aqua_stack_alert_notifications_total{{status="{escape_label(s)}"}} {n}'
                for s, n in sorted(counts.items())
            ),
        ]
        out += self._usage(comps, pids)
        out += self._rollouts(comps, pids)
        return "\n".join(out) + "\n"

    def _rollouts(self, comps: list[ComponentSpec], pids: dict[str, int]) -> list[str]:
        """Each service's rollout under kube-state-metrics' names (namespace ``stack``): its
        replicas, and those that run the current release (releases.py)."""
        from sre_cli.stack import releases

        out: list[str] = []
        for kind, deployment in releases.DEPLOYMENTS.items():
            replicas = [c for c in comps if c.kind == kind]
            if not replicas:
                continue
            template = releases.current(self.layout, kind).template
            updated = sum(
                1 for c in replicas if releases.running_template(pids.get(c.name)) == template
            )
            labels = f'namespace="stack",deployment="{deployment}"'
            out += [
                f"kube_deployment_spec_replicas{{{labels}}} {len(replicas)}",
                f"kube_deployment_status_replicas_updated{{{labels}}} {updated}",
            ]
        if out:
            out = [
                "# HELP kube_deployment_spec_replicas Replicas the stack runs of the service.",
                "# TYPE kube_deployment_spec_replicas gauge",
                *[line for line in out if line.startswith("kube_deployment_spec")],
                "# HELP kube_deployment_status_replicas_updated Replicas on the current release.",
                "# TYPE kube_deployment_status_replicas_updated gauge",
                *[line for line in out if line.startswith("kube_deployment_status")],
            ]
        return out

    def _usage(self, comps: list[ComponentSpec], pids: dict[str, int]) -> list[str]:
        usage = {c.name: process_usage(pids[c.name]) for c in comps if c.name in pids}
        labelled = [(c, u) for c in comps if (u := usage.get(c.name)) is not None]
        limited = [c for c in comps if c.kind in KUBERNETES_LIMITS]
        out = [
            *_family(
                "aqua_stack_component_memory_bytes",
                "gauge",
                "Resident memory of the component's process.",
                ((c, u.rss_bytes) for c, u in labelled),
            ),
            *_family(
                "aqua_stack_component_cpu_seconds_total",
                "counter",
                "CPU time (user + system).",
                ((c, u.cpu_seconds) for c, u in labelled),
            ),
            *_family(
                "aqua_stack_component_memory_limit_bytes",
                "gauge",
                "Its Deployment's memory limit.",
                ((c, KUBERNETES_LIMITS[c.kind][0]) for c in limited),
            ),
            *_family(
                "aqua_stack_component_cpu_limit_cores",
                "gauge",
                "Its Deployment's CPU limit.",
                ((c, KUBERNETES_LIMITS[c.kind][1]) for c in limited),
            ),
        ]
        postgres = [c for c in comps if c.kind == "postgres"]
        if postgres and self.psql is not None:
            activity = postgres_activity(
                self.psql, postgres[0].port, user=MONITOR, password=self.pg_password
            )
            out += _postgres_lines(activity)
        if self.kafka_lag is not None:
            out += lag_lines(self.kafka_lag.latest())
        return out


class BrokerLagCache:
    """The broker's lag read in a background thread, so a scrape never waits on Kafka: a
    broker that is down or slow to answer (the admin client's connect and retries take
    seconds) would otherwise make every scrape of the agent time out."""

    #: how often the lag is read, and how old a reading may be before it is not served
    INTERVAL_S = 1.0
    MAX_AGE_S = 15.0

    def __init__(self, reader: BrokerLag) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self._rows: list[GroupLag] | None = None
        self._at = 0.0
        self._thread = threading.Thread(target=self._loop, name="kafka-lag", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                rows: list[GroupLag] | None = self._reader.read()
            except Exception:  # the broker down or restarting: the lag series are then absent
                rows = None
            with self._lock:
                self._rows, self._at = rows, time.monotonic()
            time.sleep(self.INTERVAL_S)

    def latest(self) -> list[GroupLag] | None:
        """The last reading, or None when it failed or is older than :attr:`MAX_AGE_S`."""
        with self._lock:
            if self._rows is None or time.monotonic() - self._at > self.MAX_AGE_S:
                return None
            return self._rows


def _postgres_lines(activity: PostgresActivity | None) -> list[str]:
    out = [
        "# HELP pg_up 1 when pg_stat_activity could be read.",
        "# TYPE pg_up gauge",
        f"pg_up {int(activity is not None)}",
    ]
    if activity is None:
        return out
    out += [
        "# HELP pg_settings_max_connections PostgreSQL's max_connections.",
        "# TYPE pg_settings_max_connections gauge",
        f"pg_settings_max_connections {activity.max_connections}",
        "# HELP pg_stat_activity_count Client sessions per state.",
        "# TYPE pg_stat_activity_count gauge",
    ]
    out += [
        f'pg_stat_activity_count{{state="{escape_label(s)}"}} {n}'
        for s, n in sorted(activity.count.items())
    ]
    out += [
        "# HELP pg_stat_activity_max_tx_duration Oldest transaction per state, in seconds.",
        "# TYPE pg_stat_activity_max_tx_duration gauge",
    ]
    out += [
        f'pg_stat_activity_max_tx_duration{{state="{escape_label(s)}"}} {d:.3f}'
        for s, d in sorted(activity.max_tx_duration.items())
    ]
    return out


def _monitor_password(layout: StateLayout) -> str | None:
    """The monitoring role's password, from the stack's secrets (None without them)."""
    if not layout.secrets_file.exists():
        return None
    return load_or_create_secrets(layout.secrets_file).postgres_monitor_password


def _find_psql() -> Path | None:
    from sre_cli.errors import MissingDependency
    from sre_cli.infra import binaries

    try:
        return binaries.find("psql")
    except MissingDependency:
        return None  # the agent still serves; pg_* series are then absent


def _labels(component: str, kind: str) -> str:
    return f'component="{escape_label(component)}",kind="{escape_label(kind)}"'


def _family(
    name: str, type_: str, help_: str, samples: Iterable[tuple[ComponentSpec, object]]
) -> list[str]:
    """One metric family in the text format: HELP, TYPE, a sample per (component, value)."""
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} {type_}"]
    return lines + [f"{name}{{{_labels(c.name, c.kind)}}} {value}" for c, value in samples]


def agent_handler(agent: Agent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "aqua-stack-agent"
        timeout = 10.0  # a client that stops sending does not hold a thread for ever

        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(
            self,
            code: int,
            body: str,
            ctype: str = "text/plain; charset=utf-8",
            headers: dict[str, str] | None = None,
        ) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, "ok\n")
            elif self.path == "/metrics":
                self._send(200, agent.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif self.path.startswith(PREFIX):
                answer = agent.dashboards.get(self.path, dict(self.headers.items()))
                self._send(answer.status, answer.body, answer.content_type, answer.headers)
            else:
                self._send(404, "not found\n")

        def do_POST(self) -> None:
            if self.path != "/alerts":
                self._send(404, "not found\n")
                return
            declared = self.headers.get("Content-Length") or "0"
            # A bad length is the client's mistake: answer it, never let the handler die.
            length = int(declared) if declared.isascii() and declared.isdigit() else -1
            if length <= 0 or length > _MAX_BODY:
                self._send(400, "body required (at most 4 MiB)\n")
                return
            try:
                body = self.rfile.read(length)
            except OSError:  # timed out or gone mid-body: nobody to answer
                self.close_connection = True
                return
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):
                self._send(400, "not JSON\n")
                return
            if not isinstance(payload, dict):
                self._send(400, "expected a JSON object\n")
                return
            agent.record_alert(payload)
            self._send(200, "ok\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sre_cli.stack.agent")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    agent = Agent(StateLayout(args.state_dir))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), agent_handler(agent))
    server.daemon_threads = True
    sys.stderr.write(f"aqua stack agent on 127.0.0.1:{args.port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, _on_term)
    sys.exit(main())
