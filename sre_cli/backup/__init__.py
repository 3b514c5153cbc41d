"""Backups of the reference stack's PostgreSQL: encrypted base backups, archived WAL,
point-in-time restore and restore drills (spec → engine → render)."""

from __future__ import annotations

from sre_cli.backup.engine import RecoveryTarget, drill, flush_wal, restore, run_backup
from sre_cli.backup.repository import Repository
from sre_cli.backup.source import Source
from sre_cli.backup.spec import BackupManifest, DrillReport, RestoreResult

__all__ = [
    "BackupManifest",
    "DrillReport",
    "RecoveryTarget",
    "Repository",
    "RestoreResult",
    "Source",
    "drill",
    "flush_wal",
    "restore",
    "run_backup",
]
