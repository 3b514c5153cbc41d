"""The PostgreSQL cluster being backed up: how to reach it, its WAL spool, its data summary.

aqua talks to PostgreSQL through ``psql`` and ``pg_basebackup`` (no driver in the CLI), over
TCP on loopback as the cluster's superuser, with its password (scram-sha-256): the stack's
from its secrets, another cluster's from libpq's own ``PGPASSWORD`` or ``~/.pgpass``. The
password reaches the child processes through their environment, never their argv. The
stack's cluster is found from its state dir::

    source = Source.from_stack(Path("~/.local/state/aqua/stack"))
    summary = source.summary(restore_point="aqua-20260101T000000Z")
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sre_cli.backup.spec import DataSummary
from sre_cli.errors import ConfigError, Unavailable

__all__ = ["Source", "summary_sql"]

_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"


@dataclass(frozen=True)
class Source:
    """A cluster on ``host:port``; ``wal_spool`` is where its ``archive_command`` copies WAL."""

    port: int
    host: str = "127.0.0.1"
    user: str = "aqua"
    database: str = "aqua"
    wal_spool: Path | None = None
    #: None: libpq finds it (PGPASSWORD, PGPASSFILE, ~/.pgpass)
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_stack(cls, state_dir: Path) -> Source:
        from sre_cli.stack.spec import StackPlan, StateLayout

        layout = StateLayout(state_dir.expanduser().resolve())
        try:
            plan = StackPlan.model_validate_json(layout.plan_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"no stack in {layout.root}", hint="start one with `aqua stack up`"
            ) from None
        if not plan.has("postgres"):
            raise ConfigError(
                "this stack has no PostgreSQL (lite mode keeps SQLite)",
                hint="back up a stack started without --lite",
            )
        from sre_cli.stack.state import load_or_create_secrets

        spool = (layout.workdir("postgres") / "pg").resolve() / "wal-archive"
        password = load_or_create_secrets(layout.secrets_file).postgres_password
        return cls(port=plan.component("postgres").port, wal_spool=spool, password=password)

    def auth_hint(self, done: subprocess.CompletedProcess[str]) -> str | None:
        """What to do when PostgreSQL refused the login (None for other failures)."""
        if "password" not in done.stderr:
            return None
        if self.password is not None:
            return "the stack's secrets.json does not match the cluster: restart the stack"
        return "give the superuser's password in PGPASSWORD or ~/.pgpass (libpq)"

    def env(self, timeout: float) -> dict[str, str]:
        """The environment of a psql or pg_basebackup child: the password, if known."""
        env = {**os.environ, "PGCONNECT_TIMEOUT": str(max(1, int(timeout)))}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    @property
    def label(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def psql(self, sql: str, *, database: str | None = None, timeout: float = 600.0) -> str:
        """Run ``sql`` (one or more statements) in one session; tuples-only, tab-separated."""
        from sre_cli.infra import binaries

        argv = [
            str(binaries.find("psql")),
            "-X",
            "-w",  # never prompt: the SQL comes through stdin
            "-A",
            "-t",
            "-q",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            database or self.database,
            "-f",
            "-",
        ]
        try:
            done = subprocess.run(
                argv,
                input=sql,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.env(5),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"{self.label}: no answer within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise Unavailable(
                f"{self.label}: {done.stderr.strip() or 'psql failed'}", hint=self.auth_hint(done)
            )
        return done.stdout.strip()

    def tables(self) -> list[str]:
        query = "select format('%I.%I', schemaname, tablename) from pg_tables "
        query += f"where schemaname not in {_SYSTEM_SCHEMAS} order by 1"
        out = self.psql(query)
        return [line for line in out.splitlines() if line]

    def summary(self, *, restore_point: str | None = None) -> tuple[DataSummary, str]:
        """Row counts and checksum; with ``restore_point``, taken under lock and named in WAL.

        Returns the summary and the restore point's LSN ("" without one).
        """
        tables = self.tables()
        out = self.psql(summary_sql(tables, restore_point=restore_point))
        counts: dict[str, int] = {}
        sums: dict[str, str] = {}
        lsn = ""
        for line in out.splitlines():
            parts = line.split("\t")
            if parts[0] == "\x01restore_point":
                lsn = parts[1]
            elif len(parts) == 3:
                counts[parts[0]] = int(parts[1])
                sums[parts[0]] = parts[2]
        return summarize(self.database, counts, sums), lsn

    def switch_wal(self) -> None:
        """Close the current WAL segment so ``archive_command`` copies it to the spool."""
        self.psql("select pg_switch_wal()")

    def version(self) -> str:
        return self.psql("show server_version")


def summarize(database: str, counts: dict[str, int], sums: dict[str, str]) -> DataSummary:
    digest = hashlib.sha256()
    for name in sorted(counts):
        digest.update(f"{name}\t{counts[name]}\t{sums[name]}\n".encode())
    return DataSummary(
        database=database, tables=counts, table_sums=sums, checksum=digest.hexdigest()
    )


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def summary_sql(tables: list[str], *, restore_point: str | None = None) -> str:
    """The SQL of :meth:`Source.summary`: one transaction, one row per table.

    With a restore point the tables are locked in SHARE mode first: writers already running
    are waited for and new ones wait, so no write to these tables commits between the
    counts and the restore point.
    """
    lines = ["begin;"]
    if restore_point and tables:
        lines.append(f"lock table {', '.join(tables)} in share mode;")
    for name in tables:
        # ``name`` comes from format('%I.%I'): already a quoted identifier.
        lines.append(
            f"select {_quote_literal(name)}, count(*), "  # noqa: S608
            "coalesce(sum(('x' || left(md5(r::text), 16))::bit(64)::bigint::numeric), 0) "
            f"from {name} r;"
        )
    if restore_point:
        point = _quote_literal(restore_point)
        lines.append(f"select E'\\x01restore_point', pg_create_restore_point({point});")
    lines.append("commit;")
    return "\n".join(lines) + "\n"
