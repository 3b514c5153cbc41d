"""Runbooks on the terminal: the list, the rendered document, a run as it happens, its end.

Everything here draws on an injected rich Console; nothing is printed at import time::

    console.print(runbook_table(books))
    console.print(show_renderable(book, target="stack"))
    report = run(book, options, connect, LiveReporter(console, ask), path)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from sre_cli.ops.consent import risk_note
from sre_cli.ops.outcome import ActionPlan, StepRecord
from sre_cli.runbook.engine import SilentReporter
from sre_cli.runbook.spec import Heading, Prose, Runbook, Step
from sre_cli.table import FitTable, Words

if TYPE_CHECKING:
    from rich.console import Console

    from sre_cli.runbook.engine import RunReport

__all__ = [
    "LiveReporter",
    "QuietReporter",
    "report_renderable",
    "runbook_table",
    "show_renderable",
]

Ask = Callable[[str], bool]

_KIND_STYLE = {"check": "cyan", "diagnose": "blue", "action": "magenta"}
_RISK_STYLE = {"read": "dim", "mutate": "yellow", "destructive": "bold red"}
_STATUS = {
    "pass": ("PASS", "bold green"),
    "fail": ("FAIL", "bold red"),
    "info": ("INFO", "blue"),
    "done": ("DONE", "bold green"),
    "nothing": ("NOTHING TO DO", "green"),
    "would": ("DRY RUN", "bold yellow"),
    "declined": ("DECLINED", "bold yellow"),
    "skipped": ("SKIPPED", "dim"),
    "error": ("ERROR", "bold red"),
}
_OUTCOME = {
    "resolved": ("resolved: every check passed", "bold green"),
    "dry-run": ("dry run: nothing was changed", "bold yellow"),
    "investigated": ("investigated: read steps only, nothing was changed", "bold blue"),
    "check-failed": ("a check failed", "bold red"),
    "aborted": ("stopped: a confirmation was declined", "bold yellow"),
    "error": ("could not run", "bold red"),
}


def runbook_table(books: Sequence[Runbook]) -> FitTable:
    """One row per runbook; at 80 columns the title and alerts go under the name."""
    table = FitTable(title="runbooks", title_justify="left", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("title", wrap=True)
    table.add_column("alerts", wrap=True)
    table.add_column("targets")
    table.add_column("severity")
    for book in books:
        meta = book.meta
        table.add_row(
            book.name,
            meta.title,
            ", ".join(meta.alerts) or "-",
            ", ".join(meta.targets),
            meta.severity,
        )
    return table


def _step_header(step: Step) -> Text:
    text = Text.assemble((f"Step {step.number}", "bold"), " ", (step.kind, _KIND_STYLE[step.kind]))
    if step.body.targets:
        text.append(f" ({', '.join(sorted(step.body.targets))} only)", style="dim")
    if step.body.on_fail == "continue":
        text.append(" triage: a failure does not stop the run", style="dim")
    return text


def _with_defaults(step: Step, book: Runbook) -> str:
    """The step's description with parameter defaults filled in (built-ins stay ``{name}``)."""
    from sre_cli.errors import SpecError
    from sre_cli.runbook.params import fill

    values = {n: p.default for n, p in book.meta.parameters.items() if p.default is not None}
    try:
        return fill(step, values, str(book.path)).describe()
    except SpecError:
        return step.title


def show_renderable(book: Runbook, target: str | None = None) -> RenderableType:
    """The runbook as an operator reads it: front matter, prose, and numbered step panels."""
    meta = book.meta
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    facts.add_row("alerts", ", ".join(meta.alerts) or "-")
    facts.add_row("severity", meta.severity)
    facts.add_row("targets", ", ".join(meta.targets))
    for name, param in meta.parameters.items():
        default = "(required)" if param.default is None else f"= {param.default}"
        facts.add_row(f"--param {name}", f"{default}  {param.description}".rstrip())
    # The path stands above the panel, whole on its line: in the panel it would fold.
    parts: list[RenderableType] = [
        Text(str(book.path), style="dim", no_wrap=True, overflow="ignore"),
        Panel(facts, title=Text(meta.title, style="bold"), title_align="left"),
    ]
    blocks = book.blocks if target is None else book.blocks_for(target)
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(Markdown("#" * block.level + " " + block.text))
        elif isinstance(block, Prose):
            parts.append(Markdown(block.text))
        else:
            body = Group(
                Text(_with_defaults(block, book), style="bold"),
                Syntax(
                    block.source.rstrip("\n"), "yaml", background_color="default", word_wrap=True
                ),
            )
            parts.append(Panel(body, title=_step_header(block), title_align="left"))
    return Group(*parts)


