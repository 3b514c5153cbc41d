"""Backups against a real PostgreSQL: point-in-time restore after a DELETE, drills, retention."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cli_runner import invoke
from json_schema import assert_matches_schema

from sre_cli.commands.backup import app

if TYPE_CHECKING:
    from sre_cli.infra.postgres import PostgresServer

pytestmark = pytest.mark.integration

READINGS = (
    "create table if not exists readings ("
    " id bigserial primary key, pond text not null, oxygen double precision, at timestamptz);"
)


def _insert(pg: PostgresServer, pond: str, rows: int) -> None:
    pg.psql(
        f"insert into readings (pond, oxygen, at) select '{pond}', g * 0.01, now() "
        f"from generate_series(1, {rows}) g"
    )


def _wait_clock_past(instant: float) -> None:
    """Wait until the wall clock is past ``instant`` (commit times are compared to it)."""
    while time.time() <= instant:
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _password(archiving_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --port, psql and pg_basebackup take the password from libpq's environment."""
    monkeypatch.setenv("PGPASSWORD", archiving_postgres.password)


@pytest.fixture
def pg(archiving_postgres: PostgresServer) -> PostgresServer:
    """The archiving server with an empty ``readings`` table."""
    archiving_postgres.psql(READINGS + "truncate readings;")
    return archiving_postgres


def _backed_up(pg: PostgresServer, repo: Path, pond: str, rows: int) -> None:
    """``rows`` readings of ``pond``, then a backup of them into ``repo``."""
    _insert(pg, pond, rows)
    assert invoke(app, ["run", *_source_args(pg, repo)])[0] == 0


def _source_args(pg: PostgresServer, repo: Path) -> list[str]:
    return ["--port", str(pg.port), "--wal-spool", str(pg.wal_archive_dir), "--repo", str(repo)]


def test_restore_to_a_point_before_a_delete_finds_every_row(
    pg: PostgresServer, scratch: Path
) -> None:
    from sre_cli.infra.postgres import PostgresServer

    repo = scratch / "repo"
    _insert(pg, "north", 2000)
    code, out = invoke(app, ["run", *_source_args(pg, repo), "--format", "json"])
    assert code == 0, out
    backup = json.loads(out)["backup"]
    assert_matches_schema("backup-run", json.loads(out))
    assert backup["tables"]["public.readings"] == 2000

    # Written after the backup: only WAL replay brings these back.
    _insert(pg, "south", 750)
    expected = pg.psql("select count(*), sum(oxygen)::text, max(id) from readings")
    mark = time.time()
    _wait_clock_past(mark + 0.05)
    pg.psql("delete from readings")
    assert pg.psql("select count(*) from readings") == "0"

    before = datetime.fromtimestamp(mark + 0.02, UTC).isoformat()
    target = scratch / "restored"
    source = _source_args(pg, repo)
    code, out = invoke(
        app,
        ["restore", "--format", "json", "--target", str(target), "--to", before, *source],
    )
    assert code == 0, out
    assert_matches_schema("backup-restore", json.loads(out))
    with PostgresServer(target) as restored:
        assert restored.psql("select count(*), sum(oxygen)::text, max(id) from readings") == (
            expected
        )
        assert restored.psql("select count(*) from readings where pond = 'south'") == "750"
    # The key never leaves the repository and stays private.
    assert (repo / "key").stat().st_mode & 0o777 == 0o600
    assert all(b"north" not in p.read_bytes() for p in (repo / "base").rglob("*.aes"))


def test_drill_reports_rows_checksum_rpo_rto(pg: PostgresServer, scratch: Path) -> None:
    repo = scratch / "repo"
    _backed_up(pg, repo, "east", 1234)
    # Writes after the backup do not change what the drill compares (the restore point).
    _insert(pg, "west", 10)

    code, out = invoke(app, ["drill", "--repo", str(repo), "--format", "json"])
    assert code == 0, out
    report = json.loads(out)
    assert_matches_schema("backup-drill", report)
    assert set(report) == {
        "backup",
        "tables",
        "checksum_match",
        "rpo_s",
        "rto_s",
        "verdict",
    }
    assert set(report["backup"]) == {"id", "taken_at", "size_bytes"}
    assert report["backup"]["size_bytes"] > 0
    assert report["tables"]["public.readings"] == {"source_rows": 1234, "restored_rows": 1234}
    assert report["checksum_match"] is True
    assert report["verdict"] == "pass"
    assert report["rto_s"] > 0
    assert report["rpo_s"] >= 0


def test_drill_fails_when_restored_data_differs(pg: PostgresServer, scratch: Path) -> None:
    repo = scratch / "repo"
    _backed_up(pg, repo, "east", 100)
    # The manifest claims one row more than the source held: the restored data cannot match.
    manifest_path = next((repo / "base").glob("*/manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["summary"]["tables"]["public.readings"] = 101
    manifest_path.write_text(json.dumps(manifest))

    code, out = invoke(app, ["drill", "--repo", str(repo), "--format", "json"])
    assert code == 1, out
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["verdict"] == "fail"
    assert report["tables"]["public.readings"] == {"source_rows": 101, "restored_rows": 100}


def test_corrupt_archive_is_refused_before_restore(pg: PostgresServer, scratch: Path) -> None:
    repo = scratch / "repo"
    assert invoke(app, ["run", *_source_args(pg, repo)])[0] == 0
    archive = next((repo / "base").glob("*/base.tar.aes"))
    with archive.open("r+b") as fh:
        fh.seek(archive.stat().st_size // 2)
        fh.write(b"\0" * 16)
    code, out = invoke(app, ["restore", "--target", str(scratch / "r"), "--repo", str(repo)])
    assert code == 1
    assert "sha256" in out
    assert not (scratch / "r").exists()


def test_retention_keeps_the_newest_backups(pg: PostgresServer, scratch: Path) -> None:
    repo = scratch / "repo"
    ids = []
    for _ in range(3):
        code, out = invoke(app, ["run", *_source_args(pg, repo), "--keep", "2", "--format", "json"])
        assert code == 0, out
        ids.append(json.loads(out)["backup"]["id"])
    code, out = invoke(app, ["list", "--repo", str(repo), "--format", "json"])
    assert code == 0, out
    listed = json.loads(out)
    assert_matches_schema("backup-list", listed)
    assert [b["id"] for b in listed["backups"]] == ids[1:]
    oldest_start = json.loads((repo / "base" / ids[1] / "manifest.json").read_text())["start_wal"]
    index = json.loads((repo / "wal" / "index.json").read_text())["segments"]
    kept = [n for n in index if not n.endswith(".history")]
    assert kept
    assert min(n[8:24] for n in kept) >= oldest_start[8:24]


def test_without_the_password_the_backup_says_how_to_give_it(
    archiving_postgres: PostgresServer, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sre_cli.backup import Source
    from sre_cli.errors import Unavailable

    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", str(scratch / "none"))
    code, out = invoke(app, ["run", *_source_args(archiving_postgres, scratch / "repo")])
    assert code != 0
    assert "no password supplied" in out
    with pytest.raises(Unavailable) as refused:
        Source(port=archiving_postgres.port).version()
    assert refused.value.hint is not None
    assert "PGPASSWORD" in refused.value.hint
