"""What a backup repository records: base-backup manifests, archived WAL, drill reports.

A repository is a directory (mode 0700)::

    REPO/key                     the AES-256 key (0600), see :mod:`sre_cli.backup.crypto`
    REPO/base/ID/manifest.json   one base backup: when, what, checksums, the data summary
    REPO/base/ID/base.tar.aes    the cluster's files and the WAL that makes them consistent
                                 (pg_basebackup -Ft -X fetch), encrypted
    REPO/wal/SEGMENT.aes         archived WAL segments, encrypted; checksums in wal/index.json
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ArchiveFile",
    "BackupManifest",
    "DataSummary",
    "DrillReport",
    "RestoreResult",
    "TableCheck",
    "WalIndex",
    "WalSegment",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArchiveFile(_Model):
    """One encrypted file: its sha256 (of the encrypted bytes) is verified before any restore."""

    name: str
    sha256: str
    size_bytes: int
    plain_bytes: int


class DataSummary(_Model):
    """Row counts and a data checksum of one database, taken at a named restore point.

    The checksum is order-independent: per table the count and the sum of the first 64 bits
    of each row's md5, combined into one sha256. The tables are locked against writers
    (SHARE mode) while the summary is read and the restore point is created, so the restore
    point holds exactly these rows.
    """

    database: str
    tables: dict[str, int]
    table_sums: dict[str, str]
    checksum: str


class BackupManifest(_Model):
    id: str
    taken_at: float
    finished_at: float
    source: str
    pg_version: str
    key_id: str
    start_wal: str
    restore_point: str
    restore_point_lsn: str
    files: list[ArchiveFile]
    summary: DataSummary

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


class WalSegment(_Model):
    name: str
    sha256: str
    size_bytes: int
    archived_at: float


class WalIndex(_Model):
    segments: dict[str, WalSegment] = {}


class RestoreResult(_Model):
    """A restored data directory: which backup, up to where, and how long it took."""

    backup_id: str
    data_dir: str
    target: str
    wal_segments: int
    restore_s: float


class TableCheck(_Model):
    source_rows: int
    restored_rows: int


class DrillReport(_Model):
    """What ``aqua backup drill --format json`` prints."""

    backup: dict[str, str | float | int]
    tables: dict[str, TableCheck]
    checksum_match: bool
    rpo_s: float
    rto_s: float
    verdict: Literal["pass", "fail"]
    reasons: list[str] = []
