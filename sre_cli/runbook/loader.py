"""Find runbooks and turn their markdown into :class:`~sre_cli.runbook.spec.Runbook` objects.

Every problem is a :class:`SpecError` naming the file and line: YAML syntax, an unknown field,
a check that cannot give a verdict, an action with nothing to change, a ``{name}`` that is no
parameter, a step for a target the runbook does not list, or an action never verified::

    book = load_runbook(Path("runbooks/api-down.md"))
    books, problems = check_dir(Path("runbooks"))   # every problem, for `list`
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

from pydantic import BaseModel, ValidationError

from sre_cli.defaults import editable_dir
from sre_cli.errors import SpecError, UsageError
from sre_cli.runbook.params import field_path, references
from sre_cli.runbook.spec import (
    BUILTINS,
    Block,
    FrontMatter,
    Heading,
    Prose,
    Runbook,
    Step,
    StepKind,
)
from sre_cli.runbook.steps import StepBody
from sre_cli.spec_yaml import Document, load_documents, worded

__all__ = [
    "DIR_ENV",
    "Catalog",
    "check_dir",
    "default_dir",
    "discover",
    "find_runbook",
    "load_runbook",
    "parse_runbook",
]

DIR_ENV = "AQUA_RUNBOOK_DIR"
_KINDS: tuple[str, ...] = get_args(StepKind)
_M = TypeVar("_M", bound=BaseModel)


def default_dir() -> Path:
    """``$AQUA_RUNBOOK_DIR``, else ``./runbooks``, else the shipped runbooks."""
    return editable_dir("runbooks", DIR_ENV)


def discover(directory: Path) -> list[Path]:
    """The runbook files of ``directory`` (``*.md`` except ``README.md``), sorted."""
    if not directory.is_dir():
        raise UsageError(f"no runbook folder at {directory}", hint=f"pass --dir or set {DIR_ENV}")
    return sorted(p for p in directory.glob("*.md") if p.name.lower() != "readme.md")


def find_runbook(name: str, directory: Path) -> Path:
    """The file of runbook ``name`` (or ``name`` itself when it is a path to a file)."""
    as_path = Path(name)
    if as_path.suffix == ".md" and as_path.is_file():
        return as_path
    candidate = directory / f"{name.removesuffix('.md')}.md"
    if candidate.is_file():
        return candidate
    known = ", ".join(p.stem for p in discover(directory)) or "none"
    raise UsageError(f"no runbook named {name!r} in {directory}", hint=f"runbooks: {known}")


def find_by_alert(alert: str, directory: Path) -> Path:
    """The file of the one runbook whose front matter lists ``alert``."""
    found = [p for p in discover(directory) if alert in load_runbook(p).meta.alerts]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"no runbook in {directory} answers alert {alert!r}")
    names = ", ".join(p.stem for p in found)
    raise UsageError(f"alert {alert!r} is answered by several runbooks: {names}")


def load_runbook(path: Path) -> Runbook:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    return parse_runbook(text, path)


@dataclass(frozen=True)
class Catalog:
    """The runbooks of a folder that load, and the error of each one that does not."""

    books: list[Runbook]
    problems: list[SpecError]

    def to_json(self) -> dict[str, object]:
        rows = [
            {
                "name": b.name,
                "title": b.meta.title,
                "alerts": list(b.meta.alerts),
                "targets": list(b.meta.targets),
                "severity": b.meta.severity,
                "summary": b.meta.summary,
                "steps": len(b.steps),
                "file": str(b.path),
            }
            for b in self.books
        ]
        problems = [one.message for p in self.problems for one in p.problems]
        return {"runbooks": rows, "problems": problems}


def check_dir(directory: Path) -> tuple[list[Runbook], list[SpecError]]:
    """Every runbook of ``directory`` that loads, and the error of each one that does not."""
    books: list[Runbook] = []
    problems: list[SpecError] = []
    for path in discover(directory):
        try:
            books.append(load_runbook(path))
        except SpecError as exc:
            problems.append(exc)
    return books, problems


# -- parsing ------------------------------------------------------------------------------------
def _yaml(path: Path, text: str, first_line: int, what: str) -> Document:
    """One YAML document whose lines are those of the file (the text starts at first_line)."""
    try:
        docs = load_documents(path, "\n" * (first_line - 1) + text)
    except SpecError as exc:
        problem = exc.message.removeprefix(f"{path}:{exc.line}: ")
        raise SpecError(f"{what}: {problem}", path=str(path), line=exc.line) from None
    if not docs:
        raise SpecError(f"{what} is empty", path=str(path), line=first_line)
    if len(docs) > 1:
        raise SpecError(
            f"{what} holds more than one YAML document", path=str(path), line=first_line
        )
    if not isinstance(docs[0].data, dict):
        raise SpecError(f"{what} must be a YAML mapping", path=str(path), line=first_line)
    return docs[0]


def _validate(model: type[_M], doc: Document, what: str) -> _M:
    """The model, or :class:`SpecError` listing every field in error, each at its line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = field_path(err["loc"])
            message = worded(err)
            dotted = ".".join(str(p) for p in loc)
            where = f"{what}: {dotted}: " if dotted else f"{what}: "
            problems.append(doc.error(loc, f"{where}{message}"))
        raise SpecError.every(problems) from None


