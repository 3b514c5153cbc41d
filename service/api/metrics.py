"""Prometheus metrics of the API service, in a registry of its own (one per app instance).

``route`` labels hold the route template (``/api/v1/ponds/{pond_id}``), never the raw path,
so a scan of ids cannot blow up the series count; unmatched paths are ``<unmatched>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from service.data.db import PoolStats

UNMATCHED_ROUTE = "<unmatched>"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class _PoolCollector:
    """Reads the pool's state at scrape time."""

    def __init__(self, stats: Callable[[], PoolStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        stats = self._stats()
        size = GaugeMetricFamily("db_pool_size", "Configured connections kept in the pool.")
        size.add_metric([], stats.size)
        conns = GaugeMetricFamily(
            "db_pool_connections", "Connections of the pool by state.", labels=["state"]
        )
        conns.add_metric(["checked_out"], stats.checked_out)
        conns.add_metric(["idle"], stats.idle)
        conns.add_metric(["overflow"], stats.overflow)
        return [size, conns]


class _BreakerCollector:
    """``circuit_breaker_state{dependency,state}``: 1 for the current state, read at scrape time
    (an open breaker turns half-open by the clock, without an event to hook)."""

    STATES = ("closed", "open", "half_open")

    def __init__(self, dependency: str, state: Callable[[], str]) -> None:
        self._dependency = dependency
        self._state = state

    def collect(self) -> Iterable[Metric]:
        current = self._state()
        family = GaugeMetricFamily(
            "circuit_breaker_state",
            "Circuit breaker of a dependency: 1 for its current state.",
            labels=["dependency", "state"],
        )
        for state in self.STATES:
            family.add_metric([self._dependency, state], 1 if state == current else 0)
        return [family]


class ApiMetrics:
    """Every metric the service exports."""

    def __init__(self, pool_stats: Callable[[], PoolStats] | None = None) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being answered.", registry=r
        )
        self.dependency_up = Gauge(
            "dependency_up",
            "1 when the dependency answered its last check or call.",
            ["dependency"],
            registry=r,
        )
        self.cache_hits = Counter(
            "cache_hits_total", "Cache lookups that hit.", ["cache"], registry=r
        )
        self.cache_misses = Counter(
            "cache_misses_total",
            "Cache lookups that missed (or found the cache down).",
            ["cache"],
            registry=r,
        )
        self.hot_path_answers = Counter(
            "summary_hot_path_answers_total",
            "Summary requests answered (200 or 429) by the hot path, before FastAPI's routing.",
            registry=r,
        )
        self.rate_limited = Counter(
            "rate_limited_requests_total", "Requests refused with 429.", registry=r
        )
        self.draining = Gauge("service_draining", "1 once shutdown began.", registry=r)
        self.fault_rules = Gauge(
            "fault_injection_rule",
            "Active fault rules: added latency (s) and error rate.",
            ["route", "kind"],
            registry=r,
        )
        self.fault_changes = Counter(
            "fault_injection_changes_total", "Changes to the fault rules.", ["action"], registry=r
        )
        self.faults_injected = Counter(
            "fault_injection_injected_total",
            "Faults applied to requests.",
            ["route", "kind"],
            registry=r,
        )
        self.forecasts = Counter(
            "forecast_requests_total",
            "On-demand forecasts by outcome: ok, not_enough_data, rejected, unavailable, "
            "circuit_open, not_configured.",
            ["outcome"],
            registry=r,
        )
        self.ml_call_duration = Histogram(
            "ml_call_duration_seconds",
            "Time of one on-demand forecast's ML call, retries included.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        if pool_stats is not None:
            r.register(_PoolCollector(pool_stats))
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._duration_children: dict[tuple[str, str], Histogram] = {}

    def observe_request(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        exemplar: dict[str, str] | None = None,
    ) -> None:
        """Count and time one request; ``exemplar`` (a sampled trace id) links its bucket to
        the trace."""
        key = (method, route, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(method, route, str(status))
        counter.inc()
        dkey = (method, route)
        hist = self._duration_children.get(dkey)
        if hist is None:
            hist = self._duration_children[dkey] = self.duration.labels(method, route)
        hist.observe(seconds, exemplar)

    def set_dependency(self, name: str, up: bool) -> None:
        self.dependency_up.labels(name).set(1 if up else 0)

    def watch_breaker(self, dependency: str, state: Callable[[], str]) -> None:
        """Export a circuit breaker's state (``state()`` returns closed, open or half_open)."""
        self.registry.register(_BreakerCollector(dependency, state))

    def render(self) -> bytes:
        return generate_latest(self.registry)
