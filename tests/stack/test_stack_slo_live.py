"""`aqua slo` against a live stack: its own Prometheus, real traffic through nginx, a real outage.

The full stack runs with fault injection allowed and its API replicas scraped every second;
until a rule targets the summary route its hot path answers cached summaries, so the healthy
phase measures the shortcut end to end.
Seeded traffic flows through nginx; then the shipped SLO specs are reported and gated by the
real CLI (a subprocess, for the exit codes). An admin fault (every summary request answers 500)
makes the API availability SLO page and fail the gate.

What the numbers are checked against is the replicas' own ``/metrics``. Counters keep moving
(Prometheus scrapes ``/metrics``, probes call ``/live`` and ``/ready``, all counted under
``job="api"``), so each comparison is bracketed rather than taken at one instant: read the
replicas (``before``), wait until Prometheus holds a few scrapes of every replica started after
that read, evaluate at a whole second ``at`` that includes them, read the replicas again
(``after``). Then for every
series Prometheus's last sample lies between the two reads, and equals them exactly for the
series the traffic drove once it has stopped (the 5xx series: exactly the 500s the client got).

``events`` are PromQL ``increase()`` over the window, so they cannot equal a count exactly: per
series, increase() is the growth between the first and the last sample Prometheus has,
extrapolated at both ends (``extrapolatedRate``): backwards at most to the counter's zero, i.e.
by at most the first sample; forwards by at most 1.1 average sample spacings. A series' requests
before its first scrape are invisible to it (a series with one sample has no increase at all).
Summed over the SLO's series, with the replicas' reads bracketing the last samples::

    before - unseen  <=  events  <=  after + sum(1.1 * (last - first) / (samples - 1))

where ``unseen`` is the first sample of every series (all of a single-sample one). Both sides
come from the replicas' reads and the very samples the report used (same instant), so the bound
is exact in what it allows and cannot flake on timing; flat samples after the traffic (a few
scrapes are awaited) keep the extrapolation term small, and the 500s are sent once their series
have been scraped, so almost none of them are unseen.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cli_runner import run_aqua
from json_schema import assert_matches_schema
from prometheus_client.parser import text_string_to_metric_families
from stack.stack_harness import Stack, make_stack, require_full_stack

from sre_cli.stack.configs import monitoring_dir
from sre_cli.timespec import rfc3339

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

REPO = Path(__file__).resolve().parents[2]
SLO_DIR = REPO / "slo"
API_SPEC = SLO_DIR / "api.yaml"
FAULT_ROUTE = "/api/v1/ponds/{pond_id}/summary"
#: the API job's scrape interval in this test (the shipped config scrapes every 5 s).
API_SCRAPE = "1s"
FAULTED_REQUESTS = 120

#: the SLOs count users' requests only: probes and scrapes (/live, /ready, /metrics) are not traffic
USER_ROUTES = "/api/.+"

#: one counter series: (instance, method, route, status)
Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class Samples:
    """Raw samples of one series as Prometheus stored them: times (s) and values."""

    times: list[float]
    values: list[float]

    @property
    def first(self) -> float:
        return self.values[0]

    @property
    def last(self) -> float:
        return self.values[-1]


@dataclass(frozen=True)
class Settled:
    """Replica counters read before and after a scrape, and Prometheus's samples at ``at``."""

    at: int
    before: dict[Key, float]
    after: dict[Key, float]
    samples: dict[Key, Samples]


