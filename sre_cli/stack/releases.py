"""Releases of the stack's services: the settings a Deployment's replicas run, revisioned.

On Kubernetes a release is a new pod template, rolled out replica by replica, and
``kubectl rollout undo`` puts the one before back. On the stack the code is the checkout; what
a release changes is a service's settings (its ``AQUA_*`` environment), kept per kind in
``ROOT/releases.json``. Every api, ml or worker process starts with the current release's
settings and ``AQUA_RELEASE_TEMPLATE`` (a hash of them, as a pod carries its template hash),
so the stack agent can tell which replicas run the current release (it exports the rollout
under kube-state-metrics' names and ``DeploymentRolloutStuck`` reads both)::

    release(control, "api", {"AQUA_DB_POOL_SIZE": "0"}, "pool of zero")   # rolls api-1, api-2
    rollback(control, "api")     # the release before the current one, rolled out the same way

A rollout restarts one replica at a time and waits until it is ready; a replica that does not
get ready stops it (the others keep the release they run, as ``maxUnavailable: 0`` keeps the
old pods), and the rollout is stuck until a later release or a rollback.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sre_cli.errors import ConfigError

if TYPE_CHECKING:
    from sre_cli.stack.spec import StackPlan, StateLayout


class _Row(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def ready(self) -> bool: ...


class _Status(Protocol):
    @property
    def components(self) -> tuple[_Row, ...]: ...


class Control(Protocol):
    """What a rollout needs of :class:`~sre_cli.stack.control.StackControl` (which imports
    the launcher, which imports this module)."""

    layout: StateLayout

    def plan(self) -> StackPlan: ...

    def status(self) -> _Status: ...

    def request(self, action: str, name: str, timeout: float = ...) -> str: ...


__all__ = [
    "DEPLOYMENTS",
    "TEMPLATE_ENV",
    "Control",
    "Release",
    "append",
    "current",
    "previous",
    "release",
    "rollback",
    "running_template",
    "template_of",
]

#: the Deployment of each kind of service, as in manifests/base/
DEPLOYMENTS = {"api": "api-service", "ml": "ml-service", "worker": "worker"}
TEMPLATE_ENV = "AQUA_RELEASE_TEMPLATE"
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Release:
    revision: int
    env: dict[str, str]
    note: str

    @property
    def template(self) -> str:
        return template_of(self.env)

    def describe(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(self.env.items())) or "as started"
        return f"revision {self.revision} ({settings})"


def template_of(env: dict[str, str]) -> str:
    text = json.dumps(env, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:10]


def _file(layout: StateLayout) -> Path:
    return layout.root / "releases.json"


def _read(layout: StateLayout) -> dict[str, list[Release]]:
    try:
        data = json.loads(_file(layout).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {_file(layout)}: {exc}") from exc
    return {kind: [Release(**r) for r in revisions] for kind, revisions in data.items()}


def _history(layout: StateLayout, kind: str) -> list[Release]:
    return _read(layout).get(kind) or [Release(1, {}, "as started")]


def current(layout: StateLayout, kind: str) -> Release:
    """The release the replicas of ``kind`` start with now."""
    return _history(layout, kind)[-1]


@contextmanager
def _locked(layout: StateLayout) -> Iterator[None]:
    with open(layout.root / ".releases.lock", "w", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def append(layout: StateLayout, kind: str, env: dict[str, str], note: str) -> Release | None:
    """A new revision with ``env``, or None when the current one already has it."""
    from sre_cli.files import atomic_write

    with _locked(layout):
        data = _read(layout)
        revisions = data.get(kind) or [Release(1, {}, "as started")]
        if revisions[-1].env == env:
            return None
        made = Release(revisions[-1].revision + 1, dict(env), note)
        data[kind] = [*revisions, made]
        text = json.dumps({k: [r.__dict__ for r in v] for k, v in data.items()}, indent=1)
        atomic_write(_file(layout), text)
        return made


def running_template(pid: int | None) -> str | None:
    """The release template the process ``pid`` started with (None: unknown or gone)."""
    if not pid:
        return None
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = f"{TEMPLATE_ENV}=".encode()
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def _roll(control: Control, kind: str, target: Release) -> list[str]:
    """Restart each replica of ``kind`` not on ``target`` and wait until it is ready; stop at
    the first that does not get ready."""
    done: list[str] = []
    for comp in [c for c in control.plan().components if c.kind == kind]:
        row = next(r for r in control.status().components if r.name == comp.name)
        if running_template(row.pid) == target.template and row.ready:
            continue
        control.request("restart", comp.name)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            time.sleep(1.0)
            row = next(r for r in control.status().components if r.name == comp.name)
            if row.ready and running_template(row.pid) == target.template:
                done.append(f"{comp.name} ready on revision {target.revision}")
                break
            if time.monotonic() > deadline:
                done.append(
                    f"{comp.name} not ready on revision {target.revision} after "
                    f"{READY_TIMEOUT_S:g}s: the rollout is stuck, the other replicas keep "
                    "the release they run"
                )
                return done
    return done


def release(control: Control, kind: str, env: dict[str, str], note: str) -> str:
    """Release ``env`` as the settings of ``kind`` and roll it out; what happened."""
    made = append(control.layout, kind, env, note)
    if made is None:
        return f"{DEPLOYMENTS[kind]} already runs {current(control.layout, kind).describe()}"
    rolled = _roll(control, kind, made)
    return f"released {made.describe()} of {DEPLOYMENTS[kind]}: " + "; ".join(rolled)


def previous(layout: StateLayout, kind: str) -> Release | None:
    """The release a rollback would put back (None: there is none before the current)."""
    history = _history(layout, kind)
    return history[-2] if len(history) > 1 else None


def rollback(control: Control, kind: str) -> str:
    """Put the release before the current one back, as a new revision, and roll it out."""
    back = previous(control.layout, kind)
    if back is None:
        return f"{DEPLOYMENTS[kind]} has no release before the current one"
    made = append(control.layout, kind, back.env, f"rollback to revision {back.revision}")
    if made is None:
        return f"{DEPLOYMENTS[kind]} already runs the settings of revision {back.revision}"
    rolled = _roll(control, kind, made)
    return (
        f"rolled {DEPLOYMENTS[kind]} back to the settings of revision {back.revision} "
        f"(now {made.describe()}): " + "; ".join(rolled)
    )
