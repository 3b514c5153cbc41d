"""The server's side of the verdict: the service's own SLIs over the run, from Prometheus.

The client measures what it saw; the service measures what it served. After the run, the
SLOs of the service (``slo/api.yaml`` by default: the same files ``aqua slo`` reads) are
evaluated by the ``slo`` engine over a rolling window as long as the run, at the first
Prometheus scrape after it ended. Each SLO passes when its SLI meets its objective. Beside
it, the client's figure for the same SLI (requests without a 5xx or a missing answer; the
share of service times within the latency threshold): when the two differ by more than
:data:`DISAGREE` (5 points), or one passes where the other fails, the report flags it — a
proxy that times out, a queue in front of the service, a clock or a scrape that missed the
load.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sre_cli.defaults import shipped
from sre_cli.errors import Unavailable
from sre_cli.loadtest.results import LoadReport, ThresholdResult
from sre_cli.timespec import rfc3339

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.spec import SLO

__all__ = ["DEFAULT_SLO_PATH", "DISAGREE", "ServerSLO", "judge_server"]

#: The API's SLOs of the reference stack, relative to the shipped files.
DEFAULT_SLO_PATH = "slo/api.yaml"
DISAGREE = 0.05


@dataclass(frozen=True)
class ServerSLO:
    id: str
    objective: float  # fraction
    server_sli: float | None
    client_sli: float | None

    @property
    def passed(self) -> bool:
        return self.server_sli is not None and self.server_sli >= self.objective - 1e-12

    @property
    def agree(self) -> bool:
        if self.client_sli is None:
            return True
        if self.server_sli is None:
            return False
        client_passed = self.client_sli >= self.objective - 1e-12
        close = abs(self.server_sli - self.client_sli) <= DISAGREE
        return close and client_passed == self.passed

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {
            "slo": self.id,
            "objective": self.objective,
            "server_sli": r(self.server_sli),
            "client_sli": r(self.client_sli),
            "passed": self.passed,
            "agree": self.agree,
        }


def _client_sli(slo: SLO, report: LoadReport) -> float | None:
    if report.requests == 0:
        return None
    if slo.sli.latency is not None:
        return report.share_within(slo.sli.latency.threshold * 1000.0)
    query = slo.sli.error_query or ""
    if 'status=~"5..' in query:
        return 1.0 - report.server_errors / report.requests
    return None


def _wait_for_scrape(prom: PrometheusClient, after: float, timeout: float = 30.0) -> float:
    """The time of the first scrape of the API that began after ``after``."""
    deadline = time.monotonic() + timeout
    while True:
        samples = prom.query('max(timestamp(up{job="api"}))', time.time())
        newest = samples[0].value if samples else math.nan
        if math.isfinite(newest) and newest >= after:
            return float(math.ceil(newest))
        if time.monotonic() > deadline:
            raise Unavailable(
                f"Prometheus at {prom.url} has not scraped the API since the run ended",
                hint='is job="api" in its scrape config?',
            )
        time.sleep(0.5)


def judge_server(
    prometheus: str,
    report: LoadReport,
    slo_paths: list[Path] | None = None,
    config: Path | None = None,
) -> tuple[dict[str, Any], list[ThresholdResult], list[str]]:
    """The ``server`` JSON, one check per SLO for the verdict, and notes on disagreements."""
    from sre_cli.prometheus import connect
    from sre_cli.slo.batch import evaluate
    from sre_cli.slo.loader import load_slos
    from sre_cli.slo.windows import Window

    slos = [s for s in load_slos(slo_paths or [shipped(DEFAULT_SLO_PATH)]) if s.service == "api"]
    started, ended = report.started_at, report.started_at + report.elapsed_s
    with connect(prometheus, config=config, timeout=10.0) as prom:
        at = _wait_for_scrape(prom, ended)
        span = timedelta(seconds=max(10, math.ceil(at - started)))
        windowed = [s.model_copy(update={"window": Window(rolling=span)}) for s in slos]
        result = evaluate(windowed, prom, at, tiers=(), burn_down=False)
    rows = []
    for slo, r in zip(slos, result.results, strict=True):
        rows.append(ServerSLO(slo.id, slo.objective / 100.0, r.sli, _client_sli(slo, report)))
    checks = [
        ThresholdResult(
            f"server {row.id}", row.objective, round(row.server_sli or 0.0, 6), row.passed, ">="
        )
        for row in rows
    ]
    notes = []
    for row in rows:
        if row.server_sli is None:
            notes.append(f"server {row.id}: Prometheus has no data for the run's window")
        elif not row.agree:
            notes.append(
                f"client and server disagree on {row.id}: client {row.client_sli:.4f}, "
                f"server {row.server_sli:.4f} (objective {row.objective:g})"
            )
    body = {
        "prometheus": prometheus,
        "window_s": span.total_seconds(),
        "evaluated_at": rfc3339(at),
        "slos": [row.to_json() for row in rows],
        "agree": all(row.agree for row in rows),
    }
    return body, checks, notes
