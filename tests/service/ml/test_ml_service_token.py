"""The ML service answers only callers holding its service token (the API and the worker)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from service.ml.client import MLClient, MLUnavailable
from service.ml.dataset import EVAL_STREAM, generate
from service.ml.devserver import MLServer
from service.ml.payloads import forecast_request
from service.ml.settings import MLSettings

TOKEN = "a-service-token-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLServer]:
    token_file = tmp_path_factory.mktemp("ml") / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    with MLServer(env={"AQUA_ML_SERVICE_TOKEN_FILE": str(token_file)}) as srv:
        yield srv


@pytest.mark.integration
def test_only_the_service_token_is_accepted(server: MLServer) -> None:
    body = forecast_request(generate(1, 7, EVAL_STREAM)).model_dump_json()
    json = {"content-type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for headers in (
            {},
            {"authorization": "Bearer wrong"},
            {"authorization": f"Bearer {TOKEN}x"},
            {"authorization": TOKEN},
            {"authorization": f"Basic {TOKEN}"},
        ):
            for method, path in (
                ("POST", "/v1/forecast"),
                ("GET", "/v1/model"),
                ("GET", "/openapi.json"),
            ):
                r = c.request(method, path, content=body, headers={**json, **headers})
                assert r.status_code == 401, (method, path, headers)
                assert r.json() == {"detail": "missing or wrong service token"}
        # Probes and the scrape stay open.
        assert c.get("/live").status_code == 200
        assert c.get("/metrics").status_code == 200
        ok = c.post(
            "/v1/forecast", content=body, headers={**json, "authorization": f"Bearer {TOKEN}"}
        )
        assert ok.status_code == 200, ok.text

    async def call() -> None:
        async with MLClient(server.url, token=TOKEN) as ml:
            assert (
                len((await ml.forecast(forecast_request(generate(1, 7, EVAL_STREAM)))).ponds) == 1
            )
        async with MLClient(server.url, retries=0) as anonymous:
            with pytest.raises(MLUnavailable, match="401"):
                await anonymous.model()

    asyncio.run(call())


def test_production_requires_a_service_token(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="AQUA_ML_SERVICE_TOKEN"):
        MLSettings(environment="production")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValidationError, match="empty"):
        MLSettings(ml_service_token_file=empty)
    # pydantic validates the str into a SecretStr, as it does one from the environment.
    assert MLSettings(environment="production", ml_service_token=TOKEN).ml_token == TOKEN  # type: ignore[arg-type]
