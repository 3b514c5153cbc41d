"""Blue-green's preview load: which addresses it may load, the port, and the load itself
against a small HTTP server of the test's own on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sre_cli.errors import UsageError
from sre_cli.rollout.preview import SyntheticLoad, container_port, on_link

# eth0 192.0.2.0/24 on-link, its gateway 192.0.2.1 the default; the pod bridge 10.244.0.0/24
# on-link; 10.9.0.0/16 through a gateway.
ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
aqua0\t0000F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t0000090A\t010200C0\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    path = tmp_path / "route"
    path.write_text(ROUTES)
    return path


def test_only_loopback_and_directly_attached_networks_are_local(routes: Path) -> None:
    assert on_link("127.0.0.1", routes)
    assert on_link("::1", routes)
    assert on_link("10.244.0.7", routes)  # the pod bridge
    assert on_link("192.0.2.40", routes)
    assert not on_link("10.9.3.4", routes)  # behind a gateway
    assert not on_link("203.0.113.5", routes)  # only the default route
    assert not on_link("2001:db8::1", routes)
    assert not on_link("pod-a", routes)


def test_the_port_is_the_containers_http_port_or_its_first() -> None:
    def template(*ports: dict[str, object]) -> dict[str, object]:
        return {"spec": {"containers": [{"name": "api", "ports": list(ports)}]}}

    http = {"name": "http", "containerPort": 8000}
    metrics = {"name": "metrics", "containerPort": 9000}
    assert container_port(template(metrics, http), "api") == 8000
    assert container_port(template(metrics), "api") == 9000
    with pytest.raises(UsageError, match="declares no TCP port"):
        container_port(template(), "api")
    with pytest.raises(UsageError, match="declares no TCP port"):
        container_port(template(http), "other")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        status = 503 if self.server.failing else 401  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.paths = []  # type: ignore[attr-defined]
    srv.failing = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _wait(cond: object, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_load_counts_answers_and_server_errors(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    with SyntheticLoad([("127.0.0.1", port)], "/api/v1/farms", rps=50, max_s=60) as figures:
        _wait(lambda: figures.requests >= 10)
        server.failing = True  # type: ignore[attr-defined]
        seen = figures.requests
        _wait(lambda: figures.requests >= seen + 10)
    assert figures.server_errors >= 5
    assert figures.server_errors < figures.requests  # the 401s are not errors
    assert figures.failed == 0
    assert set(server.paths) == {"/api/v1/farms"}  # type: ignore[attr-defined]
    assert figures.targets == [f"127.0.0.1:{port}"]


def test_the_load_stops_by_itself_and_counts_refused_connections() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    load = SyntheticLoad([("127.0.0.1", port)], "/", rps=20, max_s=0.5)
    with load as figures:
        _wait(lambda: all(not t.is_alive() for t in load._threads))
    assert figures.requests > 0
    assert figures.failed == figures.requests


def test_an_address_off_this_machine_is_refused() -> None:
    with pytest.raises(UsageError, match="not on a network of this machine"):
        SyntheticLoad([("10.9.3.4", 8000)], "/", rps=10, max_s=1, local=lambda a: False)
    with pytest.raises(UsageError, match="no Ready green pod"):
        SyntheticLoad([], "/", rps=10, max_s=1)
