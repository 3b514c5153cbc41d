"""PostgreSQL on 127.0.0.1 with a throwaway cluster: superuser and database ``aqua``.

Every client authenticates. Over TCP every role needs its password (scram-sha-256; the
superuser's is generated per server unless given, and :attr:`PostgresServer.url` carries it);
on the unix socket only the superuser gets in, as the OS account that runs this harness
(``peer``, mapped to ``aqua``); every other role needs its password there too. The socket's
directory is the cluster's own (0700), so whoever reaches it could read the data files
anyway. ``pg_hba.conf`` and ``pg_ident.conf`` are rewritten at every start, a restored data
dir included, and the superuser's password reset to the harness's. With ``roles`` the
least-privilege roles of :mod:`sre_cli.infra.pgroles` are provisioned too.

PostgreSQL refuses to run as root, so as root the cluster is initialised and run as the
``postgres`` OS user on a directory it owns (``<workdir>/pg``). When that user cannot reach
``workdir`` (a parent such as ``/root`` is private), the cluster lives in a directory of its
own under the system temp dir and ``<workdir>/pg`` links to it::

    with PostgresServer(tmp) as pg:
        pg.psql("create table t (x int)")       # as the superuser, over the socket
        engine = create_async_engine(pg.async_url)  # over TCP, with the password

The unix socket sits in the cluster directory, never in ``/var/run/postgresql``, so the
server does not collide with a cluster that Debian may have started on 5432.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sre_cli.errors import ComponentError
from sre_cli.infra import binaries
from sre_cli.infra.pgroles import DatabaseRoles, provision_sql, quote_literal
from sre_cli.infra.process import LOOPBACK, Server

__all__ = ["PostgresServer", "sweep_orphans"]

OS_USER = "postgres"
DB_USER = "aqua"
DB_NAME = "aqua"
#: the pg_ident.conf map that lets this harness's OS account in as the superuser
ADMIN_MAP = "harness"


#: a cluster directory outside its workdir: ``<tmp>/aqua-postgres-<digest of the workdir>``
TEMP_PREFIX = "aqua-postgres-"
#: in such a directory: the path of the ``<workdir>/pg`` link that leads to it
OWNER_FILE = "owner"


def _postmaster_alive(cluster: Path) -> bool:
    try:
        pid = int((cluster / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def sweep_orphans(temp: Path) -> list[Path]:
    """Remove the cluster directories under ``temp`` whose workdir is gone and whose server
    is not running (a workdir deleted without ``aqua stack down --purge``, as a test's temp
    dir is): the link was the only way to them. Directories without an owner file are left
    alone. Returns what was removed."""
    removed = []
    for cluster in temp.glob(f"{TEMP_PREFIX}*"):
        try:
            owner = (cluster / OWNER_FILE).read_text().strip()
        except OSError:
            continue
        if not owner or os.path.lexists(owner) or _postmaster_alive(cluster):
            continue
        shutil.rmtree(cluster, ignore_errors=True)
        removed.append(cluster)
    return removed


def _reachable(path: Path, account: pwd.struct_passwd) -> bool:
    """True when ``account`` may traverse every directory from ``/`` down to ``path``."""
    groups = {account.pw_gid, *os.getgrouplist(account.pw_name, account.pw_gid)}
    for directory in [*reversed(path.parents), path]:
        if not directory.exists():
            break
        info = directory.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


class PostgresServer(Server):
    """A PostgreSQL cluster started with ``initdb`` + ``postgres`` in the foreground."""

    name = "postgres"
    ready_timeout = 60.0
    # SIGINT is the "fast" shutdown: roll back clients, checkpoint, exit. The postmaster
    # stops its own children; signalling them directly would look like a crash to it.
    stop_signal = signal.SIGINT
    signal_group = False

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        durable: bool = False,
        wal_archive: bool = False,
        populate: Callable[[Path], None] | None = None,
        password: str | None = None,
        roles: DatabaseRoles | None = None,
    ) -> None:
        super().__init__(workdir, port)
        #: the superuser's password (TCP clients); generated unless given
        self.password = password or secrets.token_urlsafe(24)
        #: least-privilege roles provisioned after every start (None: superuser only)
        self.roles = roles
        self.durable = durable
        self.wal_archive = wal_archive
        #: fills an empty data dir instead of initdb (a restore from a base backup).
        self.populate = populate
        self._account = self._os_account()
        self.cluster_dir = self.workdir / "pg"

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def wal_archive_dir(self) -> Path:
        """Where completed WAL segments are copied when ``wal_archive`` is on (PITR)."""
        return self.cluster_dir / "wal-archive"

    @property
    def socket_dir(self) -> Path:
        return self.cluster_dir

    @property
    def listen_addresses(self) -> str:
        """Where the server accepts TCP connections: loopback (a subclass may add more)."""
        return LOOPBACK

    @property
    def url(self) -> str:
        """The superuser's DSN, password included."""
        return self.role_url(DB_USER, self.password)

    @property
    def async_url(self) -> str:
        """SQLAlchemy URL for the asyncpg driver (the superuser, password included)."""
        return self.role_url(DB_USER, self.password, driver="postgresql+asyncpg")

    def role_url(self, role: str, password: str, *, driver: str = "postgresql") -> str:
        """The DSN of ``role`` on this server's database."""
        auth = f"{quote(role, safe='')}:{quote(password, safe='')}"
        return f"{driver}://{auth}@{LOOPBACK}:{self.port}/{DB_NAME}"

    def psql(self, sql: str, *, database: str = DB_NAME, timeout: float = 30.0) -> str:
        """Run ``sql`` as the superuser (unix socket, peer); return the tuples-only output.

        The SQL goes through stdin, so passwords in it never show in a process list.
        """
        done = subprocess.run(
            [
                str(binaries.find("psql")),
                "-X",
                "-w",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                "-d",
                database,
                "-f",
                "-",
            ],
            input=sql,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
            check=False,
        )
        if done.returncode != 0:
            raise ComponentError(f"postgres: psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def apply_credentials(self) -> None:
        """Set the superuser's password (and the roles') to this harness's: done at every
        start, and by a restore once recovery ends, since a data dir restored from another
        cluster keeps that cluster's."""
        self.psql(f"alter role {DB_USER} password {quote_literal(self.password)}")
        if self.roles is not None:
            self.provision(self.roles)

    def provision(self, roles: DatabaseRoles) -> None:
        """Create (or update) the least-privilege roles on the running server; kept for
        later starts."""
        self.roles = roles
        self.psql(provision_sql(roles, DB_NAME))

    # -- Server hooks --------------------------------------------------------------------------

    @staticmethod
    def _os_account() -> pwd.struct_passwd | None:
        """The account to run as: ``postgres`` when we are root, else ourselves (None)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(OS_USER)
        except KeyError:
            raise ComponentError(
                f"postgres: running as root needs the '{OS_USER}' OS user",
                hint="install the Debian package postgresql, which creates it: "
                "apt-get install postgresql",
            ) from None

    def _user(self) -> str | None:
        return self._account.pw_name if self._account else None

    def _run_dir(self) -> Path:
        return self.cluster_dir

    def _prepare(self) -> None:
        self._place_cluster_dir()
        if not (self.data_dir / "PG_VERSION").is_file():
            if self.populate is not None:
                self._populate(self.populate)
            else:
                self._initdb()
        self._write_access_rules()
        if self.wal_archive:
            self.wal_archive_dir.mkdir(mode=0o700, exist_ok=True)
            if self._account is not None:
                os.chown(self.wal_archive_dir, self._account.pw_uid, self._account.pw_gid)

    def _place_cluster_dir(self) -> None:
        account = self._account
        link = self.workdir / "pg"
        if account is None or _reachable(self.workdir, account):
            link.mkdir(exist_ok=True)
            target = link
        else:
            temp = Path(tempfile.gettempdir())
            sweep_orphans(temp)
            digest = hashlib.sha256(str(self.workdir).encode()).hexdigest()[:12]
            target = temp / f"{TEMP_PREFIX}{digest}"
            target.mkdir(mode=0o700, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(target, target_is_directory=True)
            # After the link: a sweep never sees an owner file whose link is not there yet.
            (target / OWNER_FILE).write_text(str(link))
        if account is not None:
            os.chown(target, account.pw_uid, account.pw_gid)
        target.chmod(0o700)
        self.cluster_dir = target

    def _populate(self, populate: Callable[[Path], None]) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(mode=0o700)
        populate(self.data_dir)
        self.data_dir.chmod(0o700)
        if self._account is not None:
            uid, gid = self._account.pw_uid, self._account.pw_gid
            for root, dirs, files in os.walk(self.cluster_dir):
                os.chown(root, uid, gid)
                for name in dirs + files:
                    os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)

    def _initdb(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made cluster from an interrupted initdb
        argv = [
            str(binaries.find("initdb")),
            "-D",
            str(self.data_dir),
            "-U",
            DB_USER,
            # Replaced by _write_access_rules before the first start.
            "--auth-local=peer",
            "--auth-host=reject",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        if not self.durable:
            argv.append("--no-sync")
        done = subprocess.run(
            argv,
            cwd=self.cluster_dir,
            capture_output=True,
            text=True,
            timeout=120,
            user=self._user(),
            group=self._user(),
            extra_groups=[] if self._user() else None,
            check=False,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-15:]
            raise ComponentError("postgres: initdb failed:\n" + "\n".join(output))

    def _write_access_rules(self) -> None:
        """pg_hba.conf: passwords everywhere, the harness's OS account as superuser on the
        socket. Written at every start, so a restored data dir follows this harness's rules."""
        caller = pwd.getpwuid(os.geteuid()).pw_name
        rules = {
            "pg_hba.conf": (
                "# Written by the aqua harness at every start.\n"
                "# TYPE  DATABASE     USER  ADDRESS       METHOD\n"
                f"local   all          {DB_USER}                peer map={ADMIN_MAP}\n"
                f"local   replication  {DB_USER}                peer map={ADMIN_MAP}\n"
                "local   all          all                 scram-sha-256\n"
                f"host    all          all   {LOOPBACK}/32  scram-sha-256\n"
                f"host    replication  all   {LOOPBACK}/32  scram-sha-256\n"
            ),
            "pg_ident.conf": f"{ADMIN_MAP} {caller} {DB_USER}\n",
        }
        for name, text in rules.items():
            path = self.data_dir / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o600)
            if self._account is not None:
                os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _argv(self) -> list[str]:
        argv = [
            str(binaries.find("postgres")),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            f"listen_addresses={self.listen_addresses}",
            "-c",
            "password_encryption=scram-sha-256",
        ]
        if self.wal_archive:
            # Every completed segment is compressed beside the data dir (same owner, same
            # 0700), under a temporary name first so a reader never sees half a segment. A
            # segment is closed at least once a minute, which bounds the RPO of point-in-time
            # recovery; one closed early is mostly zeros, so gzip keeps the spool small.
            spool = shlex.quote(str(self.wal_archive_dir))
            argv += [
                "-c",
                "wal_level=replica",
                "-c",
                "archive_mode=on",
                "-c",
                f"archive_command=test ! -f {spool}/%f.gz && gzip -1 -c %p > {spool}/%f.gz.part"
                f" && mv {spool}/%f.gz.part {spool}/%f.gz",
                "-c",
                "archive_timeout=60",
            ]
        if not self.durable:
            # Throwaway clusters: skip the disk flushes that dominate small transactions.
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        return argv

    def _probe(self) -> bool:
        return self.psql("select 1", database="postgres", timeout=5) == "1"

    def _after_ready(self) -> None:
        if self.psql("select pg_is_in_recovery()", database="postgres") == "t":
            return  # read-only until promoted: the restorer calls apply_credentials() then
        exists = self.psql(
            f"select 1 from pg_database where datname = '{DB_NAME}'",  # noqa: S608 - a constant
            database="postgres",
        )
        if exists != "1":
            self.psql(f"create database {DB_NAME}", database="postgres")
        self.apply_credentials()
        if self.psql("select 1") != "1":
            raise ComponentError(f"postgres: database {DB_NAME} does not answer")
