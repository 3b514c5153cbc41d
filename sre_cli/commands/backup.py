"""``aqua backup``: encrypted PostgreSQL backups, point-in-time restore, restore drills."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sre_cli.commands.options import Format, FormatOption, StateDir, dry_run_option, group
from sre_cli.errors import UsageError
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.backup import Repository, Source

app = group("Encrypted PostgreSQL backups, point-in-time restore and restore drills.")

Repo = Annotated[
    Path | None,
    typer.Option("--repo", help="Backup repository [default: STATE_DIR/backups]."),
]
Port = Annotated[
    int | None,
    typer.Option("--port", help="Back up the cluster on 127.0.0.1:PORT instead of the stack's."),
]
WalSpool = Annotated[
    Path | None,
    typer.Option("--wal-spool", help="With --port: where its archive_command copies WAL."),
]


def _state_dir(state_dir: Path | None) -> Path:
    from sre_cli.stack.spec import default_state_dir

    return (state_dir or default_state_dir()).expanduser().resolve()


def _repo(repo: Path | None, state_dir: Path | None) -> Repository:
    from sre_cli.backup import Repository

    return Repository(repo or _state_dir(state_dir) / "backups")


def _source(state_dir: Path | None, port: int | None, wal_spool: Path | None) -> Source:
    from sre_cli.backup import Source

    if port is not None:
        return Source(port=port, wal_spool=wal_spool)
    if wal_spool is not None:
        raise UsageError("--wal-spool goes with --port")
    return Source.from_stack(_state_dir(state_dir))


@app.command("run")
def run(
    state_dir: StateDir = None,
    repo: Repo = None,
    port: Port = None,
    wal_spool: WalSpool = None,
    keep: Annotated[int, typer.Option("--keep", help="Base backups to keep.")] = 7,
    fmt: FormatOption = Format.table,
) -> None:
    """Take an encrypted base backup, name a restore point after it, archive the WAL."""
    from sre_cli.backup import run_backup
    from sre_cli.backup.render import BackupTaken

    repository = _repo(repo, state_dir)
    manifest = run_backup(_source(state_dir, port, wal_spool), repository, keep=keep)
    emit(BackupTaken(manifest, str(repository.root)), fmt.value)


@app.command("list")
def list_(state_dir: StateDir = None, repo: Repo = None, fmt: FormatOption = Format.table) -> None:
    """The backups in the repository and the archived WAL."""
    from sre_cli.backup.render import BackupList

    repository = _repo(repo, state_dir)
    view = BackupList(
        repository.backups(),
        str(repository.root),
        len(repository.wal_index().segments),
        repository.newest_wal_time(),
    )
    emit(view, fmt.value)


def _parse_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--to {text!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.command("restore")
def restore(
    target: Annotated[
        Path, typer.Option("--target", help="A new directory to restore into (never overwritten).")
    ],
    backup: Annotated[str, typer.Argument(help="Backup id.")] = "latest",
    to: Annotated[
        str | None,
        typer.Option("--to", help="Recover to this instant (ISO 8601, UTC if no offset)."),
    ] = None,
    state_dir: StateDir = None,
    repo: Repo = None,
    port: Port = None,
    wal_spool: WalSpool = None,
    dry_run: Annotated[bool, dry_run_option("Say what would be done; change nothing.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Restore a backup into a new directory, replaying WAL up to --to (default: all of it).

    When the source cluster answers, its current WAL is archived first, so --to may be a
    minute ago. The restored cluster is recovered, promoted and stopped; start it with
    pg_ctl -D TARGET/pg/data.
    """
    from sre_cli.backup import RecoveryTarget, flush_wal
    from sre_cli.backup import restore as do_restore
    from sre_cli.backup.render import RestoreView
    from sre_cli.console import get_console
    from sre_cli.errors import ConfigError, Unavailable

    repository = _repo(repo, state_dir)
    when = _parse_time(to) if to else None
    manifest = repository.backup(backup)
    if when is not None and when.timestamp() < manifest.finished_at:
        raise UsageError(
            f"--to {when.isoformat()} is before backup {manifest.id} was complete",
            hint="name an older backup (aqua backup list)",
        )
    recovery = RecoveryTarget(time_=when)
    if dry_run:
        get_console().print(
            f"would restore backup {manifest.id} into {target} and recover to "
            f"{recovery.describe()}",
            highlight=False,
        )
        return
    if port is not None or state_dir is not None or repo is None:
        # The source down or gone is the usual case for a restore: then use what is archived.
        with contextlib.suppress(ConfigError, Unavailable):
            flush_wal(_source(state_dir, port, wal_spool), repository)
    result = do_restore(repository, manifest, target.expanduser().resolve(), recovery)
    emit(RestoreView(result), fmt.value)


@app.command("drill")
def drill(
    state_dir: StateDir = None,
    repo: Repo = None,
    backup: Annotated[str, typer.Option("--backup", help="Backup id.")] = "latest",
    fmt: FormatOption = Format.table,
) -> None:
    """Restore a backup into a scratch server and check its rows against the source.

    Exit 0 when every table's row count and the data checksum match what the source held at
    the backup's restore point, 1 when they do not, 2 when the drill cannot run.
    """
    from sre_cli.backup import drill as run_drill
    from sre_cli.backup.engine import require_pass
    from sre_cli.backup.render import DrillView

    repository = _repo(repo, state_dir)
    manifest = repository.backup(backup)
    spool = _stack_spool(state_dir) if repo is None or state_dir is not None else None
    if spool is not None and spool.is_dir():
        repository.ingest_wal(repository.existing_key(), spool)
    report = run_drill(repository, manifest=manifest)
    emit(DrillView(report), fmt.value)
    require_pass(report)


def _stack_spool(state_dir: Path | None) -> Path | None:
    from sre_cli.backup import Source
    from sre_cli.errors import ConfigError

    try:
        return Source.from_stack(_state_dir(state_dir)).wal_spool
    except ConfigError:
        return None
