"""The stack agent's webhook and exposition under hostile input: a fuzz test.

Whatever is POSTed to ``/alerts``, the agent answers (200 or 400, never a dropped connection)
and ``/metrics`` stays parseable by Prometheus' own text parser, with every status it counted
read back unchanged.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from sre_cli.stack.agent import Agent, agent_handler, escape_label
from sre_cli.stack.spec import Ports, StackPlan, StateLayout


@pytest.fixture(scope="module")
def agent_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("agent")
    layout = StateLayout(root)
    plan = StackPlan(lite=True, api_replicas=1, workers=0, ports=Ports(), components=())
    layout.plan_file.write_text(plan.model_dump_json(), encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), agent_handler(Agent(layout)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _counts(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "aqua_stack_alert_notifications_total":
                counts[sample.labels["status"]] = sample.value
    return counts


def test_escape_label() -> None:
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(status=st.text(max_size=80))
def test_any_status_keeps_metrics_parseable(agent_url: str, status: str) -> None:
    before = _counts(agent_url)
    r = httpx.post(f"{agent_url}/alerts", json={"status": status, "alerts": []}, timeout=10)
    assert r.status_code == 200
    after = _counts(agent_url)
    counted = status[:64] if status[:64] in after else "other"
    assert after[counted] == before.get(counted, 0) + 1
    assert len(after) <= 16


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_body_gets_an_answer(agent_url: str, body: bytes) -> None:
    r = httpx.post(f"{agent_url}/alerts", content=body, timeout=10)
    try:
        ok = isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        ok = False
    assert r.status_code == (200 if ok else 400)


@pytest.mark.parametrize(
    "length", [b"abc", b"-5", b"1e3", b"\xd9\xa3", b"99999999999999999999", b""]
)
def test_a_bad_content_length_is_400(agent_url: str, length: bytes) -> None:
    port = int(agent_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}")
        answer = s.recv(4096)
    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400")), answer
    assert httpx.get(f"{agent_url}/health", timeout=10).status_code == 200


def test_deeply_nested_json_is_400(agent_url: str) -> None:
    r = httpx.post(f"{agent_url}/alerts", content=b"[" * 100_000, timeout=10)
    assert r.status_code == 400
