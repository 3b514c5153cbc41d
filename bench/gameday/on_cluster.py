"""MTTD and MTTR of the game days that run on Kubernetes, on the local real node.

`python bench/gameday/run.py --target kubernetes` comes here: it starts its own cluster
(`aqua cluster up --faults --gameday-alerts`, one at a time on a machine: run it under
`flock /tmp/aqua-realnode.lock`), creates a farm with two ponds for the load's reference mix,
runs `aqua gameday run SCENARIO --target kubernetes --yes --format json` N times per scenario
(each after the alert of the run before resolved and every API pod is Ready), and tears the
cluster down.

    flock /tmp/aqua-realnode.lock python bench/gameday/run.py --target kubernetes
"""

from __future__ import annotations

import base64
import functools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.gameday.measure import aqua, must, run_once

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("outage", "memory-leak", "bad-deploy")
NAMESPACE = "aquaculture-local"


def poll(check: Callable[[], bool], what: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"{what}: not within {timeout:g}s")


def kubectl_json(status: dict[str, Any], *args: str) -> Any:
    from sre_cli.k8s import find_toolchain

    kubectl = str(find_toolchain().kubectl)
    argv = [kubectl, "--kubeconfig", status["kubeconfig"], "-n", NAMESPACE, *args, "-o", "json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def api_ready(status: dict[str, Any]) -> bool:
    items = kubectl_json(status, "get", "pods", "-l", "app=api-service")["items"]
    return len(items) >= 2 and all(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        )
        for p in items
    )


def resolved(url: str, alert: str) -> bool:
    found = httpx.get(f"{url}/api/v2/alerts", params={"filter": f'alertname="{alert}"'})
    return not [a for a in found.json() if a["status"]["state"] == "active"]


def ensure_ponds(status: dict[str, Any]) -> None:
    """A farm with two ponds as the API's admin (Secret aqua-admin)."""
    data = kubectl_json(status, "get", "secret", "aqua-admin")["data"]
    form = {k: base64.b64decode(data[k]).decode() for k in ("username", "password")}
    api = status["urls"]["api"]
    token = httpx.post(f"{api}/api/v1/auth/token", data=form, timeout=30).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    if httpx.get(f"{api}/api/v1/ponds?limit=1", headers=headers).json()["items"]:
        return
    farm = httpx.post(f"{api}/api/v1/farms", json={"name": "Bench farm"}, headers=headers).json()
    for n in (1, 2):
        pond = {"farm_id": farm["id"], "name": f"Bench pond {n}", "species": "nile_tilapia",
                "area_m2": 5000.0, "depth_m": 1.5, "stock_count": 20000,
                "mean_weight_g": 250.0}  # fmt: skip
        httpx.post(f"{api}/api/v1/ponds", json=pond, headers=headers).raise_for_status()


def alert_of(name: str) -> str:
    """The scenario's alert on kubernetes (its variant's, else its own)."""
    import yaml

    doc = yaml.safe_load((ROOT / "chaos" / "gameday" / f"{name}.yaml").read_text())
    return str((doc.get("kubernetes") or {}).get("alert") or doc["alert"])


def run(scenarios: list[str], runs: int) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="aqua-bench-gameday-k8s-"))
    state = tmp / "cluster"
    rows: list[dict[str, Any]] = []
    try:
        up = ("cluster", "up", "--faults", "--gameday-alerts", "--state-dir", str(state))
        must(aqua(*up, timeout=1200), "aqua cluster up")
        done = aqua("cluster", "status", "--format", "json", "--state-dir", str(state))
        must(done, "aqua cluster status")
        status = json.loads(done.stdout)
        urls = status["urls"]
        ensure_ponds(status)
        for name in scenarios:
            alert = alert_of(name)
            for i in range(runs):
                poll(lambda: api_ready(status), "every API pod Ready", 300)
                gone = functools.partial(resolved, urls["alertmanager"], alert)
                waited = poll(gone, alert, 900)
                where = (
                    "--target", "kubernetes", "--kubeconfig", status["kubeconfig"],
                    "-n", NAMESPACE, "--prometheus", urls["prometheus"],
                    "--alertmanager", urls["alertmanager"], "--entry-url", urls["api"],
                )  # fmt: skip
                rows.append(run_once(name, i, waited, name, *where))
    finally:
        aqua("cluster", "down", "--state-dir", str(state), timeout=600)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
