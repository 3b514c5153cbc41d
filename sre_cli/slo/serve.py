"""SLO results as Prometheus metrics: ``aqua slo serve`` evaluates the specs on a schedule and
exposes the last results on ``/metrics`` for Prometheus to scrape.

Per SLO (labels ``sloth_service``, ``sloth_slo``, ``sloth_id``): ``aqua_slo_sli``,
``aqua_slo_objective_ratio``, ``aqua_slo_error_budget_remaining_ratio``,
``aqua_slo_window_events{kind="total|bad"}``, ``aqua_slo_burn_rate{window}``,
``aqua_slo_alert_firing{severity}`` and ``aqua_slo_status{status}`` (1 for the current status);
a value without data is left out rather than exported as a number. Then the exporter's own
``aqua_slo_evaluations_total``, ``aqua_slo_evaluation_errors_total``,
``aqua_slo_last_evaluation_timestamp_seconds`` and ``aqua_slo_evaluation_duration_seconds``.
``/metrics`` needs ``Authorization: Bearer <token>``; ``/live`` answers while the process runs,
``/ready`` once an evaluation has succeeded::

    exporter = Exporter(slos, lambda: connect(url, config=config), tiers, token="...")
    exporter.evaluate_once()
    exporter.metrics_text()
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from sre_cli.errors import AquaError
from sre_cli.http_reply import reply

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.engine import Report
    from sre_cli.slo.spec import SLO
    from sre_cli.slo.windows import Tier

__all__ = ["Exporter", "serve"]

_STATUSES = ("ok", "warning", "breached", "no_data")
_HELP = {
    "aqua_slo_sli": "Good share over the SLO window (0-1).",
    "aqua_slo_objective_ratio": "The SLO objective as a ratio.",
    "aqua_slo_error_budget_remaining_ratio": "Error budget left (below 0 once breached).",
    "aqua_slo_window_events": "Events (or time slices) in the SLO window, by kind.",
    "aqua_slo_burn_rate": "Error ratio over a window / error budget.",
    "aqua_slo_alert_firing": "1 when the multi-window multi-burn-rate tier of a severity fires.",
    "aqua_slo_status": "1 for the SLO's current status.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value))


def render(report: Report) -> list[str]:
    """The per-SLO metric lines of ``report`` (text exposition format, with HELP and TYPE)."""
    lines: dict[str, list[str]] = {name: [] for name in _HELP}
    for result in report.results:
        slo = result.slo
        ids = {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}

        def put(name: str, value: float | None, ids: dict[str, str] = ids, **extra: str) -> None:
            if value is not None:
                lines[name].append(f"{name}{_labels({**ids, **extra})} {_number(value)}")

        put("aqua_slo_sli", result.sli)
        put("aqua_slo_objective_ratio", slo.objective / 100)
        put("aqua_slo_error_budget_remaining_ratio", result.budget_remaining)
        put("aqua_slo_window_events", result.total, kind="total")
        put("aqua_slo_window_events", result.bad, kind="bad")
        for window, rate in result.burn_rates.items():
            put("aqua_slo_burn_rate", rate, window=window)
        for severity, firing in result.alerts.items():
            put("aqua_slo_alert_firing", float(firing), severity=severity)
        for status in _STATUSES:
            put("aqua_slo_status", float(result.status == status), status=status)
    out = []
    for name, samples in lines.items():
        out += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge", *samples]
    return out


class Exporter:
    """Evaluates ``slos`` on demand or on a schedule and keeps the last metrics text."""

    def __init__(
        self,
        slos: Sequence[SLO],
        client: Callable[[], PrometheusClient],
        tiers: Sequence[Tier],
        *,
        token: str,
        at: float | None = None,
    ) -> None:
        if not token:
            raise ValueError("a bearer token is required")
        self.slos, self.client, self.tiers, self.token, self.at = slos, client, tiers, token, at
        self.evaluations = 0
        self.errors = 0
        self.last_error = ""
        self._lock = threading.Lock()
        self._series: list[str] = []
        self._last = 0.0
        self._duration = 0.0
        self.ready = threading.Event()

    def evaluate_once(self) -> None:
        """One evaluation; a failure is counted and the previous results stay exported."""
        from sre_cli.slo.batch import evaluate

        began = time.monotonic()
        try:
            with self.client() as prom:
                report = evaluate(self.slos, prom, self.at, tiers=self.tiers, burn_down=False)
        except AquaError as exc:
            with self._lock:
                self.evaluations += 1
                self.errors += 1
                self.last_error = exc.message
            return
        series = render(report)
        with self._lock:
            self.evaluations += 1
            self._series = series
            self._last = time.time()
            self._duration = time.monotonic() - began
        self.ready.set()

    def metrics_text(self) -> str:
        with self._lock:
            own = [
                "# HELP aqua_slo_evaluations_total Evaluation rounds run.",
                "# TYPE aqua_slo_evaluations_total counter",
                f"aqua_slo_evaluations_total {self.evaluations}",
                "# HELP aqua_slo_evaluation_errors_total Rounds that could not evaluate.",
                "# TYPE aqua_slo_evaluation_errors_total counter",
                f"aqua_slo_evaluation_errors_total {self.errors}",
                "# HELP aqua_slo_last_evaluation_timestamp_seconds End of the last good round.",
                "# TYPE aqua_slo_last_evaluation_timestamp_seconds gauge",
                f"aqua_slo_last_evaluation_timestamp_seconds {_number(self._last)}",
                "# HELP aqua_slo_evaluation_duration_seconds Length of the last good round.",
                "# TYPE aqua_slo_evaluation_duration_seconds gauge",
                f"aqua_slo_evaluation_duration_seconds {_number(self._duration)}",
            ]
            return "\n".join([*self._series, *own]) + "\n"

    def authorized(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), self.token)


def _handler(exporter: Exporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: str, kind: str = "text/plain; charset=utf-8") -> None:
            reply(self, code, body, kind, "aqua slo serve")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/live":
                self._send(200, "ok\n")
            elif path == "/ready":
                ready = exporter.ready.is_set()
                self._send(200 if ready else 503, "ready\n" if ready else "no evaluation yet\n")
            elif path == "/metrics":
                if not exporter.authorized(self.headers.get("Authorization")):
                    self._send(401, "bearer token required\n")
                else:
                    self._send(200, exporter.metrics_text(), "text/plain; version=0.0.4")
            else:
                self._send(404, "not found: /metrics, /live, /ready\n")

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would flood the terminal

    return Handler


def serve(
    exporter: Exporter,
    host: str,
    port: int,
    interval: float,
    *,
    started: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve ``/metrics`` on ``host:port`` and evaluate every ``interval`` seconds until
    ``stop`` is set (or the process is interrupted)."""
    server = ThreadingHTTPServer((host, port), _handler(exporter))
    server.daemon_threads = True
    stopping = stop or threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    if started is not None:
        started(f"http://{host}:{server.server_address[1]}")
    try:
        while not stopping.is_set():
            exporter.evaluate_once()
            stopping.wait(interval)
    finally:
        server.shutdown()
        server.server_close()
