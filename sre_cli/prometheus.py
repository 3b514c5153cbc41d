"""The one Prometheus client of aqua: slo, capacity, runbook and chaos probes all query
through it (instant and range queries, metadata), and :func:`connect` is the one place a
``--prometheus`` URL becomes a client, so auth, TLS, headers, timeouts and retries are added
there once, from one config file (``--prometheus-config FILE`` or ``$AQUA_PROMETHEUS_CONFIG``)::

    url: https://prometheus.example:9090      # --prometheus wins over it
    timeout: 30s
    headers: {X-Scope-OrgID: team-a}          # e.g. the tenant of a multi-tenant backend
    authorization: {credentials_file: token}  # or credentials_env: VAR (Bearer)
    basic_auth: {username: aqua, password_file: pw}   # or password_env: VAR
    tls_config: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key}
    retries: {attempts: 3, backoff: 0.5s, max_backoff: 8s}

The names follow Prometheus' own ``http_config``; relative paths are read from the config
file's folder. Secrets come from files or environment variables, never from the config file
itself or the command line. Queries are POSTed (long PromQL); 429 and 5xx answers and
connections dropped mid-answer are retried with a bounded exponential back-off (a refused
connection or a rejected certificate is not); the ``warnings`` Prometheus attaches to an
answer are passed to ``on_warning`` (by default printed on stderr).

The transport is injectable (``httpx.MockTransport`` in unit tests); every request is counted
in :attr:`PrometheusClient.queries` so benchmarks can report it. Failures are typed::

    with PrometheusClient("http://127.0.0.1:9090") as prom:
        [sample] = prom.query('sum(increase(http_requests_total[30d]))', at=1_700_000_000)
        sample.value                 # float
    # unreachable server, refused credentials -> Unavailable (exit 2); a bad query -> QueryError
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sre_cli.errors import ConfigError, Unavailable, UsageError
from sre_cli.lifecycle import Closing

__all__ = [
    "CONFIG_ENV",
    "ClientSettings",
    "PrometheusClient",
    "QueryError",
    "Sample",
    "Series",
    "config_url",
    "connect",
    "load_settings",
]

CONFIG_ENV = "AQUA_PROMETHEUS_CONFIG"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class QueryError(UsageError):
    """Prometheus rejected a query (it does not parse, or cannot be evaluated)."""

    def __init__(self, message: str, *, query: str) -> None:
        super().__init__(f"{message}\n  query: {query}")
        self.query = query
        self.reason = message


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: parallel lists of unix times and values."""

    labels: dict[str, str]
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ClientSettings:
    """How to reach one Prometheus: what a config file says, secrets already read.

    ``retries`` is the number of tries after the first; the wait before try ``n`` is
    ``backoff * 2**(n-1)`` (or the server's ``Retry-After``), never more than ``max_backoff``.
    """

    url: str | None = None
    timeout: float | None = None  # None: the caller's default, else 30 s
    headers: Mapping[str, str] = field(default_factory=dict)
    bearer_token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False
    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    source: Path | None = None


Sleep = Callable[[float], None]
WarningSink = Callable[[str], None]


