"""What the supervisor knows about a running stack, persisted atomically in ``state.json``.

The supervisor is the only writer; every ``aqua stack`` command reads. Each write goes to a
temporary file in the same directory and is renamed over the old one, so a reader never sees
a half-written file.

Also here: the stack's generated secrets (``secrets.json``, mode 0600), created once per state
dir, never a built-in default.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sre_cli.errors import ConfigError
from sre_cli.files import atomic_write
from sre_cli.spec_yaml import worded

if TYPE_CHECKING:
    from sre_cli.infra.pgroles import DatabaseRoles

__all__ = [
    "ComponentPhase",
    "ComponentState",
    "StackPhase",
    "StackSecrets",
    "StackState",
    "atomic_write",
    "load_or_create_secrets",
    "pid_alive",
    "read_state",
]

StackPhase = Literal["starting", "up", "failed", "stopping", "down"]
ComponentPhase = Literal[
    "pending", "starting", "ready", "stopped", "crashed", "backoff", "failed", "stopping"
]


class ComponentState(BaseModel):
    """One component as the supervisor last saw it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    port: int
    phase: ComponentPhase = "pending"
    #: "up" unless it was stopped on purpose (`aqua stack stop NAME`): then it stays down.
    desired: Literal["up", "down"] = "up"
    pid: int | None = None
    restarts: int = 0
    started_at: float | None = None
    ready_at: float | None = None
    last_exit: str | None = None
    last_error: str | None = None


class StackState(BaseModel):
    """The whole stack: supervisor identity, overall phase, every component."""

    model_config = ConfigDict(extra="forbid")

    supervisor_pid: int
    stack_id: str
    phase: StackPhase = "starting"
    started_at: float
    ready_at: float | None = None
    updated_at: float = 0.0
    #: on phase "failed": the component that failed and its last log lines.
    error: str | None = None
    failed_component: str | None = None
    components: dict[str, ComponentState] = {}


def read_state(path: Path) -> StackState | None:
    """The last state the supervisor wrote, or None when there is none (never started)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return StackState.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(f"{path} is not a stack state file: {worded(exc.errors()[0])}") from exc


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` names a live process (a zombie counts as dead)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # Field 3 after the parenthesised command name is the state; Z = zombie, X = dead.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


class StackSecrets(BaseModel):
    """Secrets generated for one stack; the services get them through ``*_FILE`` variables."""

    model_config = ConfigDict(extra="forbid")

    jwt_secret: str
    admin_username: str
    admin_password: str
    created_at: float
    #: what the API and worker present to the ML service (empty in files from before it)
    ml_service_token: str = ""
    #: Redis' requirepass (empty in files from before it)
    redis_password: str = ""
    #: PostgreSQL's superuser (backups, restores) and its least-privilege roles: the owner
    #: (migrations), the app (API and worker) and the monitor (the stack agent)
    postgres_password: str = ""
    postgres_owner_password: str = ""
    postgres_app_password: str = ""
    postgres_monitor_password: str = ""
    #: basic auth of Prometheus and Alertmanager through nginx (user ``aqua``)
    monitoring_password: str = ""
    #: what the agent's dashboards page asks of a browser (``?token=``, then a cookie)
    dashboards_token: str = ""

    def database_roles(self) -> DatabaseRoles:
        from sre_cli.infra.pgroles import DatabaseRoles

        return DatabaseRoles(
            owner=self.postgres_owner_password,
            app=self.postgres_app_password,
            monitor=self.postgres_monitor_password,
        )


#: secrets added after the first stacks: generated when a file from before them is read
_LATER = (
    "ml_service_token",
    "redis_password",
    "postgres_password",
    "postgres_owner_password",
    "postgres_app_password",
    "postgres_monitor_password",
    "monitoring_password",
    "dashboards_token",
)


def load_or_create_secrets(path: Path) -> StackSecrets:
    """Read the stack's secrets, generating them (mode 0600) on first use."""
    if path.exists():
        try:
            loaded = StackSecrets.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            raise ConfigError(
                f"{path} is unreadable or malformed", hint="remove it to generate new secrets"
            ) from exc
        missing = {name: secrets.token_urlsafe(32) for name in _LATER if not getattr(loaded, name)}
        if not missing:
            return loaded
        loaded = loaded.model_copy(update=missing)
        atomic_write(path, json.dumps(loaded.model_dump(), indent=2) + "\n", mode=0o600)
        return loaded
    made = StackSecrets(
        jwt_secret=secrets.token_urlsafe(48),
        admin_username="admin",
        admin_password=secrets.token_urlsafe(24),
        created_at=time.time(),
        **{name: secrets.token_urlsafe(32) for name in _LATER},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(made.model_dump(), indent=2) + "\n", mode=0o600)
    return made


def write_secret_files(secrets_: StackSecrets, directory: Path) -> dict[str, Path]:
    """One file per secret (mode 0600) for the services' ``*_FILE`` settings."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    files = {
        "jwt_secret": directory / "jwt_secret",
        "admin_password": directory / "admin_password",
        "ml_service_token": directory / "ml_service_token",
        "monitoring_password": directory / "monitoring_password",
    }
    atomic_write(files["monitoring_password"], secrets_.monitoring_password, mode=0o600)
    atomic_write(files["ml_service_token"], secrets_.ml_service_token, mode=0o600)
    atomic_write(files["jwt_secret"], secrets_.jwt_secret, mode=0o600)
    atomic_write(files["admin_password"], secrets_.admin_password, mode=0o600)
    return files