def _fast_api_scrapes(dest: Path) -> Path:
    """The shipped monitoring manifests, with the API job scraped every ``API_SCRAPE``."""
    shutil.copytree(monitoring_dir(), dest)
    config = yaml.safe_load((dest / "prometheus.yml").read_text())
    (api_job,) = [j for j in config["scrape_configs"] if j["job_name"] == "api"]
    api_job["scrape_interval"] = api_job["scrape_timeout"] = API_SCRAPE
    (dest / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    require_full_stack()
    monitoring = _fast_api_scrapes(tmp_path / "monitoring")
    yield from make_stack(tmp_path, env={"AQUA_MONITORING_DIR": str(monitoring)})


# --- the replicas, Prometheus and the CLI -----------------------------------------------------


def _api_ports(stack: Stack) -> list[int]:
    return [c["port"] for c in stack.plan()["components"] if c["kind"] == "api"]


def _prometheus_url(stack: Stack) -> str:
    (prom,) = [c for c in stack.plan()["components"] if c["kind"] == "prometheus"]
    return str(prom["url"])


def _direct_counts(stack: Stack) -> dict[Key, float]:
    """``http_requests_total`` of users' routes as each API replica exports it on its own
    ``/metrics``."""
    out: dict[Key, float] = {}
    for port in _api_ports(stack):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "http_requests_total" and re.fullmatch(USER_ROUTES, s.labels["route"]):
                    key = (f"127.0.0.1:{port}", s.labels["method"], s.labels["route"])
                    out[(*key, s.labels["status"])] = s.value
    return out


def _hot_path_answers(stack: Stack) -> float:
    """``summary_hot_path_answers_total`` summed over the API replicas."""
    total = 0.0
    for port in _api_ports(stack):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "summary_hot_path_answers_total":
                    total += s.value
    return total


def _prom_samples(stack: Stack, at: int) -> dict[Key, Samples]:
    """Every raw sample of the SLO's selector in its 30d window, as the report reads it."""
    selector = f'http_requests_total{{job="api",route=~"{USER_ROUTES}"}}[30d]'
    query = urllib.parse.urlencode({"query": selector, "time": at})
    body = httpx.get(f"{_prometheus_url(stack)}/api/v1/query?{query}", timeout=30).json()
    assert body["status"] == "success", body
    out = {}
    for r in body["data"]["result"]:
        m = r["metric"]
        key = (m["instance"], m["method"], m["route"], m["status"])
        out[key] = Samples([float(t) for t, _ in r["values"]], [float(v) for _, v in r["values"]])
    return out


def _settle(stack: Stack, tail: int = 3, timeout: float = 30) -> Settled:
    """Bracket Prometheus's view between two reads of the replicas (see the module docstring).

    Waits for ``tail`` scrapes of every series after the first read: once traffic has stopped,
    flat samples shrink the extrapolation past the last one (the average step it uses).
    """
    before = _direct_counts(stack)
    read_done = time.time()
    instances = {f"127.0.0.1:{p}" for p in _api_ports(stack)}
    at = math.ceil(read_done) + tail
    deadline = time.monotonic() + timeout
    while True:
        # A scrape stamped at or before `at` has been answered and stored a second later.
        time.sleep(max(0.0, at + 1.5 - time.time()))
        samples = _prom_samples(stack, at)
        fresh = {k: sum(t > read_done for t in s.times) for k, s in samples.items()}
        if {k[0] for k in samples} == instances and min(fresh.values()) >= tail:
            break
        assert time.monotonic() < deadline, f"fewer than {tail} scrapes after {read_done}: {fresh}"
        at += 1
    return Settled(at, before, _direct_counts(stack), samples)


def _aqua_slo(*args: str) -> subprocess.CompletedProcess[str]:
    return run_aqua("slo", *args, timeout=120, env={"NO_COLOR": "1"})


def _report(stack: Stack, at: int) -> dict[str, dict[str, Any]]:
    done = _aqua_slo(
        "report",
        str(SLO_DIR),
        "--prometheus",
        _prometheus_url(stack),
        "--at",
        str(at),
        "-f",
        "json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert_matches_schema("slo-report", report)
    assert report["evaluated_at"] == rfc3339(at)
    return {f"{s['service']}/{s['name']}": s for s in report["slos"]}


def _availability_spec() -> Path:
    """The shipped API spec with only its availability SLO.

    The gate here is about errors; whether 95 % of requests on a loaded 2-core test machine
    finish within 100 ms is not what this test checks, and must not decide its verdict.
    """
    import tempfile

    import yaml

    doc = yaml.safe_load(API_SPEC.read_text())
    doc["slos"] = [s for s in doc["slos"] if s["name"] == "availability"]
    assert len(doc["slos"]) == 1
    path = Path(tempfile.mkdtemp(prefix="aqua-slo-live-")) / "api-availability.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _gate(stack: Stack, at: int) -> subprocess.CompletedProcess[str]:
    spec = _availability_spec()
    return _aqua_slo("gate", str(spec), "--prometheus", _prometheus_url(stack), "--at", str(at))


# --- the checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """What the replicas counted and the range of ``increase()`` it allows."""

    direct_before: float
    direct_after: float
    unseen: float
    extrapolation: float

    @property
    def low(self) -> float:
        return self.direct_before - self.unseen

    @property
    def high(self) -> float:
        return self.direct_after + self.extrapolation


def _check_events(
    events: float, settled: Settled, series: Mapping[Key, Samples], what: str
) -> Bounds:
    """``events`` (the report's increase() of ``series``) agrees with the replicas' counts."""
    assert set(settled.before) <= set(settled.samples), "a series the replicas export is unscraped"
    for key, s in series.items():
        assert s.values == sorted(s.values), f"{key} was reset: a replica restarted"
        # Prometheus's last sample is what the replicas exported between the two reads.
        assert settled.before.get(key, 0.0) <= s.last <= settled.after[key], (key, s.last)
    bounds = Bounds(
        direct_before=math.fsum(settled.before.get(k, 0.0) for k in series),
        direct_after=math.fsum(settled.after[k] for k in series),
        # counted before the first sample (a series with one sample has no increase at all)
        unseen=math.fsum(s.first if len(s.values) >= 2 else s.last for s in series.values()),
        extrapolation=math.fsum(
            1.1 * (s.last - s.first) / (len(s.values) - 1)
            for s in series.values()
            if len(s.values) >= 2
        ),
    )
    assert bounds.low - 1e-6 <= events <= bounds.high + 1e-6, f"{what}: {events} not in {bounds}"
    return bounds


def _wait_for_rules(stack: Stack, token: str, want: list[dict[str, Any]]) -> None:
    """Every replica applies ``want`` (rules spread through Redis within a second)."""
    deadline = time.monotonic() + 20
    for port in _api_ports(stack):
        while True:
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/admin/faults",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            rules = [{k: rule[k] for k in ("route", "error_rate")} for rule in r.json()["rules"]]
            if rules == want:
                break
            assert time.monotonic() < deadline, f"replica :{port} has rules {rules}, not {want}"
            time.sleep(0.2)


def _faulted_traffic(
    stack: Stack, client: httpx.Client, ponds: list[int]
) -> tuple[Counter[int], int]:
    """``FAULTED_REQUESTS`` summary requests through nginx, answered by the injected fault;
    returns the status codes seen and how many requests primed the 500 series.

    Prometheus counts a series' growth from its first sample on: what a brand-new series counted
    before its first scrape is invisible to increase(). So the first few errors only create the
    500 series on every replica; the rest are sent once Prometheus has scraped those series.
    """
    seen: Counter[int] = Counter()
    replicas = len(_api_ports(stack))

    def send() -> None:
        pond = ponds[sum(seen.values()) % len(ponds)]
        seen[client.get(f"/api/v1/ponds/{pond}/summary").status_code] += 1

    while len({k[0] for k in _direct_counts(stack) if k[3] == "500"}) < replicas:
        assert sum(seen.values()) < 20, f"nginx sends every request to one replica: {seen}"
        send()
    query = urllib.parse.urlencode({"query": 'count(http_requests_total{job="api",status="500"})'})
    deadline = time.monotonic() + 20
    while True:
        result = httpx.get(f"{_prometheus_url(stack)}/api/v1/query?{query}", timeout=10).json()
        if [float(r["value"][1]) for r in result["data"]["result"]] == [replicas]:
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.2)
    primed = sum(seen.values())
    while sum(seen.values()) < FAULTED_REQUESTS:
        send()
    return seen, primed


# --- the scenario -------------------------------------------------------------------------------


def test_slo_report_and_gate_follow_live_traffic_and_an_injected_outage(stack: Stack) -> None:
    started = time.monotonic()
    stack.up("--api-replicas", "2", "--faults")
    entry = f"http://127.0.0.1:{stack.base}"  # nginx

    # 1. Healthy traffic through nginx, then the report of every shipped SLO.
    done = stack.aqua("seed", "--traffic", "10", "--rate", "25", timeout=180)
    assert "failures: 0" in " ".join(done.stdout.split()), done.stdout
    healthy = _settle(stack)
    slos = _report(stack, healthy.at)
    assert {"api/availability", "api/latency"} <= set(slos), sorted(slos)
    avail = slos["api/availability"]
    assert avail["sli"] is not None, avail
    assert avail["events"]["total"] > 0, avail
    assert avail["sli"] == 1.0, avail
    assert avail["events"]["bad"] == 0, avail
    assert avail["status"] == "ok", avail
    assert avail["alerts"] == {"page": False, "ticket": False}, avail
    assert not any(k[3].startswith("5") for k in healthy.after), "a 5xx before any fault"
    # Fault injection is allowed but no rule is set: the summary hot path answered part of the
    # traffic the report counts, so the SLO figures cover it end to end.
    assert _hot_path_answers(stack) > 0
    total = _check_events(avail["events"]["total"], healthy, healthy.samples, "total")
    # The comparison means something: Prometheus saw most of what the replicas counted.
    assert total.unseen < total.direct_before / 3, total
    healthy_total = avail["events"]["total"]

    gate = _gate(stack, healthy.at)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "SLO gate passed" in gate.stdout

    # 2. The admin makes every pond summary fail; clients through nginx see the 500s.
    token = stack.admin_token(entry)
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.get(f"{entry}/api/v1/ponds", headers=auth, timeout=30)
    ponds = [p["id"] for p in r.json()["items"]]
    assert ponds, r.text
    rule = {"route": FAULT_ROUTE, "error_rate": 1.0, "error_status": 500}
    r = httpx.put(f"{entry}/api/v1/admin/faults", json=rule, headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    try:
        _wait_for_rules(stack, token, [{"route": FAULT_ROUTE, "error_rate": 1.0}])
        with httpx.Client(base_url=entry, headers=auth, timeout=30) as client:
            seen, primed = _faulted_traffic(stack, client, ponds)
        assert seen == {500: FAULTED_REQUESTS}, seen

        outage = _settle(stack)
        slos = _report(stack, outage.at)
        avail = slos["api/availability"]
        errors = {k: s for k, s in outage.samples.items() if k[3].startswith("5")}
        # Nothing else fails, and nginx does not retry a 500: the replicas counted exactly the
        # client's 500s, on the faulted route only, and Prometheus has the same counts.
        assert {k[2] for k in errors} == {FAULT_ROUTE}, sorted(errors)
        assert math.fsum(s.last for s in errors.values()) == FAULTED_REQUESTS
        bad = _check_events(avail["events"]["bad"], outage, errors, "bad")
        assert bad.unseen == primed, bad  # only the errors that created the series
        _check_events(avail["events"]["total"], outage, outage.samples, "total")
        assert avail["alerts"]["page"] is True, avail
        assert avail["burn_rates"]["5m"] > 14.4, avail
        assert avail["burn_rates"]["1h"] > 14.4, avail
        assert avail["status"] in ("warning", "breached"), avail

        gate = _gate(stack, outage.at)
        out = " ".join((gate.stdout + gate.stderr).split())
        assert gate.returncode == 1, out
        assert "SLO gate failed: api/availability:" in out, out
    finally:
        r = httpx.delete(f"{entry}/api/v1/admin/faults", headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        _wait_for_rules(stack, token, [])
    r = httpx.get(f"{entry}/api/v1/ponds/{ponds[0]}/summary", headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    print(
        f"live SLO scenario in {time.monotonic() - started:.1f}s: healthy total "
        f"{healthy_total:.1f} in [{total.low:.1f}, {total.high:.1f}]; outage bad "
        f"{avail['events']['bad']:.1f} in [{bad.low:.1f}, {bad.high:.1f}]"
    )
