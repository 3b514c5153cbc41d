"""Take, restore and drill backups of a PostgreSQL cluster (base backup + archived WAL).

Why ``pg_basebackup`` and WAL archiving rather than ``pg_dump``: a dump restores the moment it
was taken and nothing after; with a base backup and every WAL segment since, the cluster can
be restored to any instant in between (point-in-time recovery), which is what undoes a bad
``DELETE`` at 14:02 without losing the writes of 13:00–14:01. A base backup is also a file
copy, so it costs I/O rather than the CPU of re-serialising every row, and restoring it is
replay rather than re-indexing.

::

    manifest = run_backup(source, repo, keep=7)
    result = restore(repo, manifest, Path("/tmp/restored"), to_time=some_instant)
    report = drill(repo, source)
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sre_cli.backup import crypto
from sre_cli.backup.repository import Repository, wal_position
from sre_cli.backup.source import Source
from sre_cli.backup.spec import (
    BackupManifest,
    DrillReport,
    RestoreResult,
    TableCheck,
)
from sre_cli.errors import CheckFailed, ComponentError, ConfigError, Unavailable, UsageError
from sre_cli.timespec import rfc3339

__all__ = ["RecoveryTarget", "drill", "flush_wal", "require_pass", "restore", "run_backup"]

_START_WAL = re.compile(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)")
ARCHIVE_WAIT_S = 180.0


def _new_id(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC)
    return stamp.strftime("%Y%m%dT%H%M%S") + f"{stamp.microsecond // 1000:03d}Z"


@contextlib.contextmanager
def _private_tmp(parent: Path) -> Iterator[Path]:
    """A 0700 scratch dir for plaintext, removed whatever happens."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".work-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _basebackup(source: Source, dest: Path, label: str) -> None:
    from sre_cli.infra import binaries

    argv = [
        str(binaries.find("pg_basebackup")),
        "-h",
        source.host,
        "-p",
        str(source.port),
        "-U",
        source.user,
        "-w",
        "-D",
        str(dest),
        "-F",
        "tar",
        "-X",
        "fetch",
        "--checkpoint=fast",
        "--no-sync",
        "--no-manifest",
        "-l",
        label,
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=3600, env=source.env(10), check=False
    )
    if done.returncode != 0:
        raise Unavailable(
            f"pg_basebackup failed: {done.stderr.strip()}", hint=source.auth_hint(done)
        )


def _start_wal(base_tar: Path) -> str:
    with tarfile.open(base_tar) as tar:
        member = tar.extractfile("backup_label")
        text = member.read().decode() if member is not None else ""
    found = _START_WAL.search(text)
    if not found:
        raise ComponentError(f"{base_tar.name}: backup_label has no START WAL LOCATION")
    return found.group(1)


def _wait_archived(source: Source, repo: Repository, key: bytes, segment: str) -> None:
    """Ingest the spool until ``segment`` is in the repository (archive_command is async)."""
    assert source.wal_spool is not None
    deadline = time.monotonic() + ARCHIVE_WAIT_S
    while True:
        repo.ingest_wal(key, source.wal_spool)
        if segment in repo.wal_index().segments:
            return
        if time.monotonic() > deadline:
            raise Unavailable(
                f"WAL segment {segment} was not archived within {ARCHIVE_WAIT_S:.0f} s",
                hint="check archive_command in the PostgreSQL log",
            )
        time.sleep(0.2)


def flush_wal(source: Source, repo: Repository) -> None:
    """Archive the source's WAL up to now (close the current segment, wait for its copy)."""
    if source.wal_spool is None:
        return
    key = repo.key()
    segment = source.psql("select pg_walfile_name(pg_current_wal_lsn())")
    source.switch_wal()
    _wait_archived(source, repo, key, segment)


