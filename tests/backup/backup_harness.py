"""Backup data for the checks that need no PostgreSQL: a manifest as ``aqua backup take``
seals it, with only what a test looks at chosen by the test."""

from __future__ import annotations

from sre_cli.backup.spec import ArchiveFile, BackupManifest, DataSummary


def manifest(
    backup_id: str,
    taken_at: float,
    *,
    tables: dict[str, int],
    seconds: float = 5.0,
    files: tuple[ArchiveFile, ...] = (),
) -> BackupManifest:
    """The manifest of backup ``backup_id`` taken at unix time ``taken_at`` in ``seconds``,
    of a database holding ``tables`` (rows by table), its archive made of ``files``."""
    return BackupManifest(
        id=backup_id,
        taken_at=taken_at,
        finished_at=taken_at + seconds,
        source="postgresql://aqua@127.0.0.1:5433/aqua",
        pg_version="15.14",
        key_id="0000000000000000",
        start_wal="000000010000000000000002",
        restore_point=f"aqua-{backup_id}",
        restore_point_lsn="0/3000090",
        files=list(files),
        summary=DataSummary(database="aqua", tables=tables, table_sums={}, checksum="9f" * 32),
    )
