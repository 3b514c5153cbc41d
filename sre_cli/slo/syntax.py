"""PromQL syntax of every query an SLO spec holds, checked by a real PromQL parser.

Two parsers are at hand: ``promtool`` (it ships with Prometheus; every query goes into one
throw-away rule file, and ``promtool check rules`` reports each expression that does not
parse) or, with ``--prometheus``, the server's own parser (``/api/v1/format_query``). Each
problem names the file and line of the SLO, the SLO and the query as the user wrote it
(``{{.window}}`` shown as written)::

    checked = check_syntax(slos)                 # promtool
    checked = check_syntax(slos, prom)           # the server's parser
    checked.parser, checked.problems
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sre_cli.slo.loader import Problem
from sre_cli.slo.spec import SLO, render_window

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient

__all__ = ["SyntaxCheck", "UserQuery", "Validation", "check_syntax", "user_queries"]

# What a {{.window}} placeholder becomes while the syntax is checked: any valid duration.
_WINDOW = "5m"
# A parser's "1:81:" counts in the query with its window filled in, not in what the user wrote.
_POSITION = re.compile(r'^(?:could not parse expression: |invalid parameter "query": )?\d+:\d+: ')
_PROMTOOL_ERROR = re.compile(r'group "q(?P<index>\d+)", rule \d+, "[^"]*": (?P<reason>.*)$')


@dataclass(frozen=True)
class UserQuery:
    """One query of one SLO, as written in its spec."""

    slo: SLO
    field: str
    text: str

    @property
    def expr(self) -> str:
        """The query with its window filled in: what a parser can read."""
        return render_window(self.text, _WINDOW)

    def problem(self, reason: str) -> Problem:
        reason = _POSITION.sub("", reason.removeprefix("Prometheus rejected the query: "))
        return Problem(
            self.slo.source.path,
            self.slo.source.line,
            f"{self.slo.id}: {self.field} does not parse: {reason}\n    {self.text}",
        )


@dataclass(frozen=True)
class SyntaxCheck:
    """Which parser read the queries, how many, and what it rejected."""

    parser: str
    queries: int
    problems: list[Problem]
    unparsed: frozenset[str] = frozenset()  # ids of the SLOs with a query that does not parse


@dataclass(frozen=True)
class Validation:
    """What ``aqua slo validate`` found: the JSON form of its report."""

    slos: int
    syntax: SyntaxCheck
    problems: list[Problem]
    strict: bool = False

    @property
    def valid(self) -> bool:
        return not any(p.severity == "error" or self.strict for p in self.problems)

    def to_json(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "slos": self.slos,
            "parser": self.syntax.parser,
            "queries": self.syntax.queries,
            "problems": [
                {"path": p.path, "line": p.line, "severity": p.severity, "message": p.message}
                for p in self.problems
            ],
        }


def user_queries(slos: Sequence[SLO]) -> list[UserQuery]:
    """Every query of ``slos``; a latency SLI's are the ones aqua writes for it."""
    out = []
    for slo in slos:
        sli = slo.sli
        for field, text in (
            ("error_query", sli.error_query),
            ("total_query", sli.total_query),
            ("error_ratio_query", sli.error_ratio_query),
        ):
            if text is not None:
                out.append(UserQuery(slo, field, text))
    return out


def check_syntax(slos: Sequence[SLO], prom: PrometheusClient | None = None) -> SyntaxCheck:
    """Parse every query of ``slos`` with the server behind ``prom``, else with promtool."""
    queries = user_queries(slos)
    if prom is not None:
        parser, failed = f"the PromQL parser of Prometheus at {prom.url}", _server(queries, prom)
    else:
        parser, failed = "promtool", _with_promtool(queries, _promtool())
    return SyntaxCheck(
        parser,
        len(queries),
        [q.problem(reason) for q, reason in failed],
        frozenset(q.slo.id for q, _ in failed),
    )


def _server(queries: Sequence[UserQuery], prom: PrometheusClient) -> list[tuple[UserQuery, str]]:
    from sre_cli.prometheus import QueryError

    out = []
    for q in queries:
        try:
            prom.format_query(q.expr)
        except QueryError as exc:
            out.append((q, exc.reason))
    return out


def _promtool() -> Path:
    from sre_cli.infra.binaries import find

    return find("promtool")


def _with_promtool(queries: Sequence[UserQuery], promtool: Path) -> list[tuple[UserQuery, str]]:
    if not queries:
        return []
    # JSON is YAML: each expression is a quoted string, whatever characters it holds.
    groups = [
        {"name": f"q{i}", "rules": [{"record": f"aqua:syntax:q{i}", "expr": q.expr}]}
        for i, q in enumerate(queries)
    ]
    with tempfile.TemporaryDirectory(prefix="aqua-promql-") as tmp:
        rules = Path(tmp) / "queries.rules.json"
        rules.write_text(json.dumps({"groups": groups}), encoding="utf-8")
        done = subprocess.run(
            [str(promtool), "check", "rules", str(rules)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    out = []
    for line in (done.stdout + done.stderr).splitlines():
        found = _PROMTOOL_ERROR.search(line)
        if found:
            out.append((queries[int(found.group("index"))], found.group("reason")))
    if done.returncode != 0 and not out:
        from sre_cli.errors import Unavailable

        raise Unavailable(f"promtool check rules failed: {(done.stderr or done.stdout).strip()}")
    return out