class PrometheusClient(Closing):
    """Talks to one Prometheus server. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        settings: ClientSettings | None = None,
        on_warning: WarningSink | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.settings = settings or ClientSettings()
        self.timeout = self.settings.timeout or timeout
        self.queries = 0
        self.retried = 0
        self.warnings: list[str] = []
        self._on_warning = on_warning
        self._sleep = sleep
        self._lock = threading.Lock()
        self._http = _http_client(self.url, self.settings, self.timeout, transport, headers)

    def close(self) -> None:
        self._http.close()

    def _send(self, path: str, params: Sequence[tuple[str, str]]) -> httpx.Response:
        # Queries go in a form body (long PromQL), metadata look-ups in the URL (GET-only).
        if path.endswith(("/query", "/query_range")):
            return self._http.post(path, data=dict(params))
        return self._http.get(path, params=list(params))

    def _request(self, path: str, params: Sequence[tuple[str, str]]) -> httpx.Response:
        """Send, retrying 429/5xx answers and dropped connections with a bounded back-off."""
        retries = max(0, self.settings.retries)
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                response = self._send(path, params)
            except httpx.TimeoutException as exc:
                if last:
                    raise Unavailable(
                        f"Prometheus at {self.url} timed out ({path}, "
                        f"{self.timeout:g}s, {attempt + 1} tries)"
                    ) from exc
                self._wait(attempt, None)
                continue
            except httpx.HTTPError as exc:
                # A refused connection or certificate fails the same way again at once; a
                # connection dropped mid-answer (a proxy restarting) is worth another try.
                if last or isinstance(exc, httpx.ConnectError):
                    tls = isinstance(exc, httpx.ConnectError) and _tls_failure(exc)
                    raise Unavailable(
                        f"Prometheus at {self.url} did not answer: {exc}",
                        hint="check tls_config (ca_file) in --prometheus-config"
                        if tls
                        else "check --prometheus and that the server is running",
                    ) from exc
                self._wait(attempt, None)
                continue
            if response.status_code not in RETRY_STATUSES or last:
                return response
            self._wait(attempt, response.headers.get("retry-after"))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        s = self.settings
        delay = s.backoff * 2**attempt
        if retry_after is not None and retry_after.strip().isdigit():
            delay = float(retry_after)  # an HTTP date instead keeps the back-off
        with self._lock:
            self.retried += 1
        self._sleep(min(max(delay, 0.0), s.max_backoff))

    def _get(self, path: str, params: Sequence[tuple[str, str]], query: str = "") -> Any:
        with self._lock:  # the client is shared by the engine's worker threads
            self.queries += 1
        response = self._request(path, params)
        if response.status_code in {401, 403}:
            raise Unavailable(
                f"Prometheus at {self.url} refused the credentials (HTTP {response.status_code})",
                hint=f"check authorization / basic_auth in --prometheus-config (${CONFIG_ENV})",
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise Unavailable(
                f"Prometheus at {self.url} answered HTTP {response.status_code} without JSON"
            ) from exc
        if not isinstance(body, dict):
            raise Unavailable(f"Prometheus at {self.url} answered JSON that is not an object")
        for warning in body.get("warnings") or ():
            self._warn(str(warning))
        if body.get("status") != "success":
            kind, error = body.get("errorType", ""), body.get("error", "unknown error")
            if kind in {"bad_data", "execution"} and query:
                raise QueryError(f"Prometheus rejected the query: {error}", query=query)
            raise Unavailable(f"Prometheus at {self.url}: {kind or response.status_code}: {error}")
        return body["data"]

    def _warn(self, warning: str) -> None:
        with self._lock:
            if warning in self.warnings:
                return
            self.warnings.append(warning)
        if self._on_warning is not None:
            self._on_warning(warning)

    def query(self, expr: str, at: float) -> list[Sample]:
        """Evaluate ``expr`` at unix time ``at``; a scalar comes back as one unlabeled sample."""
        data = self._get("/api/v1/query", [("query", expr), ("time", _ts(at))], expr)
        kind, result = data["resultType"], data["result"]
        if kind == "scalar":
            return [Sample({}, float(result[1]))]
        if kind != "vector":
            raise QueryError(f"expected an instant vector, got a {kind}", query=expr)
        return [Sample(dict(r["metric"]), float(r["value"][1])) for r in result]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """Evaluate ``expr`` at ``start``, ``start + step``, ... up to ``end``."""
        params = [("query", expr), ("start", _ts(start)), ("end", _ts(end)), ("step", _ts(step))]
        data = self._get("/api/v1/query_range", params, expr)
        if data["resultType"] != "matrix":
            raise QueryError(f"expected a range vector, got a {data['resultType']}", query=expr)
        return [
            Series(
                dict(r["metric"]),
                [float(t) for t, _ in r["values"]],
                [float(v) for _, v in r["values"]],
            )
            for r in data["result"]
        ]

    def format_query(self, expr: str) -> str:
        """``expr`` as the server's parser prints it; :class:`QueryError` if it does not parse."""
        return str(self._get("/api/v1/format_query", [("query", expr)], expr))

    def series(self, match: str, start: float, end: float) -> list[dict[str, str]]:
        """Label sets of the series that ``match`` selects between ``start`` and ``end``."""
        params = [("match[]", match), ("start", _ts(start)), ("end", _ts(end))]
        return [dict(s) for s in self._get("/api/v1/series", params, match)]

    def alert_rule_durations(self) -> list[float]:
        """The ``for:`` of every alerting rule the server evaluates, in seconds."""
        data = self._get("/api/v1/rules", [("type", "alert")])
        return [
            float(rule.get("duration", 0))
            for group in data.get("groups", [])
            for rule in group.get("rules", [])
        ]

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        """Values of ``label`` among series matching ``match``."""
        params = [("match[]", match), ("start", _ts(start)), ("end", _ts(end))]
        return [str(v) for v in self._get(f"/api/v1/label/{label}/values", params, match)]


