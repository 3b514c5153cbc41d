"""Secrets encrypted at rest and an audit trail of Secret access, for the API server.

Every :class:`~sre_cli.k8s.controlplane.ControlPlane` starts its kube-apiserver with

* ``--encryption-provider-config``: Secrets are sealed with **secretbox** (XSalsa20-Poly1305,
  authenticated; aescbc is CBC without authentication and upstream advises against it) under a
  32-byte key generated per cluster. There is no ``identity`` provider: a Secret that is not
  encrypted cannot be read back, so nothing is ever stored in plaintext by mistake. The file
  is reloaded by the API server (``--encryption-provider-config-automatic-reload``; it polls
  once a minute), so keys rotate without a restart.
* ``--audit-policy-file``: every request on ``secrets`` is logged at ``Metadata`` level (who,
  verb, object, response code — never the request or response body, which would copy the
  secret into the log); nothing else is logged. ``--audit-log-path`` is a JSON-lines file.

Key rotation (:func:`add_key`, :func:`rewrite_secrets`, :func:`drop_old_keys`)::

    name = add_key(config)                   # new key first: it writes, the old one still reads
    wait_for_write_key(cp, name)             # the API server has reloaded the file
    rewrite_secrets(cp)                      # every Secret re-sealed with the new key
    drop_old_keys(config)                    # old key gone
    wait_for_reload(cp, after=count)         # ... once the API server has reloaded again

With several API servers the new key is first added in second place everywhere (so every
server can read what any writes), then moved first; with one, both steps are one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sre_cli.errors import ComponentError
from sre_cli.k8s.binaries import K8sToolchain

__all__ = [
    "PROVIDER",
    "ApiserverHardening",
    "Cluster",
    "add_key",
    "drop_old_keys",
    "encryption_keys",
    "etcd_get",
    "kubectl",
    "reloads",
    "rewrite_secrets",
    "wait_for_reload",
    "wait_for_write_key",
]


class Cluster(Protocol):
    """What rotation needs of a cluster: its kubectl and the environment to run it in
    (:class:`~sre_cli.k8s.controlplane.ControlPlane` is one)."""

    @property
    def toolchain(self) -> K8sToolchain: ...

    def kubectl_env(self) -> dict[str, str]: ...


PROVIDER = "secretbox"
PREFIX = f"k8s:enc:{PROVIDER}:v1:"

AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "None"},
    ],
}


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)  # atomic: the API server never reads half a file


def _new_key() -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return {"name": f"key-{stamp}", "secret": base64.b64encode(secrets.token_bytes(32)).decode()}


def _config(keys: list[dict[str, str]]) -> str:
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [{PROVIDER: {"keys": keys}}]}],
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML


def encryption_keys(config: Path) -> list[str]:
    """The key names in ``config``, the writing key first."""
    data = json.loads(config.read_text(encoding="utf-8"))
    keys = data["resources"][0]["providers"][0][PROVIDER]["keys"]
    return [k["name"] for k in keys]


def _keys(config: Path) -> list[dict[str, str]]:
    data = json.loads(config.read_text(encoding="utf-8"))
    keys: list[dict[str, str]] = data["resources"][0]["providers"][0][PROVIDER]["keys"]
    return keys


def add_key(config: Path) -> str:
    """Put a new key first (it encrypts from the next reload on); keep the others for reading."""
    key = _new_key()
    _write_private(config, _config([key, *_keys(config)]))
    return key["name"]


def drop_old_keys(config: Path) -> list[str]:
    """Keep only the writing key; return the names dropped. Rewrite the Secrets first."""
    keys = _keys(config)
    _write_private(config, _config(keys[:1]))
    return [k["name"] for k in keys[1:]]


@dataclass(frozen=True)
class ApiserverHardening:
    """The encryption config, audit policy and audit log of one cluster (files 0600)."""

    directory: Path

    @property
    def encryption_config(self) -> Path:
        return self.directory / "encryption-config.yaml"

    @property
    def audit_policy(self) -> Path:
        return self.directory / "audit-policy.yaml"

    @property
    def audit_log(self) -> Path:
        return self.directory / "audit" / "audit.log"

    @classmethod
    def create(cls, directory: Path) -> ApiserverHardening:
        """Write the files once; a restart of the same cluster keeps its key."""
        made = cls(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        made.audit_log.parent.mkdir(mode=0o700, exist_ok=True)
        if not made.encryption_config.exists():
            _write_private(made.encryption_config, _config([_new_key()]))
        _write_private(made.audit_policy, json.dumps(AUDIT_POLICY, indent=2) + "\n")
        return made

    def apiserver_flags(self) -> list[str]:
        return [
            f"--encryption-provider-config={self.encryption_config}",
            "--encryption-provider-config-automatic-reload=true",
            f"--audit-policy-file={self.audit_policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxsize=100",
            "--audit-log-maxbackup=3",
            "--audit-log-maxage=7",
        ]

    def audit_events(self) -> list[dict[str, Any]]:
        """Every event in the audit log so far."""
        if not self.audit_log.exists():
            return []
        lines = self.audit_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def etcd_get(etcd_url: str, key: str) -> bytes | None:
    """The raw value stored under ``key``, through etcd's v3 JSON gateway (no client needed)."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL we built
        f"{etcd_url}/v3/kv/range", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        answer = json.loads(resp.read())
    kvs = answer.get("kvs") or []
    return base64.b64decode(kvs[0]["value"]) if kvs else None


