"""Per-kind launch recipes: the argv, environment and config each component starts with.

Python services run from the interpreter aqua runs under (``AQUA_STACK_PYTHON`` overrides),
configured only through their documented ``AQUA_*`` settings. Secrets reach them as files
(``AQUA_JWT_SECRET_FILE``, ``AQUA_BOOTSTRAP_ADMIN_PASSWORD_FILE``) generated per stack in
``ROOT/secrets/``; no built-in default secret is ever used.

Servers come from the real-server library :mod:`sre_cli.infra`; their config files (nginx,
Prometheus, Alertmanager) are rendered by :mod:`sre_cli.stack.configs` into ``ROOT/config/``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sre_cli.errors import ConfigError
from sre_cli.infra.pgroles import APP, OWNER
from sre_cli.stack import releases
from sre_cli.stack.releases import DEPLOYMENTS
from sre_cli.stack.runners import ProcessRunner, Runner
from sre_cli.stack.spec import ComponentSpec, StackPlan, StateLayout
from sre_cli.stack.state import load_or_create_secrets, write_secret_files

if TYPE_CHECKING:
    from sre_cli.stack.cgroups import Cgroup

__all__ = ["python_executable", "runner_for", "service_env"]

#: drain briefly: nginx retries another replica, it does not wait for /ready to fail.
DRAIN_SECONDS = "1"


def python_executable() -> str:
    """The interpreter the Python components run under."""
    return os.environ.get("AQUA_STACK_PYTHON") or sys.executable


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _base_env(layout: StateLayout) -> dict[str, str]:
    env = dict(os.environ)
    root = str(_repo_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env["AQUA_STACK_DIR"] = str(layout.root)
    # Settings of the caller's shell must not leak into the stack's services.
    for key in [k for k in env if k.startswith("AQUA_") and k not in _KEEP]:
        del env[key]
    return env


_KEEP = frozenset(
    {"AQUA_STACK_ID", "AQUA_STACK_DIR", "AQUA_CACHE", "AQUA_BIN_DIR", "AQUA_BIN_PATH"}
)


def service_env(spec: ComponentSpec, plan: StackPlan, layout: StateLayout) -> dict[str, str]:
    """The environment of one Python service of the stack."""
    env = _base_env(layout)
    env.update(
        AQUA_HOST="127.0.0.1",
        AQUA_PORT=str(spec.port),
        AQUA_LOG_LEVEL="INFO",
        AQUA_SERVICE_NAME=f"aqua-{spec.kind}",
    )
    ml = [c for c in plan.components if c.kind == "ml"]
    if ml:
        env["AQUA_ML_URL"] = ml[0].url
    redis = [c for c in plan.components if c.kind == "redis"]
    kafka = [c for c in plan.components if c.kind == "kafka"]
    if kafka:
        kafka_port = _through_proxy(plan, spec, "kafka", kafka[0].port)
        env["AQUA_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{kafka_port}"
        env["AQUA_KAFKA_REPLICATION_FACTOR"] = "1"
    jaeger = plan.of_kind("jaeger")
    if jaeger:
        # Every request of a local stack is traced: it serves a person, not a benchmark.
        env["AQUA_OTLP_ENDPOINT"] = f"http://127.0.0.1:{jaeger[0].extra_ports['otlp']}"
        env["AQUA_TRACE_SAMPLE_RATIO"] = "1.0"
    if spec.kind in ("api", "worker", "ml"):
        # The ML service answers only the API and worker, which present this token.
        files = write_secret_files(load_or_create_secrets(layout.secrets_file), layout.secrets_dir)
        env["AQUA_ML_SERVICE_TOKEN_FILE"] = str(files["ml_service_token"])
    if spec.kind in ("api", "worker"):
        env["AQUA_DATABASE_URL"] = plan.database_url
        if plan.has("postgres"):
            # The services connect as the least-privilege role; api-1 migrates as the owner.
            secrets_ = load_or_create_secrets(layout.secrets_file)
            postgres = plan.component("postgres").port
            database_url = plan.database_url.replace(
                f"127.0.0.1:{postgres}/",
                f"127.0.0.1:{_through_proxy(plan, spec, 'postgres', postgres)}/",
            )
            env["AQUA_DATABASE_URL"] = _with_role(database_url, APP, secrets_.postgres_app_password)
            if spec.kind == "api" and spec.replica == 1:
                env["AQUA_DATABASE_MIGRATION_URL"] = _with_role(
                    database_url, OWNER, secrets_.postgres_owner_password
                )
        if redis:
            password = load_or_create_secrets(layout.secrets_file).redis_password
            redis_port = _through_proxy(plan, spec, "redis", redis[0].port)
            env["AQUA_REDIS_URL"] = f"redis://:{password}@127.0.0.1:{redis_port}/0"
    if spec.kind == "api":
        secrets = load_or_create_secrets(layout.secrets_file)
        files = write_secret_files(secrets, layout.secrets_dir)
        env.update(
            AQUA_ENVIRONMENT="production",
            AQUA_WORKERS="1",
            AQUA_JWT_SECRET_FILE=str(files["jwt_secret"]),
            AQUA_BOOTSTRAP_ADMIN_USERNAME=secrets.admin_username,
            AQUA_BOOTSTRAP_ADMIN_PASSWORD_FILE=str(files["admin_password"]),
            AQUA_DRAIN_SECONDS=DRAIN_SECONDS,
            AQUA_SHUTDOWN_TIMEOUT_SECONDS="5",
            AQUA_ACCESS_LOG="false",
            # api-1 migrates before the other replicas start (they depend on it).
            AQUA_DB_MIGRATE_ON_START="true" if spec.replica == 1 else "false",
            # The seed and load generator run as one user: no per-user limit on a local stack.
            AQUA_RATE_LIMIT_REQUESTS="0",
            # Login limits on. Every client of a local stack shares one address (nginx's
            # peer, 127.0.0.1), so the per-IP limit is wide; a load test's simulated users each
            # log in once (spread over `aqua loadtest --logins N` accounts), hence 120 a
            # username a minute. Failed logins of a username back off from the third on.
            AQUA_LOGIN_LIMIT_PER_USER="120",
            AQUA_LOGIN_LIMIT_PER_IP="1200",
            AQUA_QUEUE=plan.queue,
        )
        if any(c.kind == "nginx" for c in plan.components):
            # nginx overwrites X-Forwarded-For with the address it saw: trust that hop only.
            env["AQUA_TRUSTED_PROXIES"] = '["127.0.0.1/32"]'
        if plan.faults:
            env["AQUA_FAULTS_ENABLED"] = "true"
        if plan.lite:
            env["AQUA_SQLITE_PATH"] = str(layout.workdir("api") / "aqua.sqlite3")
    if spec.kind == "worker":
        env["AQUA_WORKER_METRICS_PORT"] = str(spec.port)
    if spec.kind in DEPLOYMENTS:
        # the current release's settings, and its template hash for the agent (releases.py)
        now = releases.current(layout, spec.kind)
        env.update(now.env)
        env[releases.TEMPLATE_ENV] = now.template
    return env


def _through_proxy(plan: StackPlan, spec: ComponentSpec, dependency: str, port: int) -> int:
    """Where the API or a worker reaches ``dependency``: toxiproxy's proxy in front of it
    with ``--network-faults``, else the server's own ``port``."""
    proxy = plan.proxied(dependency) if spec.kind in ("api", "worker") else None
    return proxy or port


