"""Parameters: ``--param NAME=VALUE`` over the front matter's defaults over the built-ins, and
``{name}`` references filled into a step just before it runs.

Only names the runbook declares (or the built-ins) are replaced, so PromQL braces such as
``up{job="api"}`` pass through untouched::

    values = resolve(book, {"deployment": "api-canary"}, {"target": "kubernetes", ...})
    body = fill(step, values)     # a StepBody with every {name} replaced
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from sre_cli.errors import SpecError, UsageError
from sre_cli.ops.operations import PARAM_REF
from sre_cli.runbook.spec import Runbook, Step
from sre_cli.runbook.steps import StepBody
from sre_cli.spec_yaml import worded

__all__ = [
    "check_names",
    "field_path",
    "fill",
    "parse_param_args",
    "references",
    "resolve",
    "substitute",
]


def parse_param_args(items: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` from the command line."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def references(values: Iterable[object]) -> set[str]:
    """Names referenced as ``{name}`` in the strings of ``values`` (nested containers too)."""
    found: set[str] = set()
    for value in values:
        if isinstance(value, str):
            found.update(PARAM_REF.findall(value))
        elif isinstance(value, dict):
            found |= references(value.values())
        elif isinstance(value, list | tuple):
            found |= references(value)
    return found


def substitute(text: str, values: Mapping[str, str]) -> str:
    return PARAM_REF.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def check_names(book: Runbook, given: Mapping[str, str]) -> None:
    """UsageError for a ``--param`` the runbook does not declare."""
    declared = book.meta.parameters
    unknown = sorted(set(given) - set(declared))
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise UsageError(
            f"runbook {book.name} has no parameter {', '.join(unknown)}",
            hint=f"its parameters: {names}",
        )


def resolve(book: Runbook, given: Mapping[str, str], builtins: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value for this run; UsageError for unknown or missing ones."""
    check_names(book, given)
    declared = book.meta.parameters
    values = dict(builtins)
    for name, param in declared.items():
        if name in given:
            values[name] = given[name]
            continue
        if param.default is None:
            raise UsageError(
                f"parameter {name} has no default: pass --param {name}=VALUE",
                hint=param.description or None,
            )
        value = substitute(param.default, builtins)
        if PARAM_REF.search(value):
            raise UsageError(
                f"parameter {name} defaults to {param.default!r}, which has no value on target "
                f"{builtins.get('target')}: pass --param {name}=VALUE"
            )
        values[name] = value
    return values


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return substitute(value, values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, values) for v in value]
    return value


_UNION_TAGS = {"int", "str", "float", "bool", "list", "tuple", "dict"}


def field_path(loc: Iterable[object]) -> tuple[str | int, ...]:
    """A pydantic error location without the union member tags (``int``, ``constrained-str``)."""
    return tuple(
        p
        for p in loc
        if isinstance(p, int)
        or (isinstance(p, str) and p not in _UNION_TAGS and "-" not in p and "[" not in p)
    )


def fill(step: Step, values: Mapping[str, str], path: str) -> StepBody:
    """The step's body with parameters filled in, validated again."""
    raw = step.body.model_dump(by_alias=True, exclude_none=True)
    filled = _fill(raw, values)
    if "shell" in raw:
        # a value is one word of the command, whatever it holds: no shell injection
        quoted = {k: shlex.quote(v) for k, v in values.items()}
        filled["shell"]["command"] = substitute(raw["shell"]["command"], quoted)
    try:
        return StepBody.model_validate(filled)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = worded(first)
        field = ".".join(map(str, field_path(first["loc"])))
        raise SpecError(
            f"step {step.number}, with parameters filled in: {field}: {message}",
            path=path,
            line=step.line,
        ) from None
