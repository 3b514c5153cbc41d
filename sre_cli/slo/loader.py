"""Find SLO spec files, tell their format, and turn them into :class:`SLO` objects.

Folders are searched for ``*.yaml``/``*.yml``. Recognized documents: Sloth ``prometheus/v1``
files, Sloth ``PrometheusServiceLevel`` resources (camelCase fields, as its CRD spells them),
OpenSLO v1 ``SLO`` (and ``SLI`` for ``indicatorRef``), OpenSLO v1alpha ``SLO`` as Sloth reads
it; OpenSLO ``Service``/``AlertPolicy``/... and Sloth ``AlertWindows`` documents are skipped.
Every problem names the file and line::

    slos = load_slos([Path("slo")])                 # raises SpecError on the first bad file
    slos, problems = check_paths([Path("slo")])     # collects every problem (for validate)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from sre_cli.defaults import editable_dir
from sre_cli.errors import SpecError
from sre_cli.slo.openslo import OpenSLOIndicator, OpenSLOSLO
from sre_cli.slo.openslo_alpha import SPEC as SPEC_ALPHA
from sre_cli.slo.openslo_alpha import OpenSLOAlphaSLO
from sre_cli.slo.spec import SLO, SlothFile
from sre_cli.spec_yaml import Document, Location, load_documents, worded

__all__ = ["Problem", "check_paths", "default_dir", "discover", "load_slos"]

_SKIPPED_OPENSLO = {
    "Service",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
    "DataSource",
}


@dataclass(frozen=True)
class Problem:
    """A spec problem at a file and line.

    An ``error`` makes the spec unusable; a ``warning`` (a lint) is valid but probably a
    mistake: ``aqua slo validate`` reports it and exits 0 unless ``--strict``.
    """

    path: str
    line: int | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def default_dir() -> Path:
    """``./slo`` when the current folder has one, else the shipped SLO specs."""
    return editable_dir("slo")


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


def _problems(
    doc: Document,
    exc: ValidationError,
    base: Location = (),
    spelled: dict[str, str] | None = None,
) -> list[Problem]:
    """One problem per pydantic error; ``spelled`` maps field names back to the file's."""
    out = []
    names = spelled or {}
    for err in exc.errors():
        parts = (p for p in err["loc"] if isinstance(p, str | int))
        loc: Location = (*base, *(names.get(p, p) if isinstance(p, str) else p for p in parts))
        message = worded(err)
        if err["type"] == "literal_error" and loc and loc[-1] in {"version", "apiVersion"}:
            message = f"unsupported {loc[-1]}: {message}"
        dotted = ".".join(str(p) for p in loc) or "document"
        out.append(Problem(doc.path, doc.line_of(loc), f"{dotted}: {message}"))
    return out


# The Kubernetes resource spells Sloth's fields in camelCase (its CRD schema).
_CRD_FIELDS = {
    "errorQuery": "error_query",
    "totalQuery": "total_query",
    "errorRatioQuery": "error_ratio_query",
    "pageAlert": "page_alert",
    "ticketAlert": "ticket_alert",
    "sloPlugins": "slo_plugins",
}
_CRD_NAMES = {snake: camel for camel, snake in _CRD_FIELDS.items()}


def _snake_case(value: Any, snake: set[str]) -> Any:
    """``value`` with the CRD's camelCase field names as Sloth's file format spells them;
    ``snake`` collects the names that were already snake_case (also accepted)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            new = _CRD_FIELDS.get(key, key) if isinstance(key, str) else key
            if new in _CRD_NAMES and new == key:
                snake.add(key)
            out[new] = _snake_case(item, snake)
        return out
    if isinstance(value, list):
        return [_snake_case(item, snake) for item in value]
    return value


def _sloth(
    doc: Document, data: dict[str, Any], base: Location, spec: str = "prometheus/v1"
) -> tuple[list[SLO], list[Problem]]:
    snake: set[str] = set()
    crd = spec != "prometheus/v1"
    if crd:
        data = _snake_case(data, snake)
    try:
        parsed = SlothFile.model_validate(data)
        lines = [doc.line_of((*base, "slos", i)) for i in range(len(parsed.slos))]
        return parsed.to_slos(doc.path, lines, spec), []
    except ValidationError as exc:
        # Errors name the fields as the file spells them (camelCase in the CRD).
        spelled = {k: v for k, v in _CRD_NAMES.items() if k not in snake} if crd else {}
        return [], _problems(doc, exc, base, spelled)


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
                found, bad = _sloth(
                    doc, {"version": "prometheus/v1", **spec}, ("spec",), "sloth.slok.dev/v1"
                )
        elif (api, kind) == ("sloth.slok.dev/v1", "AlertWindows") or (
            api == "openslo/v1" and kind in _SKIPPED_OPENSLO
        ):
            continue
        elif api == SPEC_ALPHA and kind == "SLO":
            try:
                found = OpenSLOAlphaSLO.model_validate(data).to_slos(doc.path, doc.start_line)
                bad = []
            except ValidationError as exc:
                found, bad = [], _problems(doc, exc)
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
                    f"{what}: expected Sloth version prometheus/v1 or OpenSLO openslo/v1 "
                    "(or openslo/v1alpha) kind SLO, or Sloth's PrometheusServiceLevel",
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
