"""The configuration table of the README, generated from :class:`ApiSettings`.

``python -m service.api config-table`` prints it; a test keeps the README in step.
"""

from __future__ import annotations

from pydantic import SecretStr

from service.api.settings import ApiSettings


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "development value"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value}`"


def config_table() -> str:
    prefix = ApiSettings.model_config.get("env_prefix", "")
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in ApiSettings.model_fields.items():
        text = field.description or ""
        lines.append(f"| `{prefix}{name.upper()}` | {_default(field.default)} | {text} |")
    return "\n".join(lines)
