"""Forecast spec files and the command's input checks (no server: these fail before any query)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import invoke

from sre_cli.capacity.forecast import DEFAULT_HISTORY, DEFAULT_HORIZON
from sre_cli.capacity.render import number
from sre_cli.capacity.replicas import load_knee, max_replicas
from sre_cli.capacity.spec import DEFAULT_VIEW, load_targets
from sre_cli.cli import build_app
from sre_cli.errors import SpecError

EXAMPLES = Path(__file__).parents[2] / "sre_cli" / "capacity" / "examples"
DAY = 86400.0


def _cli(*args: str) -> tuple[int, str]:
    argv = ["capacity", "forecast", *args]
    return invoke(build_app(argv), argv)


def test_shipped_examples_load() -> None:
    targets = load_targets([EXAMPLES])
    by_name = {t.name: t for t in targets}
    assert list(by_name) == [
        "api-request-rate",
        "cpu-utilisation",
        "memory-utilisation",
        "prometheus-disk-free",
        "postgres-connections",
    ]
    assert load_targets([DEFAULT_VIEW]) == targets
    # The platform's capacity table: (limit, act) per resource.
    assert {n: (t.limit, t.act) for n, t in by_name.items()} == {
        "api-request-rate": (2000, 1500),
        "cpu-utilisation": (70, 60),
        "memory-utilisation": (80, 75),
        "prometheus-disk-free": (30, 40),  # free space: a floor at 30 % is 70 % used
        "postgres-connections": (97, 80),
    }
    disk = by_name["prometheus-disk-free"]
    assert disk.direction == "floor"
    assert not disk.traffic
    assert (disk.history, disk.horizon) == (28 * DAY, 90 * DAY)
    assert not disk.query.endswith("\n")
    rate = by_name["api-request-rate"]
    assert rate.deployment == "api-service"
    assert rate.traffic
    assert (rate.history, rate.horizon) == (DEFAULT_HISTORY, DEFAULT_HORIZON)
    # Command-line windows override the files'.
    overridden = load_targets([EXAMPLES], history=7 * DAY, horizon=DAY)[3]
    assert (overridden.history, overridden.horizon) == (7 * DAY, DAY)


def test_cpu_and_memory_denominators_are_the_manifests_figures() -> None:
    """The CPU requests in the query are those of manifests/base; the memory limits are the
    stack agent's, which tests/stack/test_stack_usage.py keeps equal to manifests/base."""
    import yaml

    by_name = {t.name: t for t in load_targets([DEFAULT_VIEW])}
    base = EXAMPLES.parents[2] / "manifests" / "base"
    units = {"m": 1e-3, "Mi": 2**20, "Gi": 2**30}
    for job, manifest in (("api", "api-service"), ("ml", "ml-service"), ("worker", "worker")):
        [deployment] = [
            d
            for d in yaml.safe_load_all((base / f"{manifest}.yaml").read_text())
            if d and d["kind"] == "Deployment"
        ]
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]

        def amount(text: str) -> float:
            for suffix, factor in units.items():
                if text.endswith(suffix):
                    return float(text.removesuffix(suffix)) * factor
            return float(text)

        cpu = amount(str(resources["requests"]["cpu"]))
        assert f'label_replace(vector({cpu:g}), "kind", "{job}"' in by_name["cpu-utilisation"].query
    assert "aqua_stack_component_memory_limit_bytes" in by_name["memory-utilisation"].query
    assert "container_spec_memory_limit_bytes" in by_name["memory-utilisation"].query


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "forecasts:\n  - name: a\n    query: up\n",
            ":2: forecasts.0.limit: required field missing",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: lots\n",
            ":4: forecasts.0.limit: must be a valid number",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: 1\n    horizon: soon\n",
            ":5: forecasts.0.horizon: not a duration: 'soon'",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: 1\n    limt: 2\n",
            ":5: forecasts.0.limt: unknown field (typo?)",
        ),
        ("forecasts: []\n", ":1: forecasts: must have at least 1 item"),
        ("- up\n", ":1: expected a mapping with a 'forecasts' list"),
        (
            "forecasts:\n  - {name: a, query: up, limit: 1}\n  - {name: a, query: up, limit: 2}\n",
            ":3: forecasts.1.name: 'a' is already defined at ",
        ),
        ("forecasts:\n  - name: [a\n", ":3: YAML syntax"),
        (
            "forecasts:\n  - {name: a, query: up, limit: 1, direction: down}\n",
            ":2: forecasts.0.direction: must be 'ceiling' or 'floor'",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: 70\n    act: 80\n",
            ":5: forecasts.0.act: 80 is above the limit (70) of a ceiling",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: 30\n    act: 20\n"
            "    direction: floor\n",
            ":5: forecasts.0.act: 20 is below the limit (30) of a floor",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: 1\n    model: prophet\n",
            ":5: forecasts.0.model: must be 'auto', 'linear', 'seasonal' or 'holt-winters'",
        ),
    ],
)
def test_spec_errors_name_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "capacity.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_targets([spec])
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"{spec}{message}"), str(caught.value)
    code, out = _cli("--prometheus", "http://127.0.0.1:9", str(spec))
    assert code == 2
    assert f"{spec}{message}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prometheus", "http://x", "--name", "n"], "nothing to forecast"),
        (["--prometheus", "http://x", "--query", "up"], "nothing to forecast"),
        (
            ["--prometheus", "http://x", "--query", "up", "--limit", "1", "--what-if", "lots"],
            "--what-if: expected a positive factor such as 10x, got 'lots'",
        ),
        (
            ["--prometheus", "http://x", "--query", "up", "--limit", "1", "--what-if", "-2x"],
            "--what-if",
        ),
        (
            ["--prometheus", "http://x", "--query", "up", "--limit", "1", "--knee", "nope.json"],
            "nope.json: cannot read the knee file",
        ),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "x.yaml"], "not both"),
        (["--query", "up", "--limit", "1"], "--prometheus URL is required"),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "--step", "1x"], "--step"),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "--history", "1h"], "two"),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "--at", "soon"], "time"),
        (["--prometheus", "http://x", "missing.yaml"], "missing.yaml: no such file"),
    ],
)
def test_bad_input_exits_2(monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.delenv("AQUA_PROMETHEUS_URL", raising=False)
    code, out = _cli(*args)
    assert code == 2
    assert message in out


def test_numbers_are_compact() -> None:
    assert [number(v) for v in (0, 0.123456, 42.42, 230, 13097, 2.5e6, 10737418240)] == [
        "0",
        "0.123",
        "42.4",
        "230",
        "13.1k",
        "2.5M",
        "10.7G",
    ]
    assert number(5.0, signed=True) == "+5"
    assert number(-0.25, signed=True) == "-0.25"
    assert number(None) == "—"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", ": per_replica_rps: must be a positive number"),
        ('{"per_replica_rps": 0}', ": per_replica_rps: must be a positive number"),
        ('{"per_replica_rps": "fast"}', ": per_replica_rps: must be a positive number"),
        ('{"per_replica_rps": true}', ": per_replica_rps: must be a positive number"),
        ("[1]", ": per_replica_rps: must be a positive number"),
        ('{"per_replica_rps":\n 4,}', ":2: not JSON"),
    ],
)
def test_knee_file_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    knee = tmp_path / "knee.json"
    knee.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_knee(knee)
    assert str(caught.value).startswith(f"{knee}{message}"), str(caught.value)
    code, out = _cli(
        "--prometheus", "http://x", "--query", "up", "--limit", "1", "--knee", str(knee)
    )
    assert code == 2
    assert f"{knee}{message}" in out


