"""``aqua cluster`` without a cluster: help, empty status and down, the local overlay and the
image's dependency split. (The real-node tests are in test_real_node.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import invoke
from infra_harness import require
from json_schema import assert_matches_schema

from sre_cli.commands.cluster import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "argv", [["--help"], ["up", "--help"], ["status", "--help"], ["down", "--help"]]
)
def test_help(argv: list[str]) -> None:
    code, out = invoke(app, argv)
    assert code == 0
    assert "Usage" in out


def test_status_and_down_without_a_cluster(tmp_path: Path) -> None:
    code, out = invoke(app, ["status", "--json", "--state-dir", str(tmp_path)])
    assert code == 0
    assert_matches_schema("cluster-status", json.loads(out))
    assert json.loads(out) == {
        "running": False,
        "kubeconfig": None,
        "nodes": [],
        "deployments": [],
        "urls": {},
    }
    code, out = invoke(app, ["down", "--state-dir", str(tmp_path)])
    assert code == 0
    assert "no cluster" in out


def test_negative_kwok_nodes_is_a_usage_error(tmp_path: Path) -> None:
    code, _ = invoke(app, ["up", "--nodes-kwok", "-1", "--state-dir", str(tmp_path)])
    assert code == 2
    assert not (tmp_path / "cluster.json").exists()


def test_local_overlay_uses_local_images_only_and_the_redis_url_from_the_secret() -> None:
    from sre_cli.k8s import find_toolchain

    kubectl = require(find_toolchain).kubectl
    import yaml

    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(ROOT / "manifests" / "overlays" / "local")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"api-service", "ml-service", "worker"}
    for d in deployments.values():
        assert d["metadata"]["namespace"] == "aquaculture-local"
        (container,) = d["spec"]["template"]["spec"]["containers"]
        assert container["imagePullPolicy"] == "Never"
        assert container["image"].startswith("localhost/aqua/")
        # Never on a kwok node of the same cluster: it would report the pod Ready, run nothing.
        assert d["spec"]["template"]["spec"]["nodeSelector"] == {"aqua.dev/node": "real"}
    api_env = {
        e["name"]: e
        for e in deployments["api-service"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert api_env["AQUA_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "aqua-app",
        "key": "redis-url",
    }
    nodeport = next(d for d in docs if d["metadata"]["name"] == "api-service-nodeport")
    assert nodeport["spec"]["type"] == "NodePort"


def test_the_api_image_dependency_set_leaves_torch_out() -> None:
    script = ROOT / "manifests" / "docker" / "requirements.py"

    def reqs(extras: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, str(script), str(ROOT / "pyproject.toml"), extras],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line.split(">")[0].split("<")[0].split("[")[0] for line in out.splitlines()]

    api, full = reqs("api"), reqs("service")
    assert "fastapi" in api
    assert "asyncpg" in api
    assert "torch" not in api
    assert "numpy" not in api
    assert "torch" in full
    assert set(api) <= set(full)
