"""The harness's PostgreSQL lets nobody in without a password, and its app role is confined.

Over TCP every role authenticates with scram-sha-256; on the socket only the harness's own
OS account gets in (as the superuser). With ``roles`` the app role reads and writes rows but
cannot create or drop anything, and new tables made by the owner are covered by default.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra_harness import require_binary

from sre_cli.infra import binaries
from sre_cli.infra.pgroles import APP, MONITOR, OWNER, DatabaseRoles
from sre_cli.infra.postgres import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg(tmp_workdir: Path) -> Iterator[PostgresServer]:
    for tool in ("initdb", "postgres", "psql"):
        require_binary(tool)
    workdir = tmp_workdir / "pg-roles"
    workdir.mkdir()
    with PostgresServer(workdir) as server:
        # A table from before the roles existed (the superuser's), then the roles.
        server.psql("create table ponds (id serial primary key, name text)")
    with PostgresServer(workdir, roles=DatabaseRoles.generate()) as server:
        yield server


def _psql(
    pg: PostgresServer, user: str, sql: str, *, password: str | None, host: str = "127.0.0.1"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "5"
    env["PGPASSFILE"] = os.devnull  # no ~/.pgpass either
    if password is not None:
        env["PGPASSWORD"] = password
    argv = [str(binaries.find("psql")), "-XAtqw", "-v", "ON_ERROR_STOP=1", "-h", host]
    argv += ["-p", str(pg.port), "-U", user, "-d", "aqua", "-c", sql]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)


def _roles(pg: PostgresServer) -> DatabaseRoles:
    assert pg.roles is not None
    return pg.roles


@pytest.mark.parametrize("user", ["aqua", APP, OWNER, MONITOR])
def test_tcp_without_a_password_is_refused(pg: PostgresServer, user: str) -> None:
    done = _psql(pg, user, "select 1", password=None)
    assert done.returncode != 0
    assert "password" in done.stderr


def test_a_wrong_password_is_refused(pg: PostgresServer) -> None:
    done = _psql(pg, "aqua", "select 1", password=pg.password + "x")
    assert done.returncode != 0
    assert "password authentication failed" in done.stderr


def test_the_socket_wants_a_password_from_other_roles(pg: PostgresServer) -> None:
    done = _psql(pg, APP, "select 1", password=None, host=str(pg.socket_dir))
    assert done.returncode != 0
    assert "password" in done.stderr
    ok = _psql(pg, APP, "select 1", password=_roles(pg).app, host=str(pg.socket_dir))
    assert ok.stdout.strip() == "1", ok.stderr


def test_the_rules_have_no_trust(pg: PostgresServer) -> None:
    rules = pg.psql("select distinct auth_method from pg_hba_file_rules order by 1")
    assert rules.splitlines() == ["peer", "scram-sha-256"]
    assert pg.psql("select rolname from pg_authid where rolpassword like 'md5%'") == ""


def test_the_app_role_reads_and_writes_rows_only(pg: PostgresServer) -> None:
    app = _roles(pg).app
    write = _psql(pg, APP, "insert into ponds (name) values ('north') returning id", password=app)
    assert write.returncode == 0, write.stderr
    assert _psql(pg, APP, "update ponds set name = 'south'", password=app).returncode == 0
    assert _psql(pg, APP, "select count(*) from ponds", password=app).stdout.strip() != "0"
    for sql in (
        "create table intruder (x int)",
        "drop table ponds",
        "alter table ponds add column x int",
        "truncate ponds",
        "create database other",
        "create role other",
    ):
        done = _psql(pg, APP, sql, password=app)
        assert done.returncode != 0, sql
        assert "permission denied" in done.stderr or "must be owner" in done.stderr, done.stderr
    flags = pg.psql(
        f"select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = '{APP}'"
    )
    assert flags == "f|f|f"


def test_tables_the_owner_creates_later_are_covered(pg: PostgresServer) -> None:
    roles = _roles(pg)
    made = _psql(
        pg, OWNER, "create table readings (id bigserial primary key, v real)", password=roles.owner
    )
    assert made.returncode == 0, made.stderr
    done = _psql(pg, APP, "insert into readings (v) values (7.5) returning id", password=roles.app)
    assert done.stdout.strip() == "1", done.stderr
    assert pg.psql("select tableowner from pg_tables where tablename = 'ponds'") == OWNER
    assert pg.psql("select rolsuper from pg_roles where rolname = 'aqua_owner'") == "f"


def test_the_monitor_role_sees_every_session(pg: PostgresServer) -> None:
    sql = "select count(*) from pg_stat_activity where query like '%pg_sleep(0.5)%'"
    sql += " and pid <> pg_backend_pid()"
    psql = str(binaries.find("psql"))
    sleeper = subprocess.Popen(
        [
            psql,
            "-XAtq",
            "-h",
            str(pg.socket_dir),
            "-p",
            str(pg.port),
            "-U",
            "aqua",
            "-d",
            "aqua",
            "-c",
            "select pg_sleep(0.5)",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        seen = "0"
        while seen == "0" and sleeper.poll() is None:
            seen = _psql(pg, MONITOR, sql, password=_roles(pg).monitor).stdout.strip()
    finally:
        sleeper.wait(timeout=30)
    assert seen == "1"


def test_a_restart_keeps_the_passwords_it_is_given(tmp_workdir: Path) -> None:
    require_binary("initdb")
    workdir = tmp_workdir / "pg-restart"
    workdir.mkdir()
    with PostgresServer(workdir) as first:
        first.psql("create table kept (x int); insert into kept values (1)")
        port = first.port
    # Another harness on the same data dir, with a new password: the harness resets it.
    with PostgresServer(workdir, port, password="another-secret-of-length") as second:
        done = _psql(
            second, "aqua", "select count(*) from kept", password="another-secret-of-length"
        )
        assert done.stdout.strip() == "1", done.stderr
        assert _psql(second, "aqua", "select 1", password=first.password).returncode != 0