def connect(
    url: str | None,
    *,
    config: Path | None = None,
    timeout: float | None = None,
    on_warning: WarningSink | None = None,
) -> PrometheusClient:
    """The client for a ``--prometheus`` URL (or ``$AQUA_PROMETHEUS_URL``) with the settings
    of ``config`` (``--prometheus-config``, else ``$AQUA_PROMETHEUS_CONFIG``); the config's
    ``url`` serves when no URL is given, and a UsageError says so when neither is.

    ``timeout`` is the caller's default (a runbook probe wants a short one); a config file's
    ``timeout`` wins. Warnings go to ``on_warning``, by default to stderr, each once.
    """
    settings = load_settings(config)
    target = url or settings.url
    if not target:
        raise UsageError(
            "--prometheus URL is required",
            hint=f"or set AQUA_PROMETHEUS_URL, or url: in --prometheus-config (${CONFIG_ENV}); "
            "while a stack runs (`aqua stack up`), its Prometheus is the default",
        )
    return PrometheusClient(
        target,
        timeout=30.0 if timeout is None else timeout,
        settings=settings,
        on_warning=on_warning or _print_warning,
    )


def config_url(config: Path | None) -> str | None:
    """The ``url`` of the Prometheus config file in use, if it names one."""
    return load_settings(config).url


def _print_warning(warning: str) -> None:
    from sre_cli.console import get_err_console

    get_err_console().print(f"warning: Prometheus: {warning}", highlight=False, markup=False)


def load_settings(config: Path | None) -> ClientSettings:
    """Read ``config`` (or the file ``$AQUA_PROMETHEUS_CONFIG`` names); defaults without one.

    A missing file, an unknown key or an unreadable secret is a ConfigError (exit 2)."""
    if config is None:
        env = os.environ.get(CONFIG_ENV)
        config = Path(env) if env else None
    if config is None:
        return ClientSettings()
    import yaml

    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read Prometheus config {config}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Prometheus config {config} is not YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"Prometheus config {config}: expected a mapping at the top")
    return _parse(raw, config)


_KEYS = {"url", "timeout", "headers", "authorization", "basic_auth", "tls_config", "retries"}
_SECTIONS = {
    "authorization": {"type", "credentials_file", "credentials_env"},
    "basic_auth": {"username", "password_file", "password_env"},
    "tls_config": {"ca_file", "cert_file", "key_file", "insecure_skip_verify"},
    "retries": {"attempts", "backoff", "max_backoff"},
}