def _front_matter_end(path: Path, lines: list[str]) -> int:
    """The index of the line closing the front matter (no runbook without one)."""
    if not lines or lines[0].strip() != "---":
        raise SpecError(
            "a runbook starts with YAML front matter between '---' lines", path=str(path), line=1
        )
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in {"---", "..."}), None)
    if end is None:
        raise SpecError("front matter is not closed with '---'", path=str(path), line=1)
    return end


def _front_matter(path: Path, lines: list[str], end: int, problems: list[SpecError]) -> FrontMatter:
    doc = _yaml(path, "\n".join(lines[1:end]), 2, "front matter")
    meta = _validate(FrontMatter, doc, "front matter")
    for name, param in meta.parameters.items():
        for ref in sorted(references([param.default])):
            if ref not in BUILTINS:
                problems.append(
                    doc.error(
                        ("parameters", name, "default"),
                        f"parameter {name}: the default may refer to built-in parameters only "
                        f"({', '.join(sorted(BUILTINS))}), not {{{ref}}}",
                    )
                )
    return meta


def parse_runbook(text: str, path: Path) -> Runbook:
    """Parse and validate one runbook; :class:`SpecError` lists every problem found, each
    with its line (a step that does not parse is skipped, and the checks go on)."""
    from markdown_it import MarkdownIt

    lines = text.splitlines()
    end = _front_matter_end(path, lines)
    problems: list[SpecError] = []
    meta: FrontMatter | None = None
    try:
        meta = _front_matter(path, lines, end, problems)
    except SpecError as exc:
        problems.append(exc)
    body_start = end + 1
    body = lines[body_start:]
    tokens = MarkdownIt("commonmark").parse("\n".join(body))
    # Structural items: headings and aqua fences, as (first, end) body line ranges.
    items: list[tuple[int, int, Block | None]] = []
    blocks: list[Block] = []
    section = meta.title if meta else ""
    number = 0
    for i, tok in enumerate(tokens):
        if tok.map is None:
            continue
        first, end = tok.map
        line = body_start + first + 1
        if tok.type == "heading_open":
            title = tokens[i + 1].content.strip()
            items.append((first, end, Heading(line, int(tok.tag[1:]), title)))
            continue
        words = tok.info.split()
        if tok.type != "fence" or not words or words[0] != "aqua":
            continue
        if len(words) != 2 or words[1] not in _KINDS:
            problems.append(
                SpecError(
                    f"unknown step block `{tok.info.strip()}`: use aqua {'|'.join(_KINDS)}",
                    path=str(path),
                    line=line,
                )
            )
            continue
        number += 1
        kind = cast(StepKind, words[1])
        what = f"step {number} (aqua {kind})"
        try:
            step_body = _validate(StepBody, _yaml(path, tok.content, line + 1, what), what)
        except SpecError as exc:
            problems.append(exc)
            continue
        items.append((first, end, Step(number, kind, step_body, line, "", tok.content)))
    cursor = 0
    for first, end, item in items:
        blocks.extend(_prose(body, cursor, first, body_start))
        if isinstance(item, Heading):
            section = item.text
            blocks.append(item)
        elif isinstance(item, Step):
            blocks.append(Step(item.number, item.kind, item.body, item.line, section, item.source))
        cursor = end
    blocks.extend(_prose(body, cursor, len(body), body_start))
    for block in blocks:
        if isinstance(block, Step):
            problems += _check_kind(block, str(path))
    if meta is not None:
        book = Runbook(path.stem, path, meta, tuple(blocks))
        problems.extend(_check(book, whole=not problems))
    if problems:
        raise SpecError.every(sorted(problems, key=lambda p: p.line or 0))
    return book


