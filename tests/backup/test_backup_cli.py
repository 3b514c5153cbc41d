"""The backup commands' checks that need no server: an empty repository, --to before the
backup, --dry-run, a key that is not the one the backup was sealed with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backup.backup_harness import manifest
from cli_runner import invoke
from json_schema import assert_matches_schema

from sre_cli.backup import Repository
from sre_cli.backup.spec import ArchiveFile
from sre_cli.commands.backup import app

TAKEN_AT = 1_780_000_000.0  # 2026-05-28T20:26:40Z


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding one manifest (the archive itself is not needed by these checks)."""
    repository = Repository(tmp_path / "repo")
    repository.key()
    sealed = manifest(
        "20260528T202640000Z",
        TAKEN_AT,
        tables={"public.farms": 3},
        files=(ArchiveFile(name="base.tar.aes", sha256="0" * 64, size_bytes=10, plain_bytes=8),),
    )
    partial = repository.new_backup_dir(sealed.id)
    repository.commit_backup(partial, sealed)
    return repository.root


def test_empty_repository(tmp_path: Path) -> None:
    code, out = invoke(app, ["drill", "--repo", str(tmp_path / "none")])
    assert code == 2
    assert "no backup" in out
    code, out = invoke(app, ["list", "--repo", str(tmp_path / "none"), "--format", "json"])
    assert code == 0
    assert json.loads(out)["backups"] == []


def test_list_shows_the_backup(repo: Path) -> None:
    code, out = invoke(app, ["list", "--repo", str(repo), "--format", "json"])
    assert code == 0, out
    (backup,) = json.loads(out)["backups"]
    assert_matches_schema("backup-list", json.loads(out))
    assert backup["id"] == "20260528T202640000Z"
    assert backup["tables"] == {"public.farms": 3}


def _restore(repo: Path, target: Path, *args: str) -> tuple[int, str]:
    return invoke(app, ["restore", "--repo", str(repo), "--target", str(target), *args])


def test_restore_to_before_the_backup_is_refused(repo: Path, tmp_path: Path) -> None:
    code, out = _restore(repo, tmp_path / "t", "--to", "2026-05-28T20:00:00Z")
    assert code == 2
    assert "before backup" in out
    assert not (tmp_path / "t").exists()


def test_restore_dry_run_touches_nothing(repo: Path, tmp_path: Path) -> None:
    code, out = _restore(repo, tmp_path / "t", "--to", "2026-05-28T21:00:00+00:00", "--dry-run")
    assert code == 0, out
    assert "would restore backup 20260528T202640000Z" in out
    assert "2026-05-28T21:00:00+00:00" in out
    assert not (tmp_path / "t").exists()


def test_a_damaged_archive_is_refused_before_anything_is_written(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "base" / "20260528T202640000Z" / "base.tar.aes").write_bytes(b"not an archive")
    code, out = _restore(repo, tmp_path / "t")
    assert code == 1
    assert "sha256" in out
    assert not (tmp_path / "t").exists()


def test_public_surface_is_small_and_sorted() -> None:
    import sre_cli.backup as backup

    assert backup.__all__ == sorted(backup.__all__)
    assert all(hasattr(backup, name) for name in backup.__all__)