def run_backup(
    source: Source, repo: Repository, *, keep: int = 7, clock: Callable[[], float] = time.time
) -> BackupManifest:
    """A base backup, a restore point after it with the data summary, and its WAL archived."""
    if source.wal_spool is None:
        raise ConfigError(
            "the cluster has no WAL spool: point-in-time recovery needs archived WAL",
            hint="pass --wal-spool DIR (where archive_command copies segments)",
        )
    key = repo.key()
    repo.ingest_wal(key, source.wal_spool)
    taken_at = clock()
    backup_id = _new_id(taken_at)
    restore_point = f"aqua-{backup_id}"
    pg_version = source.version()
    with _private_tmp(repo.root) as work:
        plain = work / "plain"
        _basebackup(source, plain, restore_point)
        start_wal = _start_wal(plain / "base.tar")
        summary, lsn = source.summary(restore_point=restore_point)
        segment = source.psql(f"select pg_walfile_name('{lsn}')")
        source.switch_wal()
        partial = repo.new_backup_dir(backup_id)
        # With -X fetch the WAL that makes the copy consistent is inside base.tar.
        files = [repo.seal(key, path, partial) for path in sorted(plain.glob("*.tar"))]
    _wait_archived(source, repo, key, segment)
    manifest = BackupManifest(
        id=backup_id,
        taken_at=taken_at,
        finished_at=clock(),
        source=source.label,
        pg_version=pg_version,
        key_id=crypto.key_id(key),
        start_wal=start_wal,
        restore_point=restore_point,
        restore_point_lsn=lsn,
        files=files,
        summary=summary,
    )
    repo.commit_backup(partial, manifest)
    repo.prune(keep)
    return manifest


class RecoveryTarget:
    """Where recovery stops: a restore point, an instant, or the end of the archived WAL."""

    def __init__(self, *, name: str | None = None, time_: datetime | None = None) -> None:
        if name and time_:
            raise UsageError("give a restore point or a time, not both")
        self.name = name
        self.time = time_

    def settings(self) -> list[str]:
        if self.name:
            return [f"recovery_target_name = '{self.name}'"]
        if self.time:
            stamp = self.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            return [f"recovery_target_time = '{stamp}'", "recovery_target_inclusive = off"]
        return []

    def describe(self) -> str:
        if self.name:
            return f"restore point {self.name}"
        if self.time:
            return self.time.astimezone(UTC).isoformat()
        return "end of archived WAL"


def _extract(key: bytes, archive: Path, dest: Path, scratch: Path) -> None:
    plain = scratch / archive.name.removesuffix(".aes")
    with plain.open("wb") as out:
        crypto.decrypt_file(key, archive, out)
    with tarfile.open(plain) as tar:
        tar.extractall(dest, filter="data")
    plain.unlink()


def _populate(
    repo: Repository, manifest: BackupManifest, key: bytes, target: RecoveryTarget
) -> tuple[Callable[[Path], None], list[int]]:
    """A callback that lays the backup and its WAL into an empty data dir, set to recover."""
    count = [0]

    def populate(data_dir: Path) -> None:
        spool = data_dir.parent / "wal-restore"
        if spool.exists():
            shutil.rmtree(spool)
        spool.mkdir(mode=0o700)
        with _private_tmp(data_dir.parent) as scratch:
            for entry in manifest.files:
                dest = data_dir / "pg_wal" if entry.name == "pg_wal.tar.aes" else data_dir
                _extract(key, repo.base_dir / manifest.id / entry.name, dest, scratch)
        count[0] = repo.restore_wal(key, spool, from_position=wal_position(manifest.start_wal))
        settings = [
            f"restore_command = 'cp {shlex.quote(str(spool))}/%f %p'",
            "recovery_target_action = 'promote'",
            *target.settings(),
        ]
        with (data_dir / "postgresql.auto.conf").open("a", encoding="utf-8") as fh:
            fh.write("\n# aqua backup restore\n" + "\n".join(settings) + "\n")
        (data_dir / "recovery.signal").touch()

    return populate, count


def _wait_promoted(server: object, deadline_s: float = 600.0) -> None:
    from sre_cli.infra.postgres import PostgresServer

    assert isinstance(server, PostgresServer)
    deadline = time.monotonic() + deadline_s
    while server.psql("select pg_is_in_recovery()", database="postgres") != "f":
        if time.monotonic() > deadline:
            raise ComponentError("restored cluster is still recovering")
        time.sleep(0.1)
    server.apply_credentials()  # the restored catalog holds the source's passwords


