"""The Prometheus client against a real Prometheus behind a real nginx with TLS and auth.

nginx serves HTTPS with a certificate from a CA this module makes, and guards Prometheus
four ways: ``/`` wants a bearer token and an ``X-Scope-OrgID`` tenant (and logs the tenant),
``/basic/`` basic auth, ``/mtls/`` a client certificate signed by the CA, and ``/flaky/``
the bearer token in front of a small real HTTP server that answers 503 a set number of
times before it forwards to Prometheus. Commands read all of it from one
``--prometheus-config`` file.
"""

from __future__ import annotations

import http.server
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cli_runner import invoke

from sre_cli.commands.slo import app
from sre_cli.errors import ConfigError, Unavailable
from sre_cli.k8s.pki import create_ca, issue_cert
from sre_cli.prometheus import connect

if TYPE_CHECKING:
    from infra_harness import NginxFactory, PrometheusFactory

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-for-tests"
TENANT = "team-a"
PASSWORD = "basic-pass-for-tests"

SPEC = """
version: "prometheus/v1"
service: probe
slos:
  - name: availability
    objective: 99
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="probe",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="probe"}[{{.window}}]))
"""


@dataclass(frozen=True)
class PKI:
    ca: Path
    server_cert: Path
    server_key: Path


def _pki(folder: Path) -> PKI:
    """A CA that signs the server's certificate and the client's (``client.crt``), and another
    CA that signs a stranger's (``stranger.crt``)."""
    root = create_ca(folder, "ca", "aqua test CA")
    server = issue_cert(root, folder, "server", "127.0.0.1", server=True)
    issue_cert(root, folder, "client", "aqua")
    issue_cert(create_ca(folder, "other-ca", "another CA"), folder, "stranger", "aqua")
    return PKI(root.cert, server.cert, server.key)


class Flaky(http.server.ThreadingHTTPServer):
    """Answers 503 to the first ``failures`` requests, then forwards to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _FlakyHandler)
        self.upstream = upstream
        self.failures = 0
        self.seen = 0
        self.lock = threading.Lock()


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    server: Flaky

    def _handle(self) -> None:
        with self.server.lock:
            self.server.seen += 1
            fail = self.server.failures > 0
            if fail:
                self.server.failures -= 1
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if fail:
            self.send_response(503)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        request = urllib.request.Request(
            self.server.upstream + self.path,
            data=body if self.command == "POST" else None,
            method=self.command,
            headers={"content-type": self.headers.get("content-type", "")},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = answer.read()
            status = answer.status
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Guarded:
    url: str
    pki: PKI
    tenant_log: Path
    flaky: Flaky
    folder: Path

    def config(self, name: str, body: str) -> Path:
        path = self.folder / f"{name}.yaml"
        path.write_text(body, encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_factory: PrometheusFactory,
    nginx_factory: NginxFactory,
) -> Iterator[Guarded]:
    folder = tmp_path_factory.mktemp("promauth")
    pki = _pki(folder)
    (folder / "token").write_text(TOKEN + "\n", encoding="utf-8")
    (folder / "wrong-token").write_text("not-the-token\n", encoding="utf-8")
    (folder / "password").write_text(PASSWORD + "\n", encoding="utf-8")
    # nginx's workers (not root) read the password file: pytest's temp folders are private.
    public = Path(tempfile.mkdtemp(prefix="aqua-htpasswd-"))
    public.chmod(0o755)
    htpasswd = public / "htpasswd"
    htpasswd.write_text(f"aqua:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
    htpasswd.chmod(0o644)
    prom = prometheus_factory("global: {scrape_interval: 15s}\n")
    flaky = Flaky(prom.url)
    threading.Thread(target=flaky.serve_forever, daemon=True).start()
    tenant_log = folder / "tenant.log"
    upstream = f"http://127.0.0.1:{prom.port}"
    bearer = f'if ($http_authorization != "Bearer {TOKEN}") {{ return 401; }}'

    def conf(port: int) -> str:
        return f"""
    log_format tenant '$http_x_scope_orgid $status $request_uri';
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};
        ssl_client_certificate {pki.ca};
        ssl_verify_client optional_no_ca;
        access_log {tenant_log} tenant;
        location / {{
            {bearer}
            if ($http_x_scope_orgid = "") {{ return 400; }}
            proxy_pass {upstream};
        }}
        location /basic/ {{
            auth_basic "prometheus";
            auth_basic_user_file {htpasswd};
            proxy_pass {upstream}/;
        }}
        location /mtls/ {{
            if ($ssl_client_verify != SUCCESS) {{ return 403; }}
            proxy_pass {upstream}/;
        }}
        location /flaky/ {{
            {bearer}
            proxy_pass http://127.0.0.1:{flaky.server_address[1]}/;
        }}
    }}
