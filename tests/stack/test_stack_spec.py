"""The stack as data: ports, plans for what a machine has, state files. No processes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from stack.fake_env import ALL_BINARIES, ALL_MODULES, FakeEnv, plan_on

from sre_cli.errors import ConfigError, MissingDependency, UsageError
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import (
    ComponentSpec,
    Ports,
    Probe,
    StackPlan,
    StateLayout,
    default_state_dir,
)
from sre_cli.stack.state import (
    ComponentState,
    StackState,
    atomic_write,
    load_or_create_secrets,
    read_state,
)


def test_default_ports_are_documented_and_distinct() -> None:
    p = Ports()
    assert (p.nginx, p.ml, p.worker, p.api, p.prometheus, p.alertmanager) == (
        8080,
        8001,
        8002,
        8010,
        9090,
        9093,
    )
    values = list(p.model_dump().values())
    assert len(values) == len(set(values))


def test_port_base_moves_every_port_and_overrides_win() -> None:
    p = Ports.from_base(20000).with_overrides(Ports.parse_overrides(["prometheus=29999"]))
    assert (p.nginx, p.ml, p.worker, p.api, p.agent, p.prometheus) == (
        20000,
        20001,
        20002,
        20010,
        20022,
        29999,
    )
    with pytest.raises(UsageError, match="unknown port name"):
        Ports().with_overrides({"nope": 1})
    with pytest.raises(UsageError, match="NAME=PORT"):
        Ports.parse_overrides(["nginx:80"])
    with pytest.raises(UsageError, match="out of range"):
        Ports.from_base(65530)


def test_full_plan_order_dependencies_and_urls(tmp_path: Path) -> None:
    plan = plan_on(FakeEnv(), tmp_path, api_replicas=3, workers=2)
    names = [c.name for c in plan.start_order()]
    assert (
        names.index("postgres") < names.index("api-1") < names.index("api-2") < names.index("nginx")
    )
    assert names.index("kafka") < names.index("worker-1")
    assert names.index("agent") < names.index("alertmanager") < names.index("prometheus")
    nginx = plan.component("nginx")
    assert set(nginx.depends_on) == {"api-1", "api-2", "api-3"}
    assert "api-1" in plan.component("api-2").depends_on  # api-1 migrates the schema first
    assert [c.port for c in plan.of_kind("api")] == [8010, 8011, 8012]
    assert [c.port for c in plan.of_kind("worker")] == [8002, 8003]
    assert plan.entry_url == "http://127.0.0.1:8080"
    assert plan.queue == "kafka"
    assert not plan.degraded
    assert not plan.not_available
    assert plan.component("kafka").extra_ports == {"controller": 9096}
    assert plan.database_url.startswith("postgresql+asyncpg://aqua_app@127.0.0.1:5433/")
    assert StackPlan.model_validate_json(plan.model_dump_json()) == plan


def test_full_plan_refuses_missing_servers_and_points_to_lite(tmp_path: Path) -> None:
    env = FakeEnv(binaries=ALL_BINARIES - {"redis-server"}, kafka="jars not fetched")
    with pytest.raises(MissingDependency) as info:
        plan_on(env, tmp_path)
    assert "redis" in info.value.message
    assert "kafka (jars not fetched)" in info.value.message
    assert info.value.hint
    assert "--lite" in info.value.hint


def test_missing_worker_code_is_reported_not_faked(tmp_path: Path) -> None:
    env = FakeEnv(modules=ALL_MODULES - {"service.worker.__main__"})
    plan = plan_on(env, tmp_path, workers=2)
    assert not plan.of_kind("worker")
    assert [n.name for n in plan.not_available] == ["worker-1", "worker-2"]
    assert "service.worker" in plan.not_available[0].reason
    # Nobody would consume Kafka: the API stores readings itself, and the plan says so.
    assert plan.queue == "direct"
    assert any("queue" in d and "worker" in d for d in plan.degraded)
    with pytest.raises(UsageError, match="not part of this stack"):
        plan.component("worker-1")


def test_fault_injection_is_off_unless_asked_for(tmp_path: Path) -> None:
    from sre_cli.stack.launch import service_env

    layout = StateLayout(tmp_path)
    layout.create()
    for faults in (False, True):
        plan = plan_on(FakeEnv(), tmp_path, faults=faults)
        assert StackPlan.model_validate_json(plan.model_dump_json()).faults is faults
        for api in plan.of_kind("api"):
            assert ("AQUA_FAULTS_ENABLED" in service_env(api, plan, layout)) is faults
        ml = plan.component("ml")
        assert "AQUA_FAULTS_ENABLED" not in service_env(ml, plan, layout)
    # plans written before the option existed still load, with faults off
    old = json.loads(plan.model_dump_json())
    del old["faults"]
    assert StackPlan.model_validate(old).faults is False


def test_full_plan_traces_into_jaeger_or_says_it_does_not(tmp_path: Path) -> None:
    from sre_cli.stack.launch import service_env

    layout = StateLayout(tmp_path)
    layout.create()
    plan = plan_on(FakeEnv(), tmp_path)
    jaeger = plan.component("jaeger")
    assert (jaeger.port, jaeger.extra_ports) == (16686, {"otlp": 4318})
    assert jaeger.url == "http://127.0.0.1:16686"
    for name in ("api-1", "ml", "worker-1"):
        env = service_env(plan.component(name), plan, layout)
        assert env["AQUA_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
        assert env["AQUA_TRACE_SAMPLE_RATIO"] == "1.0"
    moved = plan_on(FakeEnv(), tmp_path, ports=Ports.from_base(20000))
    assert moved.component("jaeger").extra_ports == {"otlp": 20028}

    without = plan_on(FakeEnv(binaries=ALL_BINARIES - {"jaeger"}), tmp_path)
    assert not without.has("jaeger")
    assert any("tracing" in d and "build-jaeger" in d for d in without.degraded)
    assert "AQUA_OTLP_ENDPOINT" not in service_env(without.component("api-1"), without, layout)
    assert not plan_on(FakeEnv(), tmp_path, lite=True).has("jaeger")


def test_lite_plan_with_no_server_installed(tmp_path: Path) -> None:
    plan = plan_on(FakeEnv(binaries=set(), kafka="java is not installed"), tmp_path, lite=True)
    assert {c.kind for c in plan.components} == {"ml", "api", "agent"}
    assert plan.queue == "embedded"
    assert plan.workers == 0
    assert plan.database_url.startswith("sqlite+aiosqlite:///")
    text = "\n".join(plan.degraded)
    for word in ("SQLite", "Redis", "in-process", "nginx", "Alertmanager", "Prometheus"):
        assert word in text
    assert plan.entry_url == "http://127.0.0.1:8010"


def test_lite_plan_uses_the_servers_that_are_there(tmp_path: Path) -> None:
    plan = plan_on(FakeEnv(binaries={"nginx", "prometheus", "alertmanager"}), tmp_path, lite=True)
    assert {"nginx", "prometheus", "alertmanager"} <= {c.name for c in plan.components}
    assert not plan.has("postgres")
    assert plan.entry_url == "http://127.0.0.1:8080"


def test_port_collisions_and_cycles_are_config_errors(tmp_path: Path) -> None:
    ports = Ports().with_overrides({"prometheus": 8010})
    with pytest.raises(ConfigError, match="port 8010 is assigned to both"):
        build_plan(StackOptions(ports=ports), FakeEnv(), StateLayout(tmp_path))
    probe = Probe(kind="tcp")
    a = ComponentSpec(name="a", kind="api", port=1, url="", probe=probe, depends_on=("b",))
    b = ComponentSpec(name="b", kind="api", port=2, url="", probe=probe, depends_on=("a",))
    plan = StackPlan(lite=True, api_replicas=1, workers=0, ports=Ports(), components=(a, b))
    with pytest.raises(ConfigError, match="cycle"):
        plan.start_order()


def test_replica_and_worker_limits(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        plan_on(FakeEnv(), tmp_path, api_replicas=0)
    with pytest.raises(UsageError):
        plan_on(FakeEnv(), tmp_path, workers=9)


def test_default_state_dir() -> None:
    assert default_state_dir({"AQUA_STATE_DIR": "/x/y"}) == Path("/x/y")
    assert default_state_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/aqua/stack")
    assert default_state_dir({}).parts[-4:] == (".local", "state", "aqua", "stack")


def test_state_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_state(path) is None
    state = StackState(supervisor_pid=1, stack_id="x", started_at=1.0)
    state.components["api-1"] = ComponentState(name="api-1", port=8010, restarts=2)
    atomic_write(path, state.model_dump_json())
    assert read_state(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left behind
    path.write_text("{not json")
    with pytest.raises(ConfigError):
        read_state(path)


def test_secrets_are_generated_once_private_and_never_default(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    first = load_or_create_secrets(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.jwt_secret) >= 32
    assert len(first.admin_password) >= 16
    assert load_or_create_secrets(path) == first
    other = load_or_create_secrets(tmp_path / "other.json")
    assert other.jwt_secret != first.jwt_secret
    assert other.admin_password != first.admin_password
    assert json.loads(path.read_text())["admin_username"] == "admin"


def test_lite_without_nginx_defaults_to_one_replica(tmp_path: Path) -> None:
    assert plan_on(FakeEnv(binaries=set()), tmp_path, lite=True).api_replicas == 1
    assert plan_on(FakeEnv(binaries={"nginx"}), tmp_path, lite=True).api_replicas == 2
    assert plan_on(FakeEnv(binaries=set()), tmp_path, lite=True, api_replicas=3).api_replicas == 3
    assert plan_on(FakeEnv(), tmp_path).api_replicas == 2
