"""Secrets encrypted at rest, the audit log of Secret access, and key rotation, on the real
control plane: values are read raw from etcd, the audit log is read back from its file."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sre_cli.k8s import ControlPlane, K8sToolchain
from sre_cli.k8s import hardening as hd

pytestmark = pytest.mark.integration


def _create_secret(cp: ControlPlane, name: str, value: str) -> None:
    hd.kubectl(
        cp, ["create", "secret", "generic", name, "-n", "default", f"--from-literal=pw={value}"]
    )


def _read_secret(cp: ControlPlane, name: str) -> str:
    secret = json.loads(hd.kubectl(cp, ["get", "secret", name, "-n", "default", "-o", "json"]))
    return base64.b64decode(secret["data"]["pw"]).decode()


def _raw(cp: ControlPlane, name: str) -> bytes:
    raw = hd.etcd_get(cp.etcd_url, f"/registry/secrets/default/{name}")
    assert raw is not None, f"secret {name} is not in etcd"
    return raw


def test_secret_is_stored_encrypted_in_etcd(kube_cluster: ControlPlane) -> None:
    value = "oxygen-sensor-password-7f3a9c"
    _create_secret(kube_cluster, "pond-sensor", value)
    raw = _raw(kube_cluster, "pond-sensor")
    key_name = hd.encryption_keys(kube_cluster.hardening.encryption_config)[0]
    assert raw.startswith(f"k8s:enc:secretbox:v1:{key_name}:".encode())
    assert value.encode() not in raw
    assert base64.b64encode(value.encode()) not in raw
    # A ConfigMap is not encrypted: the same read finds its plaintext (the check can fail).
    hd.kubectl(kube_cluster, ["create", "configmap", "pond-plain", f"--from-literal=v={value}"])
    assert value.encode() in (
        hd.etcd_get(kube_cluster.etcd_url, "/registry/configmaps/default/pond-plain") or b""
    )
    assert _read_secret(kube_cluster, "pond-sensor") == value
    assert kube_cluster.hardening.encryption_config.stat().st_mode & 0o777 == 0o600


def test_secret_access_is_audited_without_its_value(kube_cluster: ControlPlane) -> None:
    value = "feeder-api-token-42d1e0"
    _create_secret(kube_cluster, "feeder-token", value)
    assert _read_secret(kube_cluster, "feeder-token") == value
    events = [
        e
        for e in kube_cluster.hardening.audit_events()
        if e.get("objectRef", {}).get("resource") == "secrets"
        and e["objectRef"].get("name") == "feeder-token"
    ]
    verbs = {e["verb"] for e in events if e["stage"] == "ResponseComplete"}
    assert {"create", "get"} <= verbs
    get = next(e for e in events if e["verb"] == "get")
    assert get["user"]["username"] == "aqua-admin" or "system:masters" in get["user"].get(
        "groups", []
    )
    assert get["level"] == "Metadata"
    assert get["responseStatus"]["code"] == 200
    log = kube_cluster.hardening.audit_log.read_text(encoding="utf-8")
    assert value not in log
    assert base64.b64encode(value.encode()).decode() not in log
    # Nothing but Secrets is logged.
    assert all(
        e.get("objectRef", {}).get("resource") == "secrets"
        for e in kube_cluster.hardening.audit_events()
    )


@pytest.fixture
def own_cluster(k8s_toolchain: K8sToolchain, tmp_path: Path) -> Iterator[ControlPlane]:
    """A cluster of its own: rotation rewrites its encryption config."""
    with ControlPlane(tmp_path / "k8s", nodes=1, toolchain=k8s_toolchain) as cp:
        yield cp


def test_key_rotation_add_rewrite_drop(own_cluster: ControlPlane) -> None:
    cp = own_cluster
    config = cp.hardening.encryption_config
    (old,) = hd.encryption_keys(config)
    _create_secret(cp, "harvest-db", "before-rotation-e19b")
    assert _raw(cp, "harvest-db").startswith(f"{hd.PREFIX}{old}:".encode())

    before = hd.reloads(cp)
    new = hd.add_key(config)
    assert hd.encryption_keys(config) == [new, old]
    hd.wait_for_write_key(cp, cp.etcd_url, new)
    # Written before the rotation: still sealed with the old key, still readable.
    assert _raw(cp, "harvest-db").startswith(f"{hd.PREFIX}{old}:".encode())
    assert _read_secret(cp, "harvest-db") == "before-rotation-e19b"

    assert hd.rewrite_secrets(cp) >= 1
    assert _raw(cp, "harvest-db").startswith(f"{hd.PREFIX}{new}:".encode())

    reloaded = hd.reloads(cp)
    assert reloaded > before
    assert hd.drop_old_keys(config) == [old]
    hd.wait_for_reload(cp, after=reloaded)
    assert hd.encryption_keys(config) == [new]
    assert _read_secret(cp, "harvest-db") == "before-rotation-e19b"
    assert old not in config.read_text(encoding="utf-8")