"""

    web = nginx_factory(conf)
    try:
        yield Guarded(f"https://127.0.0.1:{web.port}", pki, tenant_log, flaky, folder)
    finally:
        flaky.shutdown()
        flaky.server_close()
        shutil.rmtree(public, ignore_errors=True)


def _bearer(
    g: Guarded,
    name: str = "bearer",
    token: str = "token",
    extra: str = "",
    *,
    path: str = "",
    tenant: bool = True,
    ca: str = "ca.crt",
    retries: bool = True,
) -> Path:
    """A client config with a bearer token file and a CA; the tenant header and retries
    unless switched off."""
    lines = [
        f"url: {g.url}{path}",
        f"headers: {{X-Scope-OrgID: {TENANT}}}" if tenant else "",
        f"authorization: {{credentials_file: {token}}}",
        f"tls_config: {{ca_file: {ca}}}",
        "retries: {attempts: 3, backoff: 0.05s, max_backoff: 0.2s}" if retries else "",
        extra,
    ]
    return g.config(name, "".join(f"{line}\n" for line in lines if line))


def test_bearer_token_tenant_and_ca_answer_a_query(guarded: Guarded) -> None:
    with connect(None, config=_bearer(guarded)) as prom:
        [sample] = prom.query("vector(42)", at=1_700_000_000)
    assert sample.value == 42
    # nginx logs a request after it has answered it: wait for the line, do not race it.
    logged = f"{TENANT} 200 /api/v1/query"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = guarded.tenant_log.read_text(encoding="utf-8").splitlines()
        if any(line.startswith(logged) for line in lines):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"no {logged!r} in {guarded.tenant_log}")


def test_the_cli_reads_the_config_file(guarded: Guarded, tmp_path: Path) -> None:
    (tmp_path / "probe.yaml").write_text(SPEC, encoding="utf-8")
    spec = str(tmp_path / "probe.yaml")
    config = str(_bearer(guarded))
    code, out = invoke(app, ["report", spec, "--prometheus-config", config, "--format", "json"])
    assert code == 0, out
    assert '"availability"' in out
    bad = str(_bearer(guarded, "bad-bearer", token="wrong-token"))
    code, out = invoke(app, ["report", spec, "--prometheus-config", bad])
    assert code == 2
    assert "refused the credentials (HTTP 401)" in out
    assert TOKEN not in out
    assert "not-the-token" not in out


def test_a_missing_tenant_header_is_refused(guarded: Guarded) -> None:
    config = _bearer(guarded, "no-tenant", tenant=False, retries=False)
    with connect(None, config=config) as prom, pytest.raises(Unavailable, match="HTTP 400"):
        prom.query("vector(1)", at=1_700_000_000)


#: (path, the config's credentials with {who} in them, who is let in, who is refused, status)
CREDENTIALS = {
    "basic_auth": (
        "basic",
        "tls_config: {{ca_file: ca.crt}}\nbasic_auth: {{username: aqua, password_file: {who}}}",
        "password",
        "wrong-token",
        401,
    ),
    "client_certificate": (
        "mtls",
        "tls_config: {{ca_file: ca.crt, cert_file: {who}.crt, key_file: {who}.key}}",
        "client",
        "stranger",
        403,
    ),
}


@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
def test_credentials_let_in_and_refuse(guarded: Guarded, kind: str) -> None:
    path, credentials, good, bad, status = CREDENTIALS[kind]

    def config(who: str) -> Path:
        return guarded.config(
            f"{path}-{who}", f"url: {guarded.url}/{path}\n{credentials.format(who=who)}\n"
        )

    with connect(None, config=config(good)) as prom:
        assert prom.query("vector(7)", at=1_700_000_000)[0].value == 7
    refused = pytest.raises(Unavailable, match=rf"refused the credentials \(HTTP {status}\)")
    with connect(None, config=config(bad)) as prom, refused:
        prom.query("vector(7)", at=1_700_000_000)


def test_a_server_the_ca_does_not_vouch_for_is_refused(guarded: Guarded) -> None:
    config = _bearer(guarded, "other-ca", ca="stranger.crt", retries=False)
    with connect(None, config=config) as prom, pytest.raises(Unavailable, match="did not answer"):
        prom.query("vector(1)", at=1_700_000_000)
    assert prom.retried == 0  # a certificate the client rejects is not retried


def test_503_is_retried_then_answers(guarded: Guarded) -> None:
    config = _bearer(guarded, "flaky", path="/flaky", tenant=False)
    with guarded.flaky.lock:
        guarded.flaky.failures, guarded.flaky.seen = 2, 0
    with connect(None, config=config) as prom:
        assert prom.query("vector(5)", at=1_700_000_000)[0].value == 5
    assert (prom.retried, guarded.flaky.seen) == (2, 3)
    with guarded.flaky.lock:
        guarded.flaky.failures, guarded.flaky.seen = 10, 0
    with connect(None, config=config) as prom, pytest.raises(Unavailable, match="503"):
        prom.query("vector(5)", at=1_700_000_000)
    assert guarded.flaky.seen == 4  # the first try and three retries, then it gives up


def test_config_errors_name_the_problem(guarded: Guarded) -> None:
    missing = guarded.config("missing-secret", "authorization: {credentials_file: nope}\n")
    with pytest.raises(ConfigError, match=r"cannot read authorization\.credentials_file"):
        connect("http://127.0.0.1:1", config=missing)
    unknown = guarded.config("unknown-key", "bearer_token: inline\n")
    with pytest.raises(ConfigError, match="unknown key 'bearer_token'"):
        connect("http://127.0.0.1:1", config=unknown)


def test_prometheus_warnings_are_shown(
    guarded: Guarded, prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    """A remote read that fails is a warning in Prometheus' answer, not an error."""
    broken = f"{guarded.url}/basic/no-such-remote-read"  # 401: no credentials
    prom = prometheus_factory(
        f"remote_read: [{{url: {broken}, read_recent: true, "
        f"tls_config: {{ca_file: {guarded.pki.ca}}}}}]\n"
    )
    (tmp_path / "probe.yaml").write_text(SPEC, encoding="utf-8")
    argv = ["report", str(tmp_path / "probe.yaml"), "--prometheus", prom.url, "--format", "json"]
    code, out = invoke(app, argv)
    assert code == 0, out
    shown = [line for line in out.splitlines() if line.startswith("warning: Prometheus:")]
    assert any("remote_read" in line and "401" in line for line in shown), out
    assert len(shown) == len(set(shown))  # each warning once, however many queries carry it


def test_runbook_and_chaos_probes_use_the_config(guarded: Guarded) -> None:
    """The ops layer's Prometheus probe (runbook and chaos steps) goes through the same file,
    its url standing in for --prometheus."""
    from sre_cli.ops.context import RunContext, TargetOptions, open_context
    from sre_cli.ops.operations import PrometheusProbe

    config = _bearer(guarded, "probe")
    ctx = RunContext("kubernetes", prometheus_url=guarded.url, prometheus_config=config)
    seen = ctx.observe(PrometheusProbe(query="vector(9)", expect="== 9"))
    assert seen.ok is True, seen
    bad = _bearer(guarded, "probe-bad", token="wrong-token")
    ctx = RunContext("kubernetes", prometheus_url=guarded.url, prometheus_config=bad)
    with pytest.raises(Unavailable, match="refused the credentials"):
        ctx.observe(PrometheusProbe(query="vector(9)"))
    with pytest.raises(ConfigError, match="unknown key"):
        open_context(TargetOptions("stack", prometheus_config=guarded.config("x", "nope: 1\n")))
