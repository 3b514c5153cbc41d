"""Alertmanager on 127.0.0.1, with clustering off.

``--cluster.listen-address=`` (empty) disables gossip; without it every instance would try
to bind 0.0.0.0:9094 and a second one on the machine would fail::

    with AlertmanagerServer(tmp, CONFIG) as am:
        httpx.post(f"{am.url}/api/v2/alerts", json=[{"labels": {"alertname": "X"}}])

Readiness is ``GET /-/ready`` answering 200.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sre_cli.infra import binaries
from sre_cli.infra.process import LOOPBACK, HttpServer

__all__ = ["DEFAULT_CONFIG", "AlertmanagerServer"]

DEFAULT_CONFIG = """\
route:
  receiver: default
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: default
"""


class AlertmanagerServer(HttpServer):
    """``prometheus-alertmanager`` with its own config and storage directory."""

    name = "alertmanager"
    ready_timeout = 30.0

    def __init__(
        self,
        workdir: Path,
        config_yaml: str = DEFAULT_CONFIG,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir, port)
        self.config_yaml = config_yaml
        self.extra_args = tuple(extra_args)

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    @property
    def storage_dir(self) -> Path:
        return self.workdir / "alertmanager-data"

    def _prepare(self) -> None:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_yaml, encoding="utf-8")

    def _argv(self) -> list[str]:
        return [
            str(binaries.find("alertmanager")),
            f"--config.file={self.config_path}",
            f"--storage.path={self.storage_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--cluster.listen-address=",
            *self.extra_args,
        ]