def _prose(body: Sequence[str], start: int, end: int, offset: int) -> list[Prose]:
    chunk = list(body[start:end])
    while chunk and not chunk[0].strip():
        chunk.pop(0)
        start += 1
    while chunk and not chunk[-1].strip():
        chunk.pop()
    return [Prose(offset + start + 1, "\n".join(chunk))] if chunk else []


# -- rules across steps ---------------------------------------------------------------------------
def _check(book: Runbook, whole: bool) -> list[SpecError]:
    """Every problem across the steps; ``whole``: every step parsed, so also whether each
    action is verified."""
    path = str(book.path)
    declared = set(book.meta.parameters)
    problems: list[SpecError] = []
    for step in book.steps:
        if step.body.key == "shell" and not book.meta.shell:
            problems.append(
                SpecError(
                    f"step {step.number}: a shell step runs only in a runbook that opts in",
                    path=path,
                    line=step.line,
                    hint="add `shell: true` to the front matter",
                )
            )
        targets = step.body.targets or frozenset(book.meta.targets)
        missing = targets - set(book.meta.targets)
        if missing:
            problems.append(
                SpecError(
                    f"step {step.number} needs target {', '.join(sorted(missing))}, which the "
                    f"runbook does not list in its targets",
                    path=path,
                    line=step.line,
                )
            )
        dumped: dict[str, Any] = step.body.model_dump(by_alias=True, exclude_none=True)
        for ref in sorted(references([dumped])):
            if ref in declared:
                continue
            known_on = BUILTINS.get(ref)
            if known_on is None:
                problems.append(
                    SpecError(
                        f"step {step.number}: {{{ref}}} is not a parameter of this runbook",
                        path=path,
                        line=step.line,
                        hint="declare it under parameters: in the front matter",
                    )
                )
            elif not targets <= known_on:
                problems.append(
                    SpecError(
                        f"step {step.number}: {{{ref}}} is only known on target "
                        f"{', '.join(sorted(known_on))}; restrict the step with `target:`",
                        path=path,
                        line=step.line,
                    )
                )
    # An action is verified or not only once every step parsed and has the right kind.
    for target in book.meta.targets if whole and not problems else ():
        steps = [s for s in book.steps if s.runs_on(target)]
        # an escalation pages someone and changes nothing on the target: nothing to verify
        actions = [s for s in steps if s.kind == "action" and s.body.key != "escalate"]
        if not actions:
            continue
        last = actions[-1]
        verified = any(
            s.kind == "check" and s.body.on_fail == "stop" and s.number > last.number for s in steps
        )
        if not verified:
            problems.append(
                SpecError(
                    f"step {last.number} acts on {target} but no check verifies the result: add an "
                    f"`aqua check` after it (without on_fail: continue)",
                    path=path,
                    line=last.line,
                )
            )
    return problems


def _check_kind(step: Step, path: str) -> list[SpecError]:
    op = step.body.op
    where = f"step {step.number} (aqua {step.kind})"
    problem = ""
    if step.kind == "check" and not op.checks:
        problem = (
            f"{op.describe()!r} gives no verdict; a check needs http, prometheus with expect, "
            "stack ready, k8s available or wait (use `aqua diagnose` to only show it)"
        )
    elif step.kind != "action" and op.mutates:
        problem = f"{op.describe()!r} changes state: make it an `aqua action`"
    elif step.kind == "action" and not op.mutates:
        problem = f"{op.describe()!r} changes nothing: use `aqua check` or `aqua diagnose`"
    elif step.kind == "diagnose" and step.body.key == "wait":
        problem = "wait is a check: use `aqua check`"
    elif step.kind != "check" and step.body.on_fail != "stop":
        problem = "on_fail applies to checks only"
    return [SpecError(f"{where}: {problem}", path=path, line=step.line)] if problem else []
