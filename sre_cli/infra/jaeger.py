"""Jaeger (v2, the OpenTelemetry-collector-based all-in-one) on 127.0.0.1, traces in memory.

The binary is built from its Go module by ``scripts/build-jaeger`` (version pinned in
``scripts/versions.env``). ``start`` writes a collector config with every listener on a
loopback port of its own (Jaeger's defaults are fixed, well-known ports on all interfaces):

- ``port``: the query service's HTTP API (``/api/services``, ``/api/traces``) and UI
- ``otlp_http_port`` / ``otlp_grpc_port``: the OTLP receiver (``/v1/traces`` over HTTP)
- a gRPC query port, a health-check port and the collector's own metrics, on free ports

::

    with JaegerServer(tmp) as jaeger:
        exporter = OTLPSpanExporter(endpoint=jaeger.otlp_traces_url)
        httpx.get(f"{jaeger.url}/api/traces", params={"service": "api"})

Readiness is the health-check extension answering 200 (every pipeline started) and the query
API answering ``/api/services``.
"""

from __future__ import annotations

import json
from pathlib import Path

from sre_cli.infra import binaries
from sre_cli.infra.http import http_status
from sre_cli.infra.process import LOOPBACK, HttpServer, check_port_free, free_port

__all__ = ["DEFAULT_MAX_TRACES", "JaegerServer"]

#: traces kept in memory; the oldest are dropped first.
DEFAULT_MAX_TRACES = 50_000


class JaegerServer(HttpServer):
    """``jaeger --config CONFIG``: OTLP in, in-memory storage, query API out."""

    name = "jaeger"
    ready_timeout = 60.0

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        otlp_http_port: int | None = None,
        max_traces: int = DEFAULT_MAX_TRACES,
    ) -> None:
        super().__init__(workdir, port)
        self._requested_otlp_http = otlp_http_port
        self.otlp_http_port = otlp_http_port or 0
        self.otlp_grpc_port = 0
        self.query_grpc_port = 0
        self.health_port = 0
        self.metrics_port = 0
        self.max_traces = max_traces

    @property
    def otlp_http_url(self) -> str:
        """The OTLP/HTTP receiver's base URL (``OTEL_EXPORTER_OTLP_ENDPOINT``)."""
        return f"http://{LOOPBACK}:{self.otlp_http_port}"

    @property
    def otlp_traces_url(self) -> str:
        """Where an OTLP/HTTP span exporter posts (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)."""
        return f"{self.otlp_http_url}/v1/traces"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    @property
    def config_path(self) -> Path:
        return self.workdir / "jaeger.yaml"

    def config_text(self) -> str:
        """The collector config (JSON is YAML, and needs no YAML library here)."""

        def at(port: int) -> str:
            return f"{LOOPBACK}:{port}"

        config = {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                "telemetry": {
                    "resource": {"service.name": "jaeger"},
                    "metrics": {
                        "level": "basic",
                        "readers": [
                            {
                                "pull": {
                                    "exporter": {
                                        "prometheus": {"host": LOOPBACK, "port": self.metrics_port}
                                    }
                                }
                            }
                        ],
                    },
                    "logs": {"level": "info"},
                },
            },
            "extensions": {
                "healthcheckv2": {"use_v2": True, "http": {"endpoint": at(self.health_port)}},
                "jaeger_query": {
                    "storage": {"traces": "memstore"},
                    "enable_tracing": False,
                    "http": {"endpoint": at(self.port)},
                    "grpc": {"endpoint": at(self.query_grpc_port)},
                },
                "jaeger_storage": {
                    "backends": {"memstore": {"memory": {"max_traces": self.max_traces}}}
                },
            },
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": at(self.otlp_grpc_port)},
                        "http": {"endpoint": at(self.otlp_http_port)},
                    }
                }
            },
            # A short batch timeout: a span is queryable about 0.2 s after it arrives.
            "processors": {"batch": {"timeout": "200ms"}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        }
        return json.dumps(config, indent=2) + "\n"

    def _prepare(self) -> None:
        if self._requested_otlp_http is not None:
            check_port_free(self._requested_otlp_http, f"{self.name} (OTLP/HTTP)")
        else:
            self.otlp_http_port = free_port()
        taken = {self.port, self.otlp_http_port}
        for attr in ("otlp_grpc_port", "query_grpc_port", "health_port", "metrics_port"):
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            setattr(self, attr, port)
        self.config_path.write_text(self.config_text(), encoding="utf-8")

    def _argv(self) -> list[str]:
        return [str(binaries.jaeger()), "--config", str(self.config_path)]

    def _probe(self) -> bool:
        health = f"http://{LOOPBACK}:{self.health_port}/status"
        return http_status(health) == 200 and http_status(f"{self.url}/api/services") == 200
