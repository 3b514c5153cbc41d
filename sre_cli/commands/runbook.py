"""``aqua runbook``: list, show and run the executable markdown runbooks of ``runbooks/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sre_cli.commands.options import (
    Format,
    Host,
    Kubeconfig,
    Namespace,
    Prometheus,
    PrometheusConfig,
    StateDir,
    Target,
    alertmanager_option,
    dry_run_option,
    group,
    jaeger_option,
    journal_option,
    yes_option,
)
from sre_cli.commands.terminal import ask, interactive
from sre_cli.console import get_console, get_err_console
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext

app = group("Executable markdown runbooks: checks, diagnostics and confirmed actions.")


Dir = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Runbook folder [default: $AQUA_RUNBOOK_DIR, ./runbooks, else the shipped ones].",
        show_default=False,
    ),
]
Name = Annotated[str, typer.Argument(help="Runbook name (file stem, e.g. api-down) or a path.")]


def _dir(directory: Path | None) -> Path:
    from sre_cli.runbook.loader import default_dir

    return directory or default_dir()


@app.command("list")
def list_(
    directory: Dir = None, fmt: Annotated[Format, typer.Option("--format")] = Format.table
) -> None:
    """Name, title, alerts and targets of every runbook; invalid files are reported (exit 2)."""
    from sre_cli.errors import SpecError
    from sre_cli.runbook.loader import Catalog, check_dir
    from sre_cli.runbook.render import runbook_table

    books, problems = check_dir(_dir(directory))
    emit(Catalog(books, problems), fmt.value, lambda c: runbook_table(c.books))
    if problems:
        from rich.text import Text

        err = get_err_console()
        for problem in problems[1:]:
            err.print(Text.assemble(("error:", "bold red"), f" {problem.message}"), highlight=False)
        first = problems[0]
        raise SpecError(first.message, hint=f"{len(problems)} runbook(s) did not load")


@app.command()
def show(
    name: Name,
    directory: Dir = None,
    target: Annotated[
        Target | None, typer.Option("--target", help="Only what runs on this target.")
    ] = None,
) -> None:
    """The runbook rendered for reading, every step numbered as `run --from-step` counts."""
    from sre_cli.runbook.loader import find_runbook, load_runbook
    from sre_cli.runbook.render import show_renderable

    book = load_runbook(find_runbook(name, _dir(directory)))
    emit(show_renderable(book, target.value if target else None))


Alertmanager = Annotated[
    str | None,
    alertmanager_option("Alertmanager base URL escalations go to [default: the stack's]."),
]
Jaeger = Annotated[
    str | None, jaeger_option("Jaeger query URL `traces` steps read [default: the stack's].")
]
Context = Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")]


def _target(what: str) -> Any:
    """``--target`` of ``run`` and ``serve``."""
    return typer.Option(
        "--target",
        help=f"{what} [default: kubernetes with --kubeconfig/--namespace, else the runbook's "
        "first target].",
        show_default=False,
    )


@app.command()
def run(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Runbook name (file stem, e.g. api-down) or a path.", show_default=False
        ),
    ] = None,
    alert: Annotated[
        str | None,
        typer.Option("--alert", help="Run the runbook whose front matter lists this alert."),
    ] = None,
    target: Annotated[Target | None, _target("Where to act")] = None,
    state_dir: StateDir = None,
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    context: Context = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    alertmanager: Alertmanager = None,
    jaeger: Jaeger = None,
    dry_run: Annotated[
        bool, dry_run_option("Run checks; print what actions would do; change nothing.")
    ] = False,
    yes: Annotated[bool, yes_option("Do not ask before actions.")] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (repeatable).")
    ] = None,
    from_step: Annotated[
        int, typer.Option("--from-step", min=1, help="Start at this step number.")
    ] = 1,
    fmt: Annotated[
        Format, typer.Option("--format", help="Live table, or JSON at the end.")
    ] = Format.table,
    transcript: Annotated[
        Path | None, journal_option("--transcript", "Transcript", "runbooks")
    ] = None,
    directory: Dir = None,
) -> None:
    """Run the checks and actions in order. Exit 0 resolved, 1 a check failed, 2 could not
    run, 3 a confirmation was declined."""
    from rich.text import Text

    from sre_cli.errors import UsageError
    from sre_cli.ops.context import TargetOptions, open_context
    from sre_cli.ops.transcript import default_transcript_path
    from sre_cli.runbook.engine import RunOptions
    from sre_cli.runbook.engine import run as run_book
    from sre_cli.runbook.loader import find_by_alert, find_runbook, load_runbook
    from sre_cli.runbook.params import parse_param_args
    from sre_cli.runbook.render import LiveReporter, QuietReporter, report_renderable
    from sre_cli.runbook.spec import choose_target

    if (name is None) == (alert is None):
        raise UsageError("name a runbook or pass --alert NAME (one of the two)")
    if alert is not None:
        path = find_by_alert(alert, _dir(directory))
    else:
        assert name is not None
        path = find_runbook(name, _dir(directory))
    book = load_runbook(path)
    chosen = choose_target(
        book,
        target.value if target else None,
        kube=any(v is not None for v in (kubeconfig, namespace, context)),
    )
    where = TargetOptions(
        chosen,
        state_dir,
        kubeconfig,
        namespace,
        context,
        prometheus,
        prometheus_config,
        alertmanager=alertmanager,
        jaeger=jaeger,
    )
    params = parse_param_args(param or [])
    options = RunOptions(chosen, params, dry_run, yes, from_step, interactive())
    console = get_console()
    table = fmt is Format.table
    reporter = LiveReporter(console, ask, show_risk=dry_run) if table else QuietReporter(ask)
    if table:
        mode = " (dry run)" if dry_run else ""
        console.print(
            Text.assemble((book.meta.title, "bold"), f" — {book.path} on ", (chosen, "bold"), mode)
        )
    report = run_book(
        book,
        options,
        lambda: open_context(where),
        reporter,
        transcript or default_transcript_path(book.name, state_dir=state_dir),
    )
    emit(report, fmt.value, report_renderable)
    if report.error is not None:
        raise report.error


@app.command()
def serve(
    target: Annotated[Target | None, _target("Where investigations read")] = None,
    state_dir: StateDir = None,
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    context: Context = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    jaeger: Jaeger = None,
    host: Host = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port of the webhook (0: any free port).")
    ] = 9098,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            envvar="AQUA_RUNBOOK_SERVE_TOKEN_FILE",
            help="File holding the bearer token Alertmanager must send "
            "(or AQUA_RUNBOOK_SERVE_TOKEN).",
        ),
    ] = None,
    transcripts: Annotated[
        Path | None,
        typer.Option(
            "--transcripts",
            help="Folder of the investigations' transcripts [default: investigations/ of "
            "--state-dir when given, else of ~/.local/state/aqua].",
            show_default=False,
        ),
    ] = None,
    max_running: Annotated[
        int, typer.Option("--max-running", min=1, help="Investigations running at once.")
    ] = 4,
    grace: Annotated[
        float,
        typer.Option(
            "--grace", min=0, help="Seconds a stop waits for running investigations to end."
        ),
    ] = 30.0,
    directory: Dir = None,
) -> None:
    """Alertmanager webhook: each firing alert starts its runbook's read-only investigation
    (no action runs); transcripts are stored and served. Stops on SIGTERM or Ctrl-C."""
    import signal
    import threading

    from sre_cli.commands.bearer import bearer_token
    from sre_cli.errors import UsageError
    from sre_cli.ops.context import TargetOptions, open_context
    from sre_cli.ops.operations import TargetName
    from sre_cli.ops.transcript import state_folder
    from sre_cli.runbook.investigate import Investigator
    from sre_cli.runbook.loader import check_dir
    from sre_cli.runbook.webhook import serve as run_server

    token = bearer_token(
        token_file,
        "AQUA_RUNBOOK_SERVE_TOKEN",
        "the webhook",
        "Alertmanager sends it with http_config: {authorization: {credentials_file: FILE}}",
    )
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port (0-65535)")
    books, problems = check_dir(_dir(directory))  # a missing folder is a usage error now
    kube = any(v is not None for v in (kubeconfig, namespace, context))

    def connect(chosen: TargetName) -> RunContext:
        where = TargetOptions(
            chosen, state_dir, kubeconfig, namespace, context, prometheus, prometheus_config,
            jaeger=jaeger,
        )  # fmt: skip
        return open_context(where)

    console = get_console()

    def log(line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)

    folder = transcripts or state_folder("investigations", state_dir=state_dir)
    inv = Investigator(
        _dir(directory),
        folder,
        connect,
        target=target.value if target else None,
        kube=kube,
        max_running=max_running,
        log=log,
    )
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def started(url: str) -> None:
        alerts = sum(len(b.meta.alerts) for b in books)
        log(
            f"serving {len(books)} runbook(s) ({alerts} alerts) on {url}/alerts; "
            f"transcripts in {folder}"
        )
        for problem in problems:
            log(f"warning: {problem.message}")

    try:
        run_server(inv, host, port, token, stop=stop, started=started)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    log(f"stopping: waiting up to {grace:g}s for running investigations")
    left = inv.wait_idle(grace)
    if left:
        log(f"stopped with {len(left)} investigation(s) unfinished: {', '.join(left)}")
    else:
        log("stopped")
