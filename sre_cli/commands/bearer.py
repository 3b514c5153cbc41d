"""The bearer token a server of aqua requires (``aqua slo serve``, ``aqua runbook serve``):
from ``--token-file``, else from an environment variable; none is a usage error, since no
server of aqua answers without authentication."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["bearer_token"]


def bearer_token(token_file: Path | None, env_var: str, what: str, hint: str) -> str:
    """The token, stripped; :class:`UsageError` when it cannot be read or there is none."""
    from sre_cli.errors import UsageError

    token = os.environ.get(env_var, "")
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read --token-file {token_file}: {exc.strerror}") from exc
    if not token:
        raise UsageError(
            f"a bearer token is required: {what} is never served without authentication",
            hint=f"--token-file FILE or {env_var}; {hint}",
        )
    return token
