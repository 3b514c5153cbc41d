"""Load users: several API accounts, each with its own login, so that per-user limits and
per-user caches see a crowd rather than one admin.

``--logins N`` makes sure the API has ``load-01`` .. ``load-NN`` (role ``operator``: they read
ponds and post readings), created through the admin's ``POST /api/v1/users``. Their
passwords are generated once and kept in the stack's state dir (``loadtest-users.json``,
mode 0600), so a later run logs in as the same users; an account that exists but whose
password aqua does not hold is an error, never overwritten.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from sre_cli.errors import ConfigError, Unavailable, UsageError
from sre_cli.loadtest.plan import Credentials

if TYPE_CHECKING:
    import httpx

__all__ = ["MAX_LOGINS", "accounts_file", "ensure_load_users"]

MAX_LOGINS = 200


def accounts_file(state_dir: Path) -> Path:
    return state_dir / "loadtest-users.json"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="remove it to start over") from exc
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ConfigError(f"{path} holds no users mapping", hint="remove it to start over")
    return {str(k): str(v) for k, v in users.items()}


def _write(path: Path, users: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"users": users}, fh, indent=1)
    tmp.replace(path)


def ensure_load_users(
    client: httpx.Client, target: str, admin_token: str, n: int, state_dir: Path
) -> tuple[Credentials, ...]:
    """``n`` load users that exist at ``target``, with passwords kept in ``state_dir``."""
    import httpx

    if not 1 <= n <= MAX_LOGINS:
        raise UsageError(f"--logins must be between 1 and {MAX_LOGINS}")
    path = accounts_file(state_dir)
    known = _read(path)
    headers = {"Authorization": f"Bearer {admin_token}"}
    out = []
    for i in range(1, n + 1):
        name = f"load-{i:02d}"
        password = known.get(name) or secrets.token_urlsafe(18)
        body = {"username": name, "password": password, "role": "operator"}
        try:
            r = client.post(f"{target}/api/v1/users", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"creating load user {name} at {target}: {exc}") from exc
        if r.status_code == 201:
            known[name] = password
            _write(path, known)
        elif r.status_code == 409:
            if name not in known:
                raise UsageError(
                    f"user {name} exists at {target}, but {path} has no password for it",
                    hint="delete that user, or run with fewer --logins",
                )
        elif r.status_code in (401, 403):
            raise UsageError(
                f"creating load users needs an admin: HTTP {r.status_code} at {target}"
            )
        else:
            raise Unavailable(f"creating load user {name} answered HTTP {r.status_code}")
        out.append(Credentials(name, password, str(path)))
    return tuple(out)
