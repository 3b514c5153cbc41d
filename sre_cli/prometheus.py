"""The one Prometheus client of aqua: slo, capacity, runbook and chaos probes all query
through it (instant and range queries, metadata), and :func:`connect` is the one place a
``--prometheus`` URL becomes a client, so auth, TLS and headers are added there once.

The transport is injectable (``httpx.MockTransport`` in unit tests); every request is counted
in :attr:`PrometheusClient.queries` so benchmarks can report it. Failures are typed::

    with PrometheusClient("http://127.0.0.1:9090") as prom:
        [sample] = prom.query('sum(increase(http_requests_total[30d]))', at=1_700_000_000)
        sample.value                 # float
    # unreachable server -> Unavailable (exit 2); a query Prometheus rejects -> QueryError
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from sre_cli.errors import Unavailable, UsageError

__all__ = ["PrometheusClient", "QueryError", "Sample", "Series", "connect"]


class QueryError(UsageError):
    """Prometheus rejected a query (it does not parse, or cannot be evaluated)."""

    def __init__(self, message: str, *, query: str) -> None:
        super().__init__(f"{message}\n  query: {query}")
        self.query = query
        self.reason = message


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: parallel lists of unix times and values."""

    labels: dict[str, str]
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


class PrometheusClient:
    """Talks to one Prometheus server. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.queries = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, transport=transport, headers=headers
        )

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: Sequence[tuple[str, str]], query: str = "") -> Any:
        # Queries go in a form body (long PromQL), metadata look-ups in the URL (GET-only).
        with self._lock:  # the client is shared by the engine's worker threads
            self.queries += 1
        try:
            if path.endswith(("/query", "/query_range")):
                response = self._http.post(path, data=dict(params))
            else:
                response = self._http.get(path, params=list(params))
        except httpx.TimeoutException as exc:
            raise Unavailable(f"Prometheus at {self.url} timed out ({path})") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"Prometheus at {self.url} did not answer: {exc}",
                hint="check --prometheus and that the server is running",
            ) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise Unavailable(
                f"Prometheus at {self.url} answered HTTP {response.status_code} without JSON"
            ) from exc
        if body.get("status") != "success":
            kind, error = body.get("errorType", ""), body.get("error", "unknown error")
            if kind in {"bad_data", "execution"} and query:
                raise QueryError(f"Prometheus rejected the query: {error}", query=query)
            raise Unavailable(f"Prometheus at {self.url}: {kind or response.status_code}: {error}")
        return body["data"]

    def query(self, expr: str, at: float) -> list[Sample]:
        """Evaluate ``expr`` at unix time ``at``; a scalar comes back as one unlabeled sample."""
        data = self._get("/api/v1/query", [("query", expr), ("time", _ts(at))], expr)
        kind, result = data["resultType"], data["result"]
        if kind == "scalar":
            return [Sample({}, float(result[1]))]
        if kind != "vector":
            raise QueryError(f"expected an instant vector, got a {kind}", query=expr)
        return [Sample(dict(r["metric"]), float(r["value"][1])) for r in result]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """Evaluate ``expr`` at ``start``, ``start + step``, ... up to ``end``."""
        params = [("query", expr), ("start", _ts(start)), ("end", _ts(end)), ("step", _ts(step))]
        data = self._get("/api/v1/query_range", params, expr)
        if data["resultType"] != "matrix":
            raise QueryError(f"expected a range vector, got a {data['resultType']}", query=expr)
        return [
            Series(
                dict(r["metric"]),
                [float(t) for t, _ in r["values"]],
                [float(v) for _, v in r["values"]],
            )
            for r in data["result"]
        ]

    def series(self, match: str, start: float, end: float) -> list[dict[str, str]]:
        """Label sets of the series that ``match`` selects between ``start`` and ``end``."""
        params = [("match[]", match), ("start", _ts(start)), ("end", _ts(end))]
        return [dict(s) for s in self._get("/api/v1/series", params, match)]

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        """Values of ``label`` among series matching ``match``."""
        params = [("match[]", match), ("start", _ts(start)), ("end", _ts(end))]
        return [str(v) for v in self._get(f"/api/v1/label/{label}/values", params, match)]


def connect(url: str | None, *, timeout: float = 30.0) -> PrometheusClient:
    """The client for a ``--prometheus`` URL (or ``$AQUA_PROMETHEUS_URL``); a UsageError
    without one. Credentials, CA bundles and extra headers belong here when they come."""
    if not url:
        raise UsageError("--prometheus URL is required", hint="or set AQUA_PROMETHEUS_URL")
    return PrometheusClient(url, timeout=timeout)


def _ts(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError("time must be finite")
    return f"{value:.3f}".rstrip("0").rstrip(".")
