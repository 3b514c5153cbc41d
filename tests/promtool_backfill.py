"""TSDB blocks built from OpenMetrics text with ``promtool tsdb create-blocks-from``, cached.

Test histories with known answers (tests/slo/slo_history.py, tests/capacity/capacity_history.py)
are generated in Python, written as OpenMetrics and backfilled once per generator version into
``~/.cache/aqua/<kind>/<key>/data``; each Prometheus gets a copy (it compacts its storage)::

    data = blocks(promtool, "capacity-fixtures", key, lambda: openmetrics_text)

A test module gets its Prometheus and its spec folder as module fixtures::

    prom_url = history_fixture(my_history.blocks, "slo-tsdb")
    specs = specs_fixture(SPECS, "slo-specs")
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

#: a Prometheus that scrapes nothing: it only serves the backfilled history
NO_SCRAPES = "global:\n  scrape_interval: 1m\nscrape_configs: []\n"


def blocks(
    promtool: Path,
    kind: str,
    key: str,
    openmetrics: Callable[[], str],
    *,
    cache: Path | None = None,
    max_block_duration: str = "24h",
) -> Path:
    """Build (once, under a file lock) and return the folder holding ``data/`` blocks."""
    root = cache or Path.home() / ".cache" / "aqua" / kind
    target = root / key
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "DONE").exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        work = target.with_suffix(".tmp")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        (work / "history.om").write_text(openmetrics())
        subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                f"--max-block-duration={max_block_duration}",
                work / "history.om",
                work / "data",
            ],
            check=True,
            capture_output=True,
        )
        (work / "history.om").unlink()
        (work / "DONE").write_text(key)
        work.rename(target)
        return target


def serve(prometheus_factory: Callable[..., Any], built: Path, storage: Path) -> str:
    """A Prometheus serving a copy of ``built``'s blocks (it compacts and writes into its
    storage) with a retention that keeps any history; its URL."""
    shutil.copytree(built / "data", storage, dirs_exist_ok=True)
    server = prometheus_factory(
        NO_SCRAPES, extra_args=("--storage.tsdb.retention.time=3650d",), storage_dir=storage
    )
    return str(server.url)


def history_fixture(build: Callable[[Path], Path], storage: str, *, name: str = "prom_url") -> Any:
    """A module fixture ``name``: the URL of a Prometheus serving the blocks ``build(promtool)``
    returns, its storage in a fresh temporary folder named after ``storage``."""

    @pytest.fixture(scope="module", name=name)
    def served(
        prometheus_factory: Callable[..., Any],
        promtool: Path,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> str:
        return serve(prometheus_factory, build(promtool), tmp_path_factory.mktemp(storage))

    return served


def specs_fixture(specs: Mapping[str, str], folder: str) -> Any:
    """A module fixture ``specs``: a temporary folder holding each of ``specs`` (name: text)."""

    @pytest.fixture(scope="module", name="specs")
    def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
        root = tmp_path_factory.mktemp(folder)
        for name, text in specs.items():
            (root / name).write_text(text)
        return root

    return written
