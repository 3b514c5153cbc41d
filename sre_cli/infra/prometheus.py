"""Prometheus on 127.0.0.1 with its own config file and TSDB directory.

The lifecycle and admin APIs are on, so callers can ``POST /-/reload`` after rewriting the
config and delete series between tests. ``config_yaml`` may be a callable that receives the
chosen port, for configs that scrape Prometheus itself::

    def config(port: int) -> str:
        target = f"127.0.0.1:{port}"
        return f"scrape_configs: [{{job_name: self, static_configs: [{{targets: [{target}]}}]}}]"

    with PrometheusServer(tmp, config) as prom:
        httpx.get(f"{prom.url}/api/v1/query", params={"query": "up"})

Readiness is ``GET /-/ready`` answering 200 (the TSDB is open and the config loaded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sre_cli.errors import ComponentError
from sre_cli.infra import binaries
from sre_cli.infra.http import http_request
from sre_cli.infra.process import LOOPBACK, HttpServer

__all__ = ["PrometheusServer"]

ConfigSource = str | Callable[[int], str]


class PrometheusServer(HttpServer):
    """``prometheus`` with ``--web.enable-lifecycle`` and ``--web.enable-admin-api``, unless
    ``admin_api=False`` (a long-running stack: nobody may delete series or stop it over HTTP).

    ``extra_args`` are appended; a flag named there replaces this class's default for it
    (``--storage.tsdb.retention.time=...`` instead of ``retention``).
    """

    name = "prometheus"
    ready_timeout = 30.0

    def __init__(
        self,
        workdir: Path,
        config_yaml: ConfigSource,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        storage_dir: Path | None = None,
        *,
        retention: str = "3650d",
        admin_api: bool = True,
    ) -> None:
        super().__init__(workdir, port)
        self.admin_api = admin_api
        self._config = config_yaml
        self.extra_args = tuple(extra_args)
        self.storage_dir = Path(storage_dir) if storage_dir else self.workdir / "tsdb"
        self.retention = retention

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    def config_text(self) -> str:
        return self._config(self.port) if callable(self._config) else self._config

    def reload(self, config_yaml: ConfigSource | None = None) -> None:
        """Rewrite the config (if given) and ask the running server to load it."""
        if config_yaml is not None:
            self._config = config_yaml
            self.config_path.write_text(self.config_text(), encoding="utf-8")
        status, body = http_request(f"{self.url}/-/reload", method="POST")
        if status != 200:
            raise ComponentError(f"prometheus: reload failed ({status}): {body.decode()[:500]}")

    def _prepare(self) -> None:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text(), encoding="utf-8")

    def _argv(self) -> list[str]:
        defaults = [
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.storage_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
        ]
        if self.admin_api:
            defaults += ["--web.enable-lifecycle", "--web.enable-admin-api"]
        # Prometheus refuses a repeated flag: one given in extra_args replaces the default.
        overridden = {arg.split("=", 1)[0] for arg in self.extra_args if arg.startswith("--")}
        kept = [arg for arg in defaults if arg.split("=", 1)[0] not in overridden]
        return [str(binaries.find("prometheus")), *kept, *self.extra_args]