def kubectl(cp: Cluster, args: list[str], stdin: str | None = None) -> str:
    """Run the cluster's kubectl; its output, or :class:`ComponentError` naming the failure."""
    done = subprocess.run(
        [str(cp.toolchain.kubectl), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cp.kubectl_env(),
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise ComponentError(f"kubectl {' '.join(args[:3])} failed: {done.stderr.strip()}")
    return done.stdout


def rewrite_secrets(cp: Cluster) -> int:
    """Re-write every Secret unchanged, so each is sealed with the current writing key."""
    listed = kubectl(cp, ["get", "secrets", "--all-namespaces", "-o", "json"])
    count = len(json.loads(listed).get("items", []))
    if count:
        kubectl(cp, ["replace", "-f", "-"], stdin=listed)
    return count


def wait_for_write_key(
    cp: Cluster, etcd_url: str, key_name: str, *, timeout: float = 300.0
) -> float:
    """Write a probe Secret until etcd shows it sealed with ``key_name``; the seconds waited."""
    want = f"{PREFIX}{key_name}:".encode()
    start = time.monotonic()
    while True:
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "aqua-encryption-probe", "namespace": "kube-system"},
            "stringData": {"written": f"{time.time():.3f}"},
        }
        kubectl(cp, ["apply", "-f", "-"], stdin=json.dumps(manifest))
        raw = etcd_get(etcd_url, "/registry/secrets/kube-system/aqua-encryption-probe")
        if raw is not None and raw.startswith(want):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise ComponentError(
                f"the API server did not start writing with {key_name} within {timeout:.0f} s"
            )
        time.sleep(2.0)


_RELOADS = "apiserver_encryption_config_controller_automatic_reloads_total"


def reloads(cp: Cluster) -> int:
    """How many times the API server has reloaded its encryption config successfully."""
    total = 0
    for line in kubectl(cp, ["get", "--raw", "/metrics"]).splitlines():
        if line.startswith(_RELOADS + "{") and 'status="success"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def wait_for_reload(cp: Cluster, *, after: int, timeout: float = 300.0) -> float:
    """Wait until the reload count exceeds ``after``; the seconds waited (polls once a minute)."""
    start = time.monotonic()
    while reloads(cp) <= after:
        if time.monotonic() - start > timeout:
            raise ComponentError(
                f"the API server did not reload its encryption config in {timeout:.0f} s"
            )
        time.sleep(2.0)
    return time.monotonic() - start
