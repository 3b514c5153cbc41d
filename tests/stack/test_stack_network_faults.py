"""``aqua stack up --network-faults`` as data: toxiproxy in the plan, the services pointed at
its proxies, Kafka's second listener, and the chaos action's checks. No processes (the real
stack is in tests/chaos/test_chaos_network.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stack.fake_env import ALL_BINARIES, FakeEnv, plan_on

from sre_cli.chaos.experiment import load_experiment
from sre_cli.chaos.network import NetworkFault, plan_clear, plan_fault
from sre_cli.errors import MissingDependency, SpecError, UsageError
from sre_cli.stack.launch import service_env
from sre_cli.stack.servers import fault_proxies
from sre_cli.stack.spec import Ports, StackPlan, StateLayout

WITH_TOXIPROXY = ALL_BINARIES | {"toxiproxy"}


def _layout(tmp_path: Path) -> StateLayout:
    layout = StateLayout(tmp_path)
    layout.create()
    return layout


def test_without_the_option_nothing_changes(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    plan = plan_on(FakeEnv(binaries=WITH_TOXIPROXY), tmp_path)
    assert not plan.has("toxiproxy")
    assert plan.network_faults is False
    assert plan.proxied("postgres") is None
    assert "proxied" not in plan.component("kafka").extra_ports
    env = service_env(plan.component("api-1"), plan, layout)
    assert ":5433/aqua" in env["AQUA_DATABASE_URL"]
    assert env["AQUA_REDIS_URL"].endswith("@127.0.0.1:6380/0")
    assert env["AQUA_KAFKA_BOOTSTRAP"] == "127.0.0.1:9092"
    # plans written before the option existed still load
    old = json.loads(plan.model_dump_json())
    del old["network_faults"]
    assert StackPlan.model_validate(old).network_faults is False


def test_the_services_reach_every_dependency_through_its_proxy(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    ports = Ports.from_base(20000)
    plan = plan_on(FakeEnv(binaries=WITH_TOXIPROXY), tmp_path, network_faults=True, ports=ports)
    proxy = plan.component("toxiproxy")
    assert (proxy.port, proxy.url) == (20029, "http://127.0.0.1:20029")
    assert proxy.extra_ports == {"postgres": 20030, "redis": 20031, "kafka": 20032}
    assert plan.component("kafka").extra_ports == {"controller": 20026, "proxied": 20033}
    names = [c.name for c in plan.start_order()]
    assert names.index("toxiproxy") < names.index("api-1")
    assert names.index("toxiproxy") < names.index("worker-1")

    for name in ("api-1", "worker-1"):
        env = service_env(plan.component(name), plan, layout)
        assert "@127.0.0.1:20030/aqua" in env["AQUA_DATABASE_URL"], name
        assert env["AQUA_REDIS_URL"].endswith("@127.0.0.1:20031/0")
        assert env["AQUA_KAFKA_BOOTSTRAP"] == "127.0.0.1:20032"
    migration = service_env(plan.component("api-1"), plan, layout)["AQUA_DATABASE_MIGRATION_URL"]
    assert "@127.0.0.1:20030/aqua" in migration
    # everything else keeps the servers' own ports
    assert plan.component("postgres").port == 20023
    assert ":20023/" in plan.database_url

    upstreams = {p.name: (p.listen, p.upstream) for p in fault_proxies(plan, proxy)}
    assert upstreams == {
        "postgres": (20030, 20023),
        "redis": (20031, 20024),
        "kafka": (20032, 20033),
    }


def test_kafka_advertises_the_proxy_on_its_second_listener(tmp_path: Path) -> None:
    from sre_cli.infra.kafka import KafkaServer

    broker = KafkaServer(tmp_path, 9092, controller_port=9096, proxied=(9097, 19092))
    props = broker.properties()
    assert props["listeners"].endswith(",PROXIED://127.0.0.1:9097")
    assert props["advertised.listeners"] == ("PLAINTEXT://127.0.0.1:9092,PROXIED://127.0.0.1:19092")
    assert props["listener.security.protocol.map"].endswith(",PROXIED:PLAINTEXT")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    plain = KafkaServer(tmp_path, 9092, controller_port=9096).properties()
    assert "PROXIED" not in plain["listeners"] + plain["advertised.listeners"]


def test_the_option_needs_the_servers_and_the_binary(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--lite stack has none"):
        plan_on(FakeEnv(binaries=WITH_TOXIPROXY), tmp_path, lite=True, network_faults=True)
    with pytest.raises(MissingDependency, match="needs toxiproxy") as caught:
        plan_on(FakeEnv(), tmp_path, network_faults=True)
    assert "build-toxiproxy" in (caught.value.hint or "")


def test_a_network_fault_names_its_blast_radius_and_refuses_a_stack_without_proxy(
    tmp_path: Path,
) -> None:
    fault = NetworkFault(dependency="postgres", latency=0.2, jitter=0.02)
    direct = plan_on(FakeEnv(binaries=WITH_TOXIPROXY), tmp_path)
    with pytest.raises(UsageError, match="reaches postgres directly") as caught:
        plan_fault(direct, fault)
    assert "--network-faults" in (caught.value.hint or "")

    plan = plan_on(FakeEnv(binaries=WITH_TOXIPROXY), tmp_path, network_faults=True, api_replicas=2)
    [change] = plan_fault(plan, fault).changes
    assert change.summary == (
        "add 200 +- 20 ms of latency between the services and postgres (downstream) "
        "[api-1, api-2, worker-1 -> postgres via :15433]"
    )
    [clear] = plan_clear(plan, "redis").changes
    assert clear.summary == "remove every toxic between the services and redis"


@pytest.mark.parametrize(
    ("fields", "toxic", "attributes", "risk"),
    [
        (
            {"latency": "300ms", "jitter": "50ms"},
            "latency",
            {"latency": 300, "jitter": 50},
            "mutate",
        ),
        ({"loss": True}, "timeout", {"timeout": 0}, "destructive"),
        ({"loss": True, "close_after": "5s"}, "timeout", {"timeout": 5000}, "destructive"),
        ({"bandwidth_kbps": 16}, "bandwidth", {"rate": 16}, "mutate"),
        ({"reset": True, "toxicity": 0.5}, "reset_peer", {"timeout": 0}, "destructive"),
    ],
)
def test_each_kind_maps_to_its_toxic(
    fields: dict[str, object], toxic: str, attributes: dict[str, int], risk: str
) -> None:
    fault = NetworkFault.model_validate({"dependency": "redis", **fields})
    made = fault.toxic()
    assert (made.type, dict(made.attributes), fault.risk) == (toxic, attributes, risk)
    assert made.key == f"aqua-{toxic}-downstream"
    assert made.toxicity == fields.get("toxicity", 1.0)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"latency": "1s", "reset": True}, "exactly one of latency, loss, bandwidth_kbps, reset"),
        ({}, "exactly one of"),
        ({"reset": True, "jitter": "10ms"}, "jitter goes with latency"),
        ({"latency": "1s", "close_after": "1s"}, "close_after goes with loss or reset"),
        ({"dependency": "nginx", "loss": True}, "'postgres', 'redis' or 'kafka'"),
        ({"bandwidth_kbps": 0}, "greater than or equal to 1"),
        ({"reset": True, "toxicity": 0}, "greater than 0"),
    ],
)
def test_bad_network_faults_are_refused_with_file_and_line(
    tmp_path: Path, fields: dict[str, object], words: str
) -> None:
    body = {"dependency": "redis", **fields}
    path = tmp_path / "bad.yaml"
    path.write_text(
        "title: bad\ntarget: stack\nsteady_state_hypothesis:\n  title: t\n  probes:\n"
        "    - name: p\n      stack: {ready: redis}\nmethod:\n"
        f"  - network: {json.dumps(body)}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_experiment(path)
    assert caught.value.line == 9, caught.value.message
    assert words in caught.value.message


def test_the_undo_of_a_network_fault_clears_that_dependency_only() -> None:
    from sre_cli.chaos.method import Action

    action = Action.model_validate({"network": {"dependency": "kafka", "bandwidth_kbps": 8}})
    assert action.undo == Action(clear_network="kafka")
    assert action.target == "stack"
    assert Action(clear_network="kafka").risk == "mutate"
    assert Action(clear_network="kafka").describe() == (
        "clear the network faults between the services and kafka"
    )
