"""Which Prometheus a reporting command asks: the one named, else the running stack's."""

from __future__ import annotations

from pathlib import Path

__all__ = ["prometheus_or_stack"]


def prometheus_or_stack(
    url: str | None, state_dir: Path | None = None, config: Path | None = None
) -> str | None:
    """``url`` when given (``--prometheus`` or ``$AQUA_PROMETHEUS_URL``) or named by the
    Prometheus config file; else the Prometheus of the stack running in ``state_dir`` (saying
    so on stderr); else None, and ``prometheus.connect`` asks for ``--prometheus``."""
    from sre_cli.prometheus import config_url

    if url or config_url(config):
        return url
    from sre_cli.console import get_err_console
    from sre_cli.stack.control import StackControl
    from sre_cli.stack.spec import StateLayout, default_state_dir

    root = (state_dir or default_state_dir()).expanduser()
    found = StackControl(StateLayout(root)).running_prometheus()
    if found is not None:
        get_err_console().print(f"using the stack's Prometheus at {found}", highlight=False)
    return found