def _prepare_restore(repo: Repository, manifest: BackupManifest) -> bytes:
    repo.verify(manifest)
    key = repo.existing_key()
    if crypto.key_id(key) != manifest.key_id:
        raise ConfigError(
            f"backup {manifest.id} was encrypted with key {manifest.key_id}, "
            f"the repository's key is {crypto.key_id(key)}"
        )
    return key


def restore(
    repo: Repository,
    manifest: BackupManifest,
    workdir: Path,
    target: RecoveryTarget,
) -> RestoreResult:
    """Restore into ``workdir`` (a new PostgreSQL workdir), recover to ``target``, stop.

    The recovered cluster is started on a free loopback port to replay WAL and promote, then
    stopped cleanly; ``PostgresServer(workdir)`` (or ``pg_ctl``) starts it afterwards.
    """
    from sre_cli.infra.postgres import PostgresServer

    if workdir.exists() and any(workdir.iterdir()):
        raise UsageError(f"{workdir} is not empty", hint="restore into a new directory")
    started = time.monotonic()
    key = _prepare_restore(repo, manifest)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    populate, count = _populate(repo, manifest, key, target)
    server = PostgresServer(workdir, populate=populate)
    with server:
        _wait_promoted(server)
        data_dir = server.data_dir
    return RestoreResult(
        backup_id=manifest.id,
        data_dir=str(data_dir),
        target=target.describe(),
        wal_segments=count[0],
        restore_s=time.monotonic() - started,
    )


def drill(
    repo: Repository,
    *,
    manifest: BackupManifest | None = None,
    scratch_parent: Path | None = None,
    clock: Callable[[], float] = time.time,
) -> DrillReport:
    """Restore a backup (the latest by default) into a scratch server and compare its data.

    RTO is the time from the start of the restore to a promoted server answering queries;
    RPO is the age of the newest restorable point (the newest archived WAL, or the backup's
    own restore point).
    """
    from sre_cli.infra.postgres import PostgresServer

    manifest = manifest or repo.backup(None)
    started = time.monotonic()
    key = _prepare_restore(repo, manifest)
    newest = max(filter(None, [repo.newest_wal_time(), manifest.finished_at]))
    rpo_s = max(0.0, clock() - newest)
    target = RecoveryTarget(name=manifest.restore_point)
    with tempfile.TemporaryDirectory(prefix="aqua-drill-", dir=scratch_parent) as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        populate, _ = _populate(repo, manifest, key, target)
        with PostgresServer(workdir, populate=populate) as server:
            _wait_promoted(server)
            rto_s = time.monotonic() - started
            restored, _ = Source(
                port=server.port, database=manifest.summary.database, password=server.password
            ).summary()
    source = manifest.summary
    reasons: list[str] = []
    tables: dict[str, TableCheck] = {}
    for name in sorted(set(source.tables) | set(restored.tables)):
        check = TableCheck(
            source_rows=source.tables.get(name, -1), restored_rows=restored.tables.get(name, -1)
        )
        tables[name] = check
        if check.source_rows != check.restored_rows:
            reasons.append(
                f"{name}: {check.source_rows} rows at backup, {check.restored_rows} restored"
            )
    match = restored.checksum == source.checksum
    if not match:
        differing = [
            n for n in source.table_sums if restored.table_sums.get(n) != source.table_sums[n]
        ]
        reasons.append(
            "data checksum differs" + (f" in {', '.join(differing)}" if differing else "")
        )
    return DrillReport(
        backup={
            "id": manifest.id,
            "taken_at": rfc3339(manifest.taken_at) or "",
            "size_bytes": manifest.size_bytes,
        },
        tables=tables,
        checksum_match=match,
        rpo_s=round(rpo_s, 3),
        rto_s=round(rto_s, 3),
        verdict="pass" if match and not reasons else "fail",
        reasons=reasons,
    )


def require_pass(report: DrillReport) -> None:
    if report.verdict != "pass":
        raise CheckFailed("restore drill failed: " + "; ".join(report.reasons))
