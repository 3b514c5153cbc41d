"""PostgreSQL from the harness answers real queries (asyncpg over TCP, psql on its socket)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from sre_cli.infra.postgres import PostgresServer

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
