"""A backup repository on disk: encrypted archives, their checksums, retention.

See :mod:`sre_cli.backup.spec` for the layout. Every file is written under a temporary name
and renamed, so an interrupted backup leaves no manifest pointing at half an archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
from pathlib import Path

from sre_cli.backup import crypto
from sre_cli.backup.spec import ArchiveFile, BackupManifest, WalIndex, WalSegment
from sre_cli.errors import CheckFailed, ConfigError, UsageError
from sre_cli.files import atomic_write

__all__ = ["Repository", "sha256_file", "wal_position"]


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def wal_position(name: str) -> str:
    """The part of a WAL file name that orders segments across timelines (log + segment)."""
    return name[8:24]


class Repository:
    """``REPO/``: created on first use with mode 0700 and a fresh key."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    @property
    def key_path(self) -> Path:
        return self.root / "key"

    @property
    def base_dir(self) -> Path:
        return self.root / "base"

    @property
    def wal_dir(self) -> Path:
        return self.root / "wal"

    def key(self) -> bytes:
        if not self.root.exists():
            self.root.mkdir(mode=0o700, parents=True)
        self.root.chmod(0o700)
        return crypto.load_or_create_key(self.key_path)

    def existing_key(self) -> bytes:
        if not self.key_path.exists():
            raise ConfigError(f"no backup repository in {self.root} (no key)")
        return crypto.load_or_create_key(self.key_path)

    # -- base backups -------------------------------------------------------------------------

    def new_backup_dir(self, backup_id: str) -> Path:
        path = self.base_dir / f".{backup_id}.partial"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(mode=0o700, parents=True)
        return path

    def seal(self, key: bytes, plain: Path, dest_dir: Path) -> ArchiveFile:
        """Encrypt ``plain`` into ``dest_dir/<name>.aes``; return its checksum entry."""
        out = dest_dir / f"{plain.name}.aes"
        with plain.open("rb") as src:
            sha, size = crypto.encrypt_file(key, src, out)
        return ArchiveFile(
            name=out.name, sha256=sha, size_bytes=size, plain_bytes=plain.stat().st_size
        )

    def commit_backup(self, partial: Path, manifest: BackupManifest) -> Path:
        atomic_write(partial / "manifest.json", manifest.model_dump_json(indent=1) + "\n", 0o600)
        final = self.base_dir / manifest.id
        os.replace(partial, final)
        return final

    def backups(self) -> list[BackupManifest]:
        """Every complete backup, oldest first."""
        found: list[BackupManifest] = []
        if not self.base_dir.is_dir():
            return found
        for entry in sorted(self.base_dir.iterdir()):
            manifest = entry / "manifest.json"
            if entry.name.startswith(".") or not manifest.is_file():
                continue
            found.append(BackupManifest.model_validate_json(manifest.read_text(encoding="utf-8")))
        return sorted(found, key=lambda m: m.taken_at)

    def backup(self, backup_id: str | None) -> BackupManifest:
        """A backup by id; ``None`` or ``latest`` is the newest."""
        backups = self.backups()
        if not backups:
            raise ConfigError(f"no backup in {self.root}", hint="take one with `aqua backup run`")
        if backup_id in (None, "latest"):
            return backups[-1]
        for manifest in backups:
            if manifest.id == backup_id:
                return manifest
        raise UsageError(
            f"no backup {backup_id!r} in {self.root}",
            hint="ids: " + ", ".join(m.id for m in backups[-5:]),
        )

    def verify(self, manifest: BackupManifest) -> None:
        """Check every archive's sha256 against the manifest; raise CheckFailed on a mismatch."""
        for entry in manifest.files:
            path = self.base_dir / manifest.id / entry.name
            if not path.is_file():
                raise CheckFailed(f"backup {manifest.id}: {entry.name} is missing")
            if sha256_file(path) != entry.sha256:
                raise CheckFailed(f"backup {manifest.id}: {entry.name} fails its sha256 check")

    # -- WAL ----------------------------------------------------------------------------------

    def wal_index(self) -> WalIndex:
        path = self.wal_dir / "index.json"
        if not path.is_file():
            return WalIndex()
        return WalIndex.model_validate_json(path.read_text(encoding="utf-8"))

    def _save_wal_index(self, index: WalIndex) -> None:
        self.wal_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.wal_dir / "index.json", index.model_dump_json(indent=1) + "\n", 0o600)

    def ingest_wal(self, key: bytes, spool: Path) -> int:
        """Encrypt every completed segment of ``spool`` into the repository, then remove it.

        A segment leaves the spool only after its encrypted copy is on disk and indexed.
        """
        if not spool.is_dir():
            raise ConfigError(
                f"no WAL spool at {spool}",
                hint="the cluster needs archive_mode=on (the stack's PostgreSQL has it)",
            )
        self.wal_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        index = self.wal_index()
        added = 0
        for path in sorted(spool.iterdir()):
            if path.name.endswith(".part") or not path.is_file():
                continue
            name = path.name.removesuffix(".gz")
            if name not in index.segments:
                archived_at = path.stat().st_mtime
                entry = self.seal(key, path, self.wal_dir)
                index.segments[name] = WalSegment(
                    name=entry.name,
                    sha256=entry.sha256,
                    size_bytes=entry.size_bytes,
                    archived_at=archived_at,
                )
                self._save_wal_index(index)
                added += 1
            path.unlink()
        return added

    def restore_wal(self, key: bytes, dest: Path, *, from_position: str) -> int:
        """Decrypt the segments from ``from_position`` on (and every history file) to ``dest``."""
        index = self.wal_index()
        count = 0
        for name, seg in sorted(index.segments.items()):
            if not name.endswith(".history") and wal_position(name) < from_position:
                continue
            path = self.wal_dir / seg.name
            if sha256_file(path) != seg.sha256:
                raise CheckFailed(f"WAL {name} fails its sha256 check")
            with (dest / name).open("wb") as out:
                if seg.name.endswith(".gz.aes"):  # compressed by archive_command
                    packed = io.BytesIO()
                    crypto.decrypt_file(key, path, packed)
                    out.write(gzip.decompress(packed.getvalue()))
                else:
                    crypto.decrypt_file(key, path, out)
            count += 1
        return count

    def newest_wal_time(self) -> float | None:
        times = [s.archived_at for s in self.wal_index().segments.values()]
        return max(times) if times else None

    # -- retention ----------------------------------------------------------------------------

    def prune(self, keep: int) -> list[str]:
        """Keep the ``keep`` newest backups and the WAL they need; return the removed ids."""
        if keep < 1:
            raise UsageError("--keep must be at least 1")
        backups = self.backups()
        removed = [m.id for m in backups[:-keep]]
        for backup_id in removed:
            shutil.rmtree(self.base_dir / backup_id)
        kept = backups[-keep:]
        if kept:
            oldest = min(wal_position(m.start_wal) for m in kept)
            index = self.wal_index()
            for name in list(index.segments):
                if name.endswith(".history") or wal_position(name) >= oldest:
                    continue
                (self.wal_dir / index.segments[name].name).unlink(missing_ok=True)
                del index.segments[name]
            self._save_wal_index(index)
        return removed
