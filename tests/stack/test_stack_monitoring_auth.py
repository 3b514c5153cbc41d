"""Prometheus and Alertmanager as users reach them: through the stack's nginx, basic auth.

The stack's own servers (the supervisor's runners, the stack's rendered configs) on free
ports: nginx answers 401 under /prometheus/ and /alertmanager/ without the generated password
(bcrypt in an htpasswd file, the password itself in ``ROOT/secrets``, 0600), and proxies with
it. Prometheus keeps its admin API off behind nginx too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from infra_harness import require_binary

from sre_cli.infra.process import free_port
from sre_cli.stack.plan import MachineEnvironment, StackOptions, build_plan
from sre_cli.stack.servers import ServerRunner, server_runner
from sre_cli.stack.spec import Ports, StateLayout
from sre_cli.stack.state import load_or_create_secrets, write_secret_files

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_workdir: Path) -> Iterator[tuple[str, str, StateLayout]]:
    """nginx's URL, the monitoring password and the layout, with Prometheus, Alertmanager
    and nginx of a stack plan running."""
    for tool in ("nginx", "prometheus", "alertmanager"):
        require_binary(tool)
    layout = StateLayout(tmp_workdir / "monitoring-auth")
    layout.create()
    names = ("nginx", "prometheus", "alertmanager")
    ports = Ports().with_overrides({name: free_port() for name in names})
    plan = build_plan(StackOptions(ports=ports), MachineEnvironment(), layout)
    layout.plan_file.write_text(plan.model_dump_json(), encoding="utf-8")
    secrets = load_or_create_secrets(layout.secrets_file)
    write_secret_files(secrets, layout.root / "secrets")
    runners: list[ServerRunner] = []
    try:
        for name in ("prometheus", "alertmanager", "nginx"):
            runner = server_runner(plan.component(name), plan, layout)
            assert isinstance(runner, ServerRunner)
            runner.start()
            runners.append(runner)
        yield plan.component("nginx").url, secrets.monitoring_password, layout
    finally:
        for runner in reversed(runners):
            runner.stop()


@pytest.mark.parametrize(
    "path",
    ["/prometheus/api/v1/query?query=up", "/prometheus/graph", "/alertmanager/api/v2/status"],
)
def test_without_the_password_nginx_answers_401(
    stack: tuple[str, str, StateLayout], path: str
) -> None:
    url, password, _ = stack
    r = httpx.get(url + path, timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    wrong = httpx.get(url + path, auth=("aqua", password + "x"), timeout=30)
    assert wrong.status_code == 401
    other_user = httpx.get(url + path, auth=("admin", password), timeout=30)
    assert other_user.status_code == 401


def test_with_the_password_the_servers_answer(stack: tuple[str, str, StateLayout]) -> None:
    url, password, _ = stack
    auth = ("aqua", password)
    r = httpx.get(f"{url}/prometheus/api/v1/query", params={"query": "1+1"}, auth=auth, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["result"][1] == "2"
    status = httpx.get(f"{url}/alertmanager/api/v2/status", auth=auth, timeout=30)
    assert status.status_code == 200, status.text
    # The UI's links point back through nginx.
    flags = httpx.get(f"{url}/prometheus/api/v1/status/flags", auth=auth, timeout=30).json()
    assert flags["data"]["web.external-url"] == f"{url}/prometheus/"


def test_a_silence_needs_the_password(stack: tuple[str, str, StateLayout]) -> None:
    url, password, _ = stack
    silence = {
        "matchers": [{"name": "alertname", "value": "X", "isRegex": False}],
        "startsAt": "2030-01-01T00:00:00Z",
        "endsAt": "2030-01-01T01:00:00Z",
        "createdBy": "test",
        "comment": "test",
    }
    refused = httpx.post(f"{url}/alertmanager/api/v2/silences", json=silence, timeout=30)
    assert refused.status_code == 401
    made = httpx.post(
        f"{url}/alertmanager/api/v2/silences", json=silence, auth=("aqua", password), timeout=30
    )
    assert made.status_code == 200, made.text


def test_the_admin_api_stays_off_behind_nginx(stack: tuple[str, str, StateLayout]) -> None:
    url, password, _ = stack
    r = httpx.post(
        f"{url}/prometheus/api/v1/admin/tsdb/delete_series",
        params={"match[]": "up"},
        auth=("aqua", password),
        timeout=30,
    )
    assert r.status_code >= 400


def test_the_password_is_stored_hashed_and_private(stack: tuple[str, str, StateLayout]) -> None:
    _, password, layout = stack
    secret = layout.root / "secrets" / "monitoring_password"
    assert secret.read_text() == password
    assert secret.stat().st_mode & 0o777 == 0o600
    conf = (layout.workdir("nginx") / "nginx" / "nginx.conf").read_text()
    htpasswd = Path(conf.split("auth_basic_user_file ", 1)[1].split(";", 1)[0])
    line = htpasswd.read_text()
    assert line.startswith("aqua:$2b$10$")
    assert password not in line
    assert password not in conf
    assert htpasswd.stat().st_mode & 0o007 == 0