def _parse(raw: dict[str, Any], source: Path) -> ClientSettings:
    from sre_cli.timespec import parse_seconds

    def fail(message: str) -> ConfigError:
        return ConfigError(f"Prometheus config {source}: {message}")

    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    sections: dict[str, dict[str, Any]] = {}
    for name, keys in _SECTIONS.items():
        value = raw.get(name) or {}
        if not isinstance(value, dict):
            raise fail(f"{name} must be a mapping")
        extra = sorted(set(value) - keys)
        if extra:
            raise fail(f"unknown key {name}.{extra[0]} (known: {', '.join(sorted(keys))})")
        sections[name] = value

    def path(value: object, key: str) -> Path:
        if not isinstance(value, str) or not value:
            raise fail(f"{key} must be a file path")
        p = Path(value).expanduser()
        return p if p.is_absolute() else source.parent / p

    def secret(section: str, file_key: str, env_key: str) -> str | None:
        body = sections[section]
        if file_key in body and env_key in body:
            raise fail(f"{section}: give {file_key} or {env_key}, not both")
        if file_key in body:
            file = path(body[file_key], f"{section}.{file_key}")
            try:
                value = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise fail(f"cannot read {section}.{file_key} {file}: {exc.strerror}") from exc
        elif env_key in body:
            value = os.environ.get(str(body[env_key]), "").strip()
            if not value:
                raise fail(f"{section}.{env_key}: ${body[env_key]} is not set")
        else:
            return None
        if not value:
            raise fail(f"{section}.{file_key}: the file is empty")
        return value

    def seconds(value: object, key: str) -> float:
        try:
            result = parse_seconds(value)
        except ValueError as exc:
            raise fail(f"{key}: {exc}") from exc
        if not math.isfinite(result) or result < 0:
            raise fail(f"{key} must be a non-negative duration")
        return result

    url = raw.get("url")
    if url is not None and not isinstance(url, str):
        raise fail("url must be a string")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) for k, v in headers.items()
    ):
        raise fail("headers must map header names to values")
    lowered = {k.lower() for k in headers}
    if "authorization" in lowered:
        raise fail("put credentials in authorization or basic_auth, not in headers")
    kind = str(sections["authorization"].get("type", "Bearer"))
    if kind.lower() != "bearer":
        raise fail(f"authorization.type {kind!r} is not supported (Bearer)")
    token = secret("authorization", "credentials_file", "credentials_env")
    password = secret("basic_auth", "password_file", "password_env")
    basic = sections["basic_auth"]
    if token is not None and basic:
        raise fail("give authorization or basic_auth, not both")
    if basic and ("username" not in basic or password is None):
        raise fail("basic_auth needs username and password_file or password_env")
    tls = sections["tls_config"]
    if ("cert_file" in tls) != ("key_file" in tls):
        raise fail("tls_config: cert_file and key_file go together")
    verify_off = tls.get("insecure_skip_verify", False)
    if not isinstance(verify_off, bool):
        raise fail("tls_config.insecure_skip_verify must be true or false")
    retries = sections["retries"]
    attempts = retries.get("attempts", 3)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts <= 10:
        raise fail("retries.attempts must be a whole number from 0 to 10")
    settings = ClientSettings(
        url=url,
        timeout=seconds(raw["timeout"], "timeout") if "timeout" in raw else None,
        headers={k: str(v) for k, v in headers.items()},
        bearer_token=token,
        basic_auth=(str(basic["username"]), password) if basic and password else None,
        ca_file=path(tls["ca_file"], "tls_config.ca_file") if "ca_file" in tls else None,
        cert_file=path(tls["cert_file"], "tls_config.cert_file") if "cert_file" in tls else None,
        key_file=path(tls["key_file"], "tls_config.key_file") if "key_file" in tls else None,
        insecure_skip_verify=verify_off,
        retries=attempts,
        backoff=seconds(retries.get("backoff", 0.5), "retries.backoff"),
        max_backoff=seconds(retries.get("max_backoff", 8.0), "retries.max_backoff"),
        source=source,
    )
    if settings.timeout is not None and settings.timeout <= 0:
        raise fail("timeout must be positive")
    for file in (settings.ca_file, settings.cert_file, settings.key_file):
        if file is not None and not file.is_file():
            raise fail(f"no such file: {file}")
    return settings


def _http_client(
    url: str,
    settings: ClientSettings,
    timeout: float,
    transport: httpx.BaseTransport | None,
    headers: Mapping[str, str] | None,
) -> httpx.Client:
    merged = {**settings.headers, **(headers or {})}
    if settings.bearer_token is not None:
        merged["Authorization"] = f"Bearer {settings.bearer_token}"
    verify: Any = True
    if settings.insecure_skip_verify:
        verify = False
    elif settings.ca_file is not None or settings.cert_file is not None:
        import ssl

        verify = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file is not None and settings.key_file is not None:
            try:
                verify.load_cert_chain(str(settings.cert_file), str(settings.key_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"Prometheus config {settings.source}: cannot load the client "
                    f"certificate {settings.cert_file}: {exc}"
                ) from exc
    return httpx.Client(
        base_url=url,
        timeout=timeout,
        transport=transport,
        headers=merged,
        auth=settings.basic_auth,
        verify=verify,
    )


def _tls_failure(exc: httpx.ConnectError) -> bool:
    """A certificate the client rejects will be rejected again: no point retrying it."""
    import ssl

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _ts(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError("time must be finite")
    return f"{value:.3f}".rstrip("0").rstrip(".")
