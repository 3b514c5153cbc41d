"""Jaeger from the harness: OTLP in, the query API out, every listener on loopback."""

from __future__ import annotations

import json

import pytest
from infra_harness import require
from otlp_spans import SpanSpec, send, wait_for_trace

from sre_cli.infra import binaries
from sre_cli.infra.http import http_request, http_status
from sre_cli.infra.jaeger import JaegerServer

pytestmark = pytest.mark.integration


def test_a_span_sent_over_otlp_is_returned_by_the_query_api(jaeger_server: JaegerServer) -> None:
    trace_id, ids = send(
        jaeger_server.otlp_traces_url,
        [
            SpanSpec("infra-smoke", "feed pen 3", 0, 40, key="root"),
            SpanSpec("infra-smoke", "open valve", 5, 20, parent="root"),
        ],
    )
    wait_for_trace(jaeger_server.url, trace_id, spans=2)
    status, body = http_request(f"{jaeger_server.url}/api/traces/{trace_id}")
    assert status == 200
    [trace] = json.loads(body)["data"]
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert spans["open valve"]["references"][0]["spanID"] == ids["root"]
    assert spans["feed pen 3"]["duration"] == 40_000
    status, body = http_request(f"{jaeger_server.url}/api/services")
    assert "infra-smoke" in json.loads(body)["data"]


def test_listeners_are_on_loopback_ports_of_their_own(jaeger_server: JaegerServer) -> None:
    config = json.loads(jaeger_server.config_path.read_text())
    endpoints = [
        config["extensions"]["healthcheckv2"]["http"]["endpoint"],
        config["extensions"]["jaeger_query"]["http"]["endpoint"],
        config["extensions"]["jaeger_query"]["grpc"]["endpoint"],
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        config["receivers"]["otlp"]["protocols"]["http"]["endpoint"],
    ]
    assert all(e.startswith("127.0.0.1:") for e in endpoints)
    assert len(set(endpoints)) == len(endpoints)
    assert http_status(f"http://127.0.0.1:{jaeger_server.health_port}/status") == 200
    status, body = http_request(jaeger_server.metrics_url)
    assert status == 200
    assert b"otelcol_receiver_accepted_spans" in body or b"otelcol_process_uptime" in body


def test_version_is_the_pinned_one() -> None:
    from sre_cli.infra import versions

    require(binaries.jaeger)
    assert binaries.jaeger_version() == versions.jaeger_version().lstrip("v")
