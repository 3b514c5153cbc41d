"""Shopify's toxiproxy on 127.0.0.1: TCP proxies whose traffic can be slowed, cut or reset.

The binary is built from its Go module by ``scripts/build-toxiproxy`` (version pinned in
``scripts/versions.env``). ``start`` writes the proxies to a JSON config that the server
loads at start-up (and again after a restart); every proxy listens on a loopback port and
forwards to a loopback upstream. :class:`Toxiproxy` is a client of its HTTP API, stdlib
only::

    with ToxiproxyServer(tmp, proxies=[Proxy("postgres", 15433, 5433)]) as toxiproxy:
        api = toxiproxy.client()
        api.add_toxic("postgres", Toxic("latency", {"latency": 200, "jitter": 20}))
        ...
        api.remove_toxics("postgres")

Readiness is ``GET /proxies`` listing every configured proxy, enabled: the server only logs
a proxy it could not create from its config, so an open API port alone proves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from sre_cli.errors import ComponentError, ConfigError, Unavailable
from sre_cli.infra import binaries
from sre_cli.infra.http import http_request
from sre_cli.infra.process import LOOPBACK, HttpServer, check_port_free

__all__ = ["TOXIC_TYPES", "Proxy", "Toxic", "Toxiproxy", "ToxiproxyServer"]

#: the toxics aqua uses: ``latency`` {latency, jitter} ms, ``timeout`` {timeout} ms (no data
#: passes; the connection is closed after ``timeout``, never with 0), ``bandwidth`` {rate}
#: KB/s, ``reset_peer`` {timeout} ms (TCP RST after ``timeout``).
TOXIC_TYPES = ("latency", "timeout", "bandwidth", "reset_peer")
Stream = Literal["upstream", "downstream"]


@dataclass(frozen=True)
class Proxy:
    """One TCP proxy: ``127.0.0.1:listen`` forwards to ``127.0.0.1:upstream``."""

    name: str
    listen: int
    upstream: int

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": f"{LOOPBACK}:{self.listen}",
            "upstream": f"{LOOPBACK}:{self.upstream}",
            "enabled": True,
        }


@dataclass(frozen=True)
class Toxic:
    """A toxic of one of :data:`TOXIC_TYPES`; ``toxicity`` is the share of connections it
    applies to (toxiproxy draws once per connection), ``stream`` the direction it acts on
    (``downstream``: from the upstream server to the client)."""

    type: str
    attributes: Mapping[str, int] = field(default_factory=dict)
    stream: Stream = "downstream"
    toxicity: float = 1.0
    name: str = ""

    @property
    def key(self) -> str:
        """The toxic's name on its proxy (toxiproxy's own default: ``TYPE_STREAM``)."""
        return self.name or f"{self.type}_{self.stream}"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.key,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


class Toxiproxy:
    """A client of toxiproxy's HTTP API at ``url``; every failure is an :class:`AquaError`."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            status, raw = http_request(
                self.url + path, method=method, data=data, headers=headers, timeout=self.timeout
            )
        except OSError as exc:
            raise Unavailable(f"toxiproxy at {self.url}: {method} {path}: {exc}") from exc
        text = raw.decode("utf-8", "replace").strip()
        if status == 404:
            raise ConfigError(f"toxiproxy: {method} {path}: not found ({text})")
        if status >= 400:
            raise ComponentError(f"toxiproxy: {method} {path}: answered {status}: {text}")
        return json.loads(text) if text else None

    def version(self) -> str:
        status, raw = http_request(f"{self.url}/version", timeout=self.timeout)
        if status != 200:
            raise Unavailable(f"toxiproxy at {self.url}: GET /version answered {status}")
        text = raw.decode().strip()
        try:  # 2.6+ answers JSON, older ones a bare string
            return str(json.loads(text)["version"])
        except (ValueError, KeyError, TypeError):
            return text

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy by name, with its ``listen``, ``upstream``, ``enabled`` and ``toxics``."""
        result: dict[str, dict[str, Any]] = self._call("GET", "/proxies")
        return result

    def create_proxy(self, proxy: Proxy) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/proxies", proxy.to_json())
        return result

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/proxies/{quote(proxy)}/toxics")
        return result

    def add_toxic(self, proxy: str, toxic: Toxic) -> dict[str, Any]:
        """Add ``toxic`` to ``proxy``; a toxic of the same name there already is an error."""
        if toxic.type not in TOXIC_TYPES:
            raise ConfigError(f"unknown toxic type {toxic.type!r}; one of {TOXIC_TYPES}")
        result: dict[str, Any] = self._call(
            "POST", f"/proxies/{quote(proxy)}/toxics", toxic.to_json()
        )
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{quote(proxy)}/toxics/{quote(name)}")

    def remove_toxics(self, proxy: str) -> list[str]:
        """Remove every toxic of ``proxy``; the names removed."""
        names = [str(t["name"]) for t in self.toxics(proxy)]
        for name in names:
            self.remove_toxic(proxy, name)
        return names

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """A disabled proxy closes its connections and refuses new ones."""
        self._call("POST", f"/proxies/{quote(proxy)}", {"enabled": enabled})

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", {})


class ToxiproxyServer(HttpServer):
    """``toxiproxy-server -host 127.0.0.1 -port PORT -config proxies.json``."""

    name = "toxiproxy"
    ready_timeout = 20.0

    def __init__(
        self, workdir: Path, port: int | None = None, *, proxies: Sequence[Proxy] = ()
    ) -> None:
        super().__init__(workdir, port)
        names = [p.name for p in proxies]
        if len(set(names)) != len(names):
            raise ConfigError(f"toxiproxy: proxy names must be unique: {names}")
        self.proxies = tuple(proxies)

    @property
    def config_path(self) -> Path:
        return self.workdir / "toxiproxy.json"

    def client(self) -> Toxiproxy:
        return Toxiproxy(self.url)

    def _prepare(self) -> None:
        for proxy in self.proxies:
            check_port_free(proxy.listen, f"{self.name} (proxy {proxy.name})")
        text = json.dumps([p.to_json() for p in self.proxies], indent=2) + "\n"
        self.config_path.write_text(text, encoding="utf-8")

    def _argv(self) -> list[str]:
        return [
            str(binaries.toxiproxy()),
            "-host",
            LOOPBACK,
            "-port",
            str(self.port),
            "-config",
            str(self.config_path),
        ]

    def _probe(self) -> bool:
        listed = self.client().proxies()
        return all(listed.get(p.name, {}).get("enabled") for p in self.proxies)