def _with_role(url: str, role: str, password: str) -> str:
    """``url`` (``scheme://user@host:port/db``) with ``role:password`` as its credentials."""
    from urllib.parse import quote

    scheme, _, rest = url.partition("://")
    address = rest.rpartition("@")[2]
    return f"{scheme}://{quote(role, safe='')}:{quote(password, safe='')}@{address}"


def _module_argv(kind: str, spec: ComponentSpec) -> list[str]:
    py = python_executable()
    if kind == "api":
        if importlib.util.find_spec("service.api.__main__") is not None:
            return [py, "-m", "service.api"]
        return [
            py,
            "-m",
            "uvicorn",
            "--factory",
            "service.api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(spec.port),
            "--no-access-log",
        ]
    if kind == "ml":
        return [py, "-m", "service.ml", "serve", "--host", "127.0.0.1", "--port", str(spec.port)]
    if kind == "worker":
        return [py, "-m", "service.worker"]
    raise ConfigError(f"no launcher for {kind}")


def _limits(spec: ComponentSpec, plan: StackPlan, layout: StateLayout) -> Cgroup:
    """The cgroup with the CPU and memory limits of the component's Deployment."""
    from sre_cli.stack.cgroups import cgroup_for, stack_group
    from sre_cli.stack.usage import KUBERNETES_LIMITS

    memory, cpu = KUBERNETES_LIMITS[spec.kind]
    if spec.kind == "api" and plan.api_cpu is not None:
        cpu = plan.api_cpu
    return cgroup_for(stack_group(layout.root), spec.name, cpu, memory)


def runner_for(spec: ComponentSpec, plan: StackPlan, layout: StateLayout) -> Runner:
    """A fresh runner for ``spec`` (called for every start and restart)."""
    log = layout.log(spec.name)
    if spec.kind == "agent":
        argv = [
            python_executable(),
            "-m",
            "sre_cli.stack.agent",
            "--state-dir",
            str(layout.root),
            "--port",
            str(spec.port),
        ]
        return ProcessRunner(argv, log, env=_base_env(layout))
    if spec.kind in ("api", "ml", "worker"):
        workdir = layout.workdir(spec.kind if spec.kind == "api" else spec.name)
        workdir.mkdir(parents=True, exist_ok=True)
        return ProcessRunner(
            _module_argv(spec.kind, spec),
            log,
            env=service_env(spec, plan, layout),
            cwd=workdir,
            cgroup=_limits(spec, plan, layout) if plan.limits else None,
        )
    from sre_cli.stack import servers

    return servers.server_runner(spec, plan, layout)
