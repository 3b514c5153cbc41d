"""The published JSON Schemas of aqua's outputs (``docs/schemas/``), for tests to check a
command's ``--format json`` against::

    assert_matches_schema("slo-report", json.loads(out))
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

__all__ = ["SCHEMAS", "assert_matches_schema", "schema_names", "validator"]

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"


def schema_names() -> list[str]:
    """One per command output: ``slo-report``, ``doctor``, ..."""
    return sorted(p.stem for p in SCHEMAS.glob("*.json"))


@functools.cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


def assert_matches_schema(name: str, data: Any) -> None:
    """Fail with every place ``data`` departs from ``docs/schemas/<name>.json``."""
    errors = sorted(validator(name).iter_errors(data), key=lambda e: list(e.absolute_path))
    where = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
    assert not where, f"{name}: output departs from docs/schemas/{name}.json:\n" + "\n".join(where)
