"""A PostgreSQL cluster that archives its WAL, for backup tests (one per module)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from infra_harness import require_binary

if TYPE_CHECKING:
    from sre_cli.infra.postgres import PostgresServer


@pytest.fixture(scope="module")
def archiving_postgres(tmp_workdir: Path) -> Iterator[PostgresServer]:
    for tool in ("initdb", "postgres", "psql", "pg_basebackup"):
        require_binary(tool)
    from sre_cli.infra.postgres import PostgresServer

    workdir = Path(tempfile.mkdtemp(prefix="pg-archiving-", dir=tmp_workdir))
    with PostgresServer(workdir, wal_archive=True) as server:
        yield server


@pytest.fixture
def scratch(tmp_workdir: Path) -> Path:
    """A fresh directory the ``postgres`` OS user can traverse."""
    return Path(tempfile.mkdtemp(prefix="backup-", dir=tmp_workdir))