def test_knee_file_keeps_the_rate_and_ignores_other_keys(tmp_path: Path) -> None:
    knee = tmp_path / "knee.json"
    knee.write_text('{"per_replica_rps": 412.5, "total_rps": 825, "saturating": "cpu"}')
    assert load_knee(knee).per_replica_rps == 412.5


def test_hpa_max_replicas_from_manifests_and_overlays(tmp_path: Path) -> None:
    manifests = EXAMPLES.parents[2] / "manifests"
    assert max_replicas(manifests / "base")["api-service"][0] == 20
    assert max_replicas(manifests / "overlays" / "prod")["api-service"][0] == 20
    dev, where = max_replicas(manifests / "overlays" / "dev")["api-service"]
    assert dev == 3  # the overlay's JSON patch
    assert where.endswith("overlays/dev/kustomization.yaml")
    assert max_replicas(manifests / "base" / "autoscaling.yaml") == {
        "api-service": (20, str(manifests / "base" / "autoscaling.yaml"))
    }
    with pytest.raises(SpecError, match="no such file"):
        max_replicas(tmp_path / "missing")


def test_missing_manifests_given_explicitly_exit_2(tmp_path: Path) -> None:
    knee = tmp_path / "knee.json"
    knee.write_text('{"per_replica_rps": 10}')
    missing = tmp_path / "nope"
    code, out = _cli(
        "--prometheus", "http://x", "--query", "up", "--limit", "1",
        "--knee", str(knee), "--manifests", str(missing),
    )  # fmt: skip
    assert code == 2
    assert f"{missing}: no such file or folder" in out
