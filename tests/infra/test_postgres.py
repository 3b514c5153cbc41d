"""PostgreSQL from the harness answers real queries (asyncpg over TCP, psql on its socket)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from sre_cli.infra.postgres import PostgresServer, sweep_orphans

pytestmark = pytest.mark.integration


def test_urls_point_at_loopback_with_the_password(postgres_server: PostgresServer) -> None:
    port, password = postgres_server.port, postgres_server.password
    assert len(password) >= 24
    assert postgres_server.url == f"postgresql://aqua:{password}@127.0.0.1:{port}/aqua"
    assert postgres_server.async_url == (
        f"postgresql+asyncpg://aqua:{password}@127.0.0.1:{port}/aqua"
    )


def test_write_and_read_a_row_with_asyncpg(postgres_server: PostgresServer) -> None:
    import asyncpg

    table = f"smoke_{uuid.uuid4().hex[:8]}"

    async def roundtrip() -> list[tuple[int, str]]:
        conn = await asyncpg.connect(postgres_server.url)
        try:
            await conn.execute(f"create table {table} (id int primary key, name text not null)")
            await conn.execute(f"insert into {table} values ($1, $2)", 7, "salmon")
            rows = await conn.fetch(f"select id, name from {table}")
            return [(row["id"], row["name"]) for row in rows]
        finally:
            await conn.close()

    assert asyncio.run(roundtrip()) == [(7, "salmon")]
    # A second client (psql on the socket) sees the committed row.
    assert postgres_server.psql(f"select name from {table} where id = 7") == "salmon"


def test_server_identity(postgres_server: PostgresServer) -> None:
    assert postgres_server.psql("select current_user || ' ' || current_database()") == "aqua aqua"
    assert postgres_server.psql("show listen_addresses") == "127.0.0.1"
    assert postgres_server.psql("show unix_socket_directories") == str(postgres_server.socket_dir)


def test_a_cluster_outside_its_workdir_is_swept_once_the_workdir_is_gone(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: postgres runs as this user, in its workdir")
    workdir = tmp_path / "private"
    workdir.mkdir(mode=0o700)
    temp = Path(tempfile.gettempdir())
    with PostgresServer(workdir) as pg:
        cluster = pg.cluster_dir
        if cluster.parent != temp:
            pytest.fail(f"{tmp_path} is reachable by postgres: the cluster stayed in {cluster}")
        assert (cluster / "owner").read_text() == str(workdir / "pg")
        (workdir / "pg").unlink()
        # Its server still runs: kept.
        assert cluster not in sweep_orphans(temp)
        assert (cluster / "data" / "PG_VERSION").is_file()
    # Stopped, with its workdir link gone: removed; another cluster's directory is kept.
    other = temp / f"aqua-postgres-{uuid.uuid4().hex[:12]}"
    other.mkdir()
    try:
        (other / "owner").write_text(str(tmp_path))  # an existing path
        removed = sweep_orphans(temp)
        assert cluster in removed
        assert other not in removed
        assert not cluster.exists()
        assert other.is_dir()
    finally:
        shutil.rmtree(other)
