"""Live metrics for the dashboards: the API's, the worker's and the ML service's own metric
classes (service/), fed steady synthetic traffic by a thread and served on loopback in the
text format, and a real Prometheus scraping them every second with the shipped recording rules.

Every series a shipped panel reads exists, so every panel has data once Prometheus holds two
scrapes and the rules ran (``wait_until_drawn`` polls for it)::

    with live_metrics() as live:
        prom = prometheus_factory(live.prometheus_config())
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from service.api.metrics import ApiMetrics
from service.data.db import PoolStats
from service.ml.runtime import MLMetrics
from service.pipeline.metrics import WorkerMetrics

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "manifests" / "monitoring" / "rules"
ROUTES = ("/api/v1/ponds", "/api/v1/ponds/{pond_id}/readings", "/api/v1/forecasts")
TOPICS = ("sensor-readings", "forecast-jobs")


@contextmanager
def live_metrics() -> Iterator[LiveMetrics]:
    """Exporters serving and traffic flowing inside the block."""
    live = LiveMetrics()
    live.start()
    try:
        yield live
    finally:
        live.close()


class LiveMetrics:
    """Four exporters (api, ml, worker, the stack agent's readiness gauge) and their traffic."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.api = ApiMetrics(
            pool_stats=lambda: PoolStats(size=5, checked_out=2, overflow=0, idle=3)
        )
        self.worker = WorkerMetrics()
        self.ml = MLMetrics(CollectorRegistry())
        self.stack = CollectorRegistry()
        self.ready = Gauge(
            "aqua_stack_component_ready", "ready", ["component", "kind"], registry=self.stack
        )
        self.servers: dict[str, WSGIServer] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="live-traffic", daemon=True)

    def start(self) -> None:
        registries = {
            "api": self.api.registry,
            "ml": self.ml.registry,
            "worker": self.worker.registry,
            "stack": self.stack,
        }
        for job, registry in registries.items():
            server, _ = start_http_server(0, "127.0.0.1", registry)
            self.servers[job] = server
        self.tick()
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def prometheus_config(self) -> str:
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{server.server_port}']\n"
            for job, server in self.servers.items()
        )
        return (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {RULES / 'recording.yml'}\n  - {RULES / 'slo.yml'}\n"
            f"scrape_configs:\n{jobs}"
        )

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            self.tick()

    def tick(self) -> None:
        """One tenth of a second of traffic through every service."""
        r = self.random
        for route in ROUTES:
            for _ in range(5):
                status = 500 if r.random() < 0.02 else 200
                self.api.observe_request("GET", route, status, r.lognormvariate(-3.5, 0.6))
        self.api.in_flight.set(r.randint(0, 4))
        for dependency in ("database", "redis", "ml"):
            self.api.set_dependency(dependency, True)
        for topic in TOPICS:
            self.worker.processed.labels(topic).inc(r.randint(5, 10))
            self.worker.failed.labels(topic).inc(1 if r.random() < 0.1 else 0)
            self.worker.batch_seconds.labels(topic).observe(r.uniform(0.005, 0.05))
            self.worker.end_to_end.labels(topic).observe(r.uniform(0.05, 2.0))
            for partition in range(3):
                self.worker.lag.labels(topic, str(partition)).set(r.randint(0, 30))
            self.worker.assigned.labels(topic).set(3)
        for dependency in ("database", "kafka", "ml"):
            self.worker.dependency_up.labels(dependency).set(1)
        for pond in range(1, 4):
            self.worker.crash_risk.labels(str(pond)).set(r.uniform(0.0, 0.4))
        for _ in range(4):
            self.ml.ok.inc()
            self.ml.request_seconds.observe(r.uniform(0.002, 0.04))
            self.ml.forward(r.choice((1, 2, 4, 8)), r.uniform(0.001, 0.01))
            self.ml.forecasts.inc()
        self.ml.queue_depth(r.randint(0, 3))
        for component, kind in (("api-1", "api"), ("worker-1", "worker"), ("ml", "ml")):
            self.ready.labels(component, kind).set(1)
