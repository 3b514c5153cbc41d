"""Fixtures of the pipeline tests: real Kafka and PostgreSQL from tests/conftest.py.

The broker and the database server are per xdist worker (session fixtures); each test gets a
fresh database, a topic prefix and consumer groups of its own, so tests never share state.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# pytest puts tests/ on sys.path, where tests/service would shadow the real `service` package
# (as a namespace package) unless the repository root comes first.
_ROOT = str(Path(__file__).resolve().parents[3])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)

from worker.pipeline_harness import Pipeline, create_database  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed pipeline test carries its workers' logs: what they did is the explanation."""
    report = yield
    pipeline = getattr(item, "funcargs", {}).get("pipeline")
    if report.failed and isinstance(pipeline, Pipeline):
        for w in pipeline.workers:
            report.sections.append((f"worker log {w.log_path.name}", w.story()))
    return report


@pytest.fixture
def pg_database(postgres_server: Any) -> str:
    return create_database(postgres_server.url)


@pytest.fixture
def pipeline(kafka_server: Any, pg_database: str, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(
        bootstrap=kafka_server.bootstrap,
        database_url=pg_database,
        prefix=f"t{uuid.uuid4().hex[:8]}.",
        log_dir=tmp_path,
    )
    yield p
    for w in p.workers:
        if w.proc is not None and w.proc.poll() is None:
            w.stop(10)
