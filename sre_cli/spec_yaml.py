"""YAML documents that remember where each value came from.

Spec errors must name the file and the line, so documents are composed node by node and every
mapping key and sequence item records its line. A pydantic error location such as
``("slos", 0, "objective")`` is then mapped to the deepest known line::

    doc = load_documents(Path("slo/api.yaml"))[0]
    doc.line_of(("slos", 0, "objective"))   # -> 7
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sre_cli.errors import SpecError, UsageError

__all__ = ["Document", "Location", "find_named", "load_documents", "worded"]

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document of a file: its data and the line of every key and item."""

    path: str
    data: Any
    start_line: int
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The line of the deepest prefix of ``loc`` present in the document."""
        path: Location = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.start_line

    def error(self, loc: Sequence[str | int], message: str) -> SpecError:
        return SpecError(message, path=self.path, line=self.line_of(loc))


def _walk(node: yaml.Node, here: Location, lines: dict[Location, int]) -> None:
    lines.setdefault(here, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*here, key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*here, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines)


def _compose(shown: str, text: str, kind: Any) -> list[Document]:
    loader = kind(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node guarantees a node
                break
            lines: dict[Location, int] = {}
            _walk(node, (), lines)
            data = loader.construct_document(node)
            documents.append(Document(shown, data, node.start_mark.line + 1, lines))
    finally:
        loader.dispose()
    return documents


def _python(shown: str, text: str) -> list[Document]:
    try:
        return _compose(shown, text, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"YAML syntax: {problem}", path=shown, line=line) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML syntax: {exc}", path=shown) from exc


def load_documents(path: Path, text: str | None = None) -> list[Document]:
    """Parse every document of a YAML file; syntax errors become :class:`SpecError` with a line."""
    shown = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"cannot read: {exc.strerror or exc}", path=shown) from exc
    try:
        # libyaml composes a thousand-SLO file ten times faster; its error messages differ, so
        # a file it rejects is parsed again by the Python loader, whose messages users see.
        documents = _compose(shown, text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        documents = _python(shown, text)
    return [doc for doc in documents if doc.data is not None]


def worded(error: Mapping[str, Any]) -> str:
    """One pydantic error of a spec as a reader says it: ``must be less than 100``, not
    ``Input should be less than 100``; ``unknown field (typo?)``; a validator's own words
    without pydantic's ``Value error,`` in front."""
    if error["type"] == "extra_forbidden":
        return "unknown field (typo?)"
    if error["type"] == "missing":
        return "required field missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return re.sub(r"^(?:Input|String|List|Dictionary|Value) should ", "must ", message)


def find_named(name: str, folder: Path, what: str) -> Path:
    """The YAML file of ``what`` ``name`` in ``folder`` (its stem), or ``name`` itself when
    it is a path to a YAML file; a :class:`UsageError` naming those there otherwise."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path
    for suffix in (".yaml", ".yml"):
        candidate = folder / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in folder.glob("*.y*ml"))) or "none"
    raise UsageError(f"no {what} named {name!r} in {folder}", hint=f"{what}s: {known}")
