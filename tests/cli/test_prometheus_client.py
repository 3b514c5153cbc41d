"""The Prometheus client's retry and warning logic, at the transport boundary it owns.

``tests/cli/test_prometheus_auth.py`` runs the same client against a real Prometheus behind
nginx; here an ``httpx.MockTransport`` plays answers that a real server gives only by chance
(429 with ``Retry-After``, warnings in a successful answer).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sre_cli.errors import Unavailable
from sre_cli.prometheus import ClientSettings, PrometheusClient, load_settings

OK = {"status": "success", "data": {"resultType": "vector", "result": []}}


def _client(
    answers: list[httpx.Response], settings: ClientSettings, sleeps: list[float]
) -> tuple[PrometheusClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    client = PrometheusClient(
        "http://prom.test",
        transport=httpx.MockTransport(handler),
        settings=settings,
        sleep=sleeps.append,
    )
    return client, seen


def test_429_waits_as_the_server_asks_within_the_bound() -> None:
    sleeps: list[float] = []
    answers = [
        httpx.Response(429, headers={"retry-after": "60"}),
        httpx.Response(502),
        httpx.Response(200, json=OK),
    ]
    settings = ClientSettings(retries=3, backoff=0.5, max_backoff=4.0)
    client, seen = _client(answers, settings, sleeps)
    assert client.query("up", at=0) == []
    assert sleeps == [4.0, 1.0]  # Retry-After capped at max_backoff; then 0.5 * 2**1
    assert [r.method for r in seen] == ["POST"] * 3


def test_retries_are_bounded() -> None:
    sleeps: list[float] = []
    client, seen = _client([httpx.Response(503)] * 3, ClientSettings(retries=2), sleeps)
    with pytest.raises(Unavailable, match="HTTP 503"):
        client.query("up", at=0)
    assert (len(seen), len(sleeps)) == (3, 2)


def test_a_400_is_not_retried() -> None:
    sleeps: list[float] = []
    bad = {"status": "error", "errorType": "bad_data", "error": "parse error"}
    client, seen = _client([httpx.Response(400, json=bad)], ClientSettings(), sleeps)
    with pytest.raises(Exception, match="parse error"):
        client.query("up(", at=0)
    assert (len(seen), sleeps) == (1, [])


def test_warnings_reach_the_sink_once_each() -> None:
    got: list[str] = []
    body = {**OK, "warnings": ["remote read of store-2 failed", "remote read of store-2 failed"]}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with PrometheusClient(
        "http://prom.test", transport=httpx.MockTransport(handler), on_warning=got.append
    ) as client:
        client.query("up", at=0)
        client.query("up", at=1)
    assert got == ["remote read of store-2 failed"]


def test_headers_and_bearer_token_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "from-env")
    config = tmp_path / "prom.yaml"
    config.write_text(
        "headers: {X-Scope-OrgID: tenant-1}\nauthorization: {credentials_env: PROM_TOKEN}\n"
        "timeout: 2s\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.timeout == 2.0
    assert "from-env" not in repr(settings)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    with PrometheusClient(
        "http://prom.test", transport=httpx.MockTransport(handler), settings=settings
    ) as client:
        client.query("up", at=0)
    assert seen[0].headers["authorization"] == "Bearer from-env"
    assert seen[0].headers["x-scope-orgid"] == "tenant-1"
