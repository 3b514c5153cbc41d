"""Find SLO spec files, tell their format, and turn them into :class:`SLO` objects.

Folders are searched for ``*.yaml``/``*.yml``. Recognized documents: Sloth ``prometheus/v1``
files, Sloth ``PrometheusServiceLevel`` resources, OpenSLO v1 ``SLO`` (and ``SLI`` for
``indicatorRef``); OpenSLO ``Service``/``AlertPolicy``/... and Sloth ``AlertWindows`` documents
are skipped. Every problem names the file and line::

    slos = load_slos([Path("slo")])                 # raises SpecError on the first bad file
    slos, problems = check_paths([Path("slo")])     # collects every problem (for validate)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sre_cli.errors import SpecError
from sre_cli.slo.openslo import OpenSLOIndicator, OpenSLOSLO
from sre_cli.slo.spec import SLO, SlothFile
from sre_cli.spec_yaml import Document, Location, load_documents

__all__ = ["Problem", "check_paths", "discover", "load_slos"]

_SKIPPED_OPENSLO = {
    "Service",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
    "DataSource",
}


@dataclass(frozen=True)
class Problem:
    """A spec problem at a file and line."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def discover(paths: Sequence[Path]) -> list[Path]:
    """Spec files under ``paths`` (files as given, folders searched recursively, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file()]
            files.extend(sorted(found))
        elif path.exists():
            files.append(path)
        else:
            raise SpecError("no such file or folder", path=str(path))
    return files


def _problems(doc: Document, exc: ValidationError, base: Location = ()) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc: Location = (*base, *(p for p in err["loc"] if isinstance(p, str | int)))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (typo?)"
        elif err["type"] == "literal_error" and loc and loc[-1] in {"version", "apiVersion"}:
            message = f"unsupported {loc[-1]}: {message}"
        dotted = ".".join(str(p) for p in loc) or "document"
        out.append(Problem(doc.path, doc.line_of(loc), f"{dotted}: {message}"))
    return out


def _sloth(doc: Document, data: dict[str, Any], base: Location) -> tuple[list[SLO], list[Problem]]:
    try:
        parsed = SlothFile.model_validate(data)
        lines = [doc.line_of((*base, "slos", i)) for i in range(len(parsed.slos))]
        return parsed.to_slos(doc.path, lines), []
    except ValidationError as exc:
        return [], _problems(doc, exc, base)


def _read(docs: Iterable[Document]) -> tuple[list[SLO], list[Problem]]:
    slos: list[SLO] = []
    problems: list[Problem] = []
    indicators: dict[str, OpenSLOIndicator] = {}
    pending: list[tuple[Document, OpenSLOSLO]] = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            problems.append(Problem(doc.path, doc.start_line, "a spec document is a mapping"))
            continue
        api, kind = data.get("apiVersion"), data.get("kind")
        if "version" in data and api is None:
            found, bad = _sloth(doc, data, ())
        elif api == "sloth.slok.dev/v1" and kind == "PrometheusServiceLevel":
            spec = data.get("spec")
            if not isinstance(spec, dict):
                found, bad = [], [Problem(doc.path, doc.line_of(("spec",)), "spec: required")]
            else:
                found, bad = _sloth(doc, {"version": "prometheus/v1", **spec}, ("spec",))
        elif (api, kind) == ("sloth.slok.dev/v1", "AlertWindows") or (
            api == "openslo/v1" and kind in _SKIPPED_OPENSLO
        ):
            continue
        elif api == "openslo/v1" and kind in {"SLO", "SLI"}:
            try:
                if kind == "SLI":
                    sli = OpenSLOIndicator.model_validate(data)
                    indicators[sli.metadata.name] = sli
                else:
                    pending.append((doc, OpenSLOSLO.model_validate(data)))
            except ValidationError as exc:
                problems.extend(_problems(doc, exc))
            continue
        else:
            line = doc.line_of(("apiVersion",) if api else ("version",))
            what = f"apiVersion {api!r} kind {kind!r}" if api else "a document without version"
            problems.append(
                Problem(
                    doc.path,
                    line,
                    f"{what}: expected Sloth version prometheus/v1 or OpenSLO openslo/v1 kind SLO",
                )
            )
            continue
        slos.extend(found)
        problems.extend(bad)
    for doc, openslo in pending:
        try:
            slos.extend(openslo.to_slos(doc.path, doc.start_line, indicators))
        except ValueError as exc:
            message = str(exc.errors()[0]["msg"]) if isinstance(exc, ValidationError) else str(exc)
            problems.append(Problem(doc.path, doc.line_of(("spec",)), message))
    return slos, problems


def check_paths(paths: Sequence[Path]) -> tuple[list[SLO], list[Problem]]:
    """Every SLO that loads, and every problem found (syntax, schema, duplicate ids)."""
    docs: list[Document] = []
    problems: list[Problem] = []
    for file in discover(paths):
        try:
            docs.extend(load_documents(file))
        except SpecError as exc:
            problems.append(
                Problem(exc.path or str(file), exc.line, exc.message.split(": ", 1)[-1])
            )
    slos, found = _read(docs)
    problems.extend(found)
    seen: dict[str, SLO] = {}
    unique = []
    for slo in slos:
        first = seen.setdefault(slo.id, slo)
        if first is not slo:
            where = f"{first.source.path}:{first.source.line}"
            problems.append(
                Problem(
                    slo.source.path, slo.source.line, f"duplicate SLO {slo.id} (also at {where})"
                )
            )
        else:
            unique.append(slo)
    problems.sort(key=lambda p: (p.path, p.line or 0))
    return unique, problems


def load_slos(paths: Sequence[Path]) -> list[SLO]:
    """All SLOs under ``paths``; :class:`SpecError` (file and line) if any spec is invalid."""
    slos, problems = check_paths(paths)
    if problems:
        first = problems[0]
        more = "".join(f"\n  {p}" for p in problems[1:])
        raise SpecError(first.message + more, path=first.path, line=first.line)
    if not slos:
        shown = ", ".join(str(p) for p in paths)
        raise SpecError("no SLO found", path=shown, hint="point aqua at Sloth or OpenSLO files")
    return slos