def _record_lines(record: StepRecord) -> list[Text]:
    label, style = _STATUS[record.status]
    lines = [Text.assemble("  ", (label, style), " ", record.summary)]
    lines += [
        Text(f"    will: {c}", style="yellow")
        for c in record.changes
        if record.status in {"would", "declined"}
    ]
    lines += [Text(f"    {d}", style="dim") for d in record.details]
    return lines


class LiveReporter:
    """Shows the run as it goes: prose, each step and its result; asks before each action."""

    def __init__(self, console: Console, ask: Ask, *, show_risk: bool = False) -> None:
        self.console = console
        self.ask = ask
        #: name each step's risk level (a dry run: what --yes would allow)
        self.show_risk = show_risk

    def block(self, block: Heading | Prose) -> None:
        if isinstance(block, Heading):
            self.console.print()
            self.console.print(Markdown("#" * block.level + " " + block.text))
        else:
            self.console.print(Markdown(block.text))

    def step_started(self, step: Step, title: str) -> None:
        kind = (step.kind, _KIND_STYLE[step.kind])
        line = Text.assemble((f"Step {step.number} ", "bold"), kind, " ", title)
        if self.show_risk:
            risk = step.body.op.risk
            line.append(f" [{risk_note(risk)}]", style=_RISK_STYLE[risk])
        self.console.print(line)

    def step_finished(self, step: Step, record: StepRecord) -> None:
        if record.status == "skipped":
            self.console.print(Text(f"Step {step.number} skipped: {record.summary}", style="dim"))
            return
        for line in _record_lines(record):
            self.console.print(line, soft_wrap=True)

    def confirm(self, step: Step, title: str, plan: ActionPlan) -> bool:
        self.console.print(Text(f"  Step {step.number} will {plan.summary}:", style="yellow"))
        for change in plan.changes:
            self.console.print(Text(f"    - {change.summary}", style="yellow"))
        for line in plan.details:
            self.console.print(Text(f"    {line}", style="dim"))
        return self.ask(f"  Go ahead with step {step.number}?")


class QuietReporter(SilentReporter):
    """For ``--format json``: shows nothing, still asks before each action."""

    def __init__(self, ask: Ask) -> None:
        self.ask = ask

    def confirm(self, step: Step, title: str, plan: ActionPlan) -> bool:
        changes = "; ".join(c.summary for c in plan.changes)
        return self.ask(f"Step {step.number} will {plan.summary} ({changes}). Go ahead?")


def report_renderable(report: RunReport) -> RenderableType:
    label, style = _OUTCOME[report.outcome]
    counts: dict[str, int] = {}
    for record in report.records:
        counts[record.status] = counts.get(record.status, 0) + 1
    tally = ", ".join(f"{n} {_STATUS[s][0].lower()}" for s, n in counts.items())
    lines: list[RenderableType] = [
        Text.assemble(
            "\n",
            (f"{report.runbook} on {report.target}: ", "bold"),
            (label, style),
            f" in {report.seconds:.1f}s" + (f" ({tally})" if tally else ""),
        )
    ]
    verified = report.verification
    if verified is not None:
        ok = verified["recovered"]
        lines.append(
            Words(
                Text.assemble(
                    (f"SLO {verified['slo']}: ", "bold"),
                    ("recovered" if ok else "NOT recovered", "green" if ok else "bold red"),
                    f" ({verified['summary']})",
                )
            )
        )
    for entry in report.escalations:
        how = entry.get("done") or f"could not escalate: {entry.get('error')}"
        lines.append(Words(Text(f"escalation to {entry['team']}: {how}", style="yellow")))
    lines.append(Words(Text(f"transcript: {report.transcript}", style="dim")))
    return Group(*lines)
