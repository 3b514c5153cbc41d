"""nginx from the harness proxies to upstreams and keeps answering with one of two down."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from infra_harness import NginxFactory
from infra_http import port_of, serve_text, stop

from sre_cli.errors import ConfigError
from sre_cli.infra.http import http_request
from sre_cli.infra.nginx import NginxServer

pytestmark = pytest.mark.integration


def _conf(a: int, b: int) -> Callable[[int], str]:
    def build(port: int) -> str:
        return f"""
    upstream app {{
        server 127.0.0.1:{a} max_fails=1 fail_timeout=30s;
        server 127.0.0.1:{b} max_fails=1 fail_timeout=30s;
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}"""

    return build


def test_proxies_and_survives_one_upstream_down(nginx_factory: NginxFactory) -> None:
    with serve_text("pen-a") as a, serve_text("pen-b") as b:
        web = nginx_factory(_conf(port_of(a), port_of(b)))
        bodies = [http_request(web.url) for _ in range(10)]
        assert {status for status, _ in bodies} == {200}
        assert {body for _, body in bodies} == {b"pen-a", b"pen-b"}

        stop(b)
        after = [http_request(web.url) for _ in range(20)]
        assert after == [(200, b"pen-a")] * 20


def test_everything_nginx_writes_is_inside_the_prefix(nginx_factory: NginxFactory) -> None:
    with serve_text("ok") as a:
        web = nginx_factory(_conf(port_of(a), port_of(a)))
        conf = web.conf_path.read_text()
        prefix = str(web.prefix)
        for directive in (
            "pid",
            "error_log",
            "access_log",
            "client_body_temp_path",
            "proxy_temp_path",
        ):
            lines = [x.strip() for x in conf.splitlines() if x.strip().startswith(directive + " ")]
            assert lines, directive
            assert any(prefix in line for line in lines), lines
        assert web.pid_path.is_file()
        assert http_request(web.url) == (200, b"ok")
        # nginx logs a request after its response is on the wire: give the write a moment.
        deadline = time.monotonic() + 5
        while "GET / " not in web.access_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert web.access_log.read_text().count("GET / ") >= 1


def test_invalid_config_fails_nginx_t_before_start(tmp_path: Path) -> None:
    from infra_harness import require_binary

    require_binary("nginx")
    server = NginxServer(
        tmp_path, lambda port: f"server {{ listen 127.0.0.1:{port}; bogus_directive on; }}"
    )
    with pytest.raises(ConfigError, match=r"(?s)is invalid.*bogus_directive"):
        server.start()
    assert server.process is None
