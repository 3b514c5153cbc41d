"""The API's bootstrap admin a game day acts as: its load logs in as this admin, and its
faults are set with this admin's token.

On the stack the admin is in the stack's ``secrets.json``; on Kubernetes in the Secret
``aqua-admin`` of the namespace (``aqua cluster up --faults`` creates it, keys ``username``
and ``password``)::

    creds = admin_credentials(ctx)        # Credentials(username, password, source)
    token = admin_token(ctx, creds)       # $AQUA_ADMIN_TOKEN, else a login
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

from sre_cli.errors import ConfigError, Unavailable, UsageError
from sre_cli.ops.providers.faults import ADMIN_SECRET

if TYPE_CHECKING:
    from sre_cli.loadtest.plan import Credentials
    from sre_cli.ops.context import RunContext

__all__ = ["admin_credentials", "admin_token", "entry_url"]


def entry_url(ctx: RunContext) -> str:
    """The API's base URL: the stack's entry, or ``--entry-url`` on Kubernetes."""
    if ctx.stack is not None:
        return ctx.stack.entry_url
    if not ctx.entry_url:
        raise UsageError(
            "a game day on kubernetes needs the API's URL",
            hint="pass --entry-url URL (`aqua cluster status` prints the local cluster's)",
        )
    return ctx.entry_url.rstrip("/")


def admin_credentials(ctx: RunContext) -> Credentials:
    from sre_cli.loadtest.plan import Credentials, resolve_credentials

    if ctx.stack is not None:
        return resolve_credentials(None, None, ctx.stack.control.layout.root)
    kube = ctx.kube
    assert kube is not None
    try:
        secret = kube.call(
            f"get secret {ADMIN_SECRET}",
            kube.core.read_namespaced_secret,
            ADMIN_SECRET,
            kube.namespace,
        )
    except Unavailable as exc:
        raise ConfigError(
            f"no admin for the game day's load and faults: {exc.message}",
            hint="the API must run with its fault switch and admin (`aqua cluster up --faults`)",
        ) from exc
    data = secret.data or {}
    try:
        username, password = (base64.b64decode(data[k]).decode() for k in ("username", "password"))
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"Secret {ADMIN_SECRET} has no username and password") from exc
    return Credentials(username, password, f"secret/{ADMIN_SECRET} in {kube.namespace}")


def admin_token(ctx: RunContext, creds: Credentials) -> str:
    """``$AQUA_ADMIN_TOKEN``, else a login as ``creds`` at the API."""
    from sre_cli.ops.providers.faults import ADMIN_TOKEN_ENV, login

    return os.environ.get(ADMIN_TOKEN_ENV) or login(entry_url(ctx), creds.username, creds.password)
