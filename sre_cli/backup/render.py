"""How backup results look: rich tables for people, JSON for scripts.

Each view wraps an engine result, draws itself (``__rich__``) and has a ``to_json``; nothing
here calls back into the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from sre_cli.backup.spec import BackupManifest, DrillReport, RestoreResult
from sre_cli.table import FitTable, Words
from sre_cli.timespec import rfc3339

__all__ = ["BackupList", "BackupTaken", "DrillView", "RestoreView"]


def _when(ts: float) -> str:
    return rfc3339(ts) or ""


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _backup_json(m: BackupManifest) -> dict[str, object]:
    return {
        "id": m.id,
        "taken_at": _when(m.taken_at),
        "duration_s": round(m.finished_at - m.taken_at, 3),
        "size_bytes": m.size_bytes,
        "restore_point": m.restore_point,
        "tables": m.summary.tables,
        "checksum": m.summary.checksum,
        "files": [f.model_dump() for f in m.files],
    }


@dataclass(frozen=True)
class BackupTaken:
    manifest: BackupManifest
    repository: str

    def to_json(self) -> Mapping[str, object]:
        return {"repository": self.repository, "backup": _backup_json(self.manifest)}

    def __rich__(self) -> RenderableType:
        m = self.manifest
        rows = sum(m.summary.tables.values())
        return Words(
            f"backup {m.id}: {_mb(m.size_bytes)} encrypted in {m.finished_at - m.taken_at:.1f} s, "
            f"{len(m.summary.tables)} tables, {rows} rows, restore point {m.restore_point} "
            f"→ {self.repository}"
        )


@dataclass(frozen=True)
class BackupList:
    backups: list[BackupManifest]
    repository: str
    wal_segments: int
    newest_wal: float | None

    def to_json(self) -> Mapping[str, object]:
        return {
            "repository": self.repository,
            "backups": [_backup_json(m) for m in self.backups],
            "wal_segments": self.wal_segments,
            "newest_wal_at": _when(self.newest_wal) if self.newest_wal else None,
        }

    def __rich__(self) -> RenderableType:
        table = FitTable(title=f"backups in {self.repository}")
        for column in ("id", "taken at", "size", "tables", "rows", "checksum"):
            table.add_column(column, justify="right" if column in ("size", "rows") else "left")
        for m in self.backups:
            table.add_row(
                m.id,
                _when(m.taken_at),
                _mb(m.size_bytes),
                str(len(m.summary.tables)),
                str(sum(m.summary.tables.values())),
                m.summary.checksum[:12],
            )
        newest = _when(self.newest_wal) if self.newest_wal else "none"
        return Group(table, Text(f"{self.wal_segments} WAL files archived; newest {newest}"))


@dataclass(frozen=True)
class RestoreView:
    result: RestoreResult

    def to_json(self) -> Mapping[str, object]:
        return self.result.model_dump()

    def __rich__(self) -> RenderableType:
        r = self.result
        return Words(
            f"restored backup {r.backup_id} to {r.target} ({r.wal_segments} WAL files replayed) "
            f"in {r.restore_s:.1f} s: {r.data_dir}"
        )


@dataclass(frozen=True)
class DrillView:
    report: DrillReport

    def to_json(self) -> Mapping[str, object]:
        return self.report.model_dump(exclude={"reasons"} if not self.report.reasons else None)

    def __rich__(self) -> RenderableType:
        r = self.report
        table = FitTable(title=f"restore drill of backup {r.backup['id']}")
        table.add_column("table")
        table.add_column("rows at backup", justify="right")
        table.add_column("rows restored", justify="right")
        for name, check in r.tables.items():
            table.add_row(name, str(check.source_rows), str(check.restored_rows))
        style = "green" if r.verdict == "pass" else "red"
        lines = [
            Text(f"checksum match: {'yes' if r.checksum_match else 'NO'}"),
            Text(f"RPO {r.rpo_s:.1f} s (age of the newest restorable point)"),
            Text(f"RTO {r.rto_s:.1f} s (restore to a serving database)"),
            *(Text(f"  {reason}", style="red") for reason in r.reasons),
            Text(f"verdict: {r.verdict}", style=f"bold {style}"),
        ]
        return Group(table, *lines)
