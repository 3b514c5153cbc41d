"""Run the API service: migrate once, start the workers, drain on SIGTERM.

``python -m service.api serve`` is the production entry point. Shutdown order on SIGTERM (or
SIGINT), per worker:

1. readiness flips to 503 within ~0.1 s; requests are still served and answered with
   ``Connection: close``;
2. after ``AQUA_DRAIN_SECONDS`` the listener closes and in-flight requests get
   ``AQUA_SHUTDOWN_TIMEOUT_SECONDS`` to finish;
3. the lifespan closes the Redis and database pools; the process exits 0.

A second signal skips the drain. With ``AQUA_WORKERS`` > 1 a small supervisor binds the socket,
spawns the workers, forwards signals and replaces a worker that dies while serving.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

import uvicorn

from service.api.app import create_app
from service.api.lifecycle import Lifecycle
from service.api.settings import ApiSettings
from service.common import otel
from service.common.logs import configure_logging
from service.data import migrate
from service.data.db import Database, is_unavailable

log = logging.getLogger("aqua.api.serve")

MIGRATION_WAIT_SECONDS = 60.0
EARLY_EXIT_SECONDS = 10.0


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first exit signal starts a drain instead of stopping at once."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_seconds: float) -> None:
        super().__init__(config)
        self._lifecycle = lifecycle
        self._drain_seconds = drain_seconds
        self._drain_signal: int | None = None
        self._drain_deadline: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Everything built at startup (app, models, pools) lives as long as the process:
        # moving it out of the collector's reach keeps full collections short.
        gc.collect()
        gc.freeze()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs inside a signal handler: only record; on_tick acts on the event loop.
        if self._drain_signal is not None or self._drain_seconds <= 0 or not self.started:
            super().handle_exit(sig, frame)
            return
        self._drain_signal = sig

    async def on_tick(self, counter: int) -> bool:
        if self._drain_signal is not None and self._drain_deadline is None:
            self._lifecycle.begin_drain(signal.Signals(self._drain_signal).name)
            self._drain_deadline = time.monotonic() + self._drain_seconds
        if self._drain_deadline is not None and time.monotonic() >= self._drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)


def run_server(settings: ApiSettings, sockets: list[socket.socket] | None = None) -> None:
    """Serve in this process until a signal ends it."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # The client address is the peer's; only AQUA_TRUSTED_PROXIES may name another
        # (service.api.loginguard), never a header any loopback peer can send.
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds) or None,
    )
    server = DrainingServer(config, app.state.runtime.lifecycle, settings.drain_seconds)
    try:
        server.run(sockets=sockets)
    finally:
        otel.shutdown()  # the last spans leave before the process does


def reuseport_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket in the SO_REUSEPORT group of ``host:port``.

    Each worker listens on its own socket of the group and the kernel spreads new connections
    across them; with one shared socket, whichever worker is idle at the moment wins
    ``accept``, and a burst of connections can land mostly on one worker.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
    return sock


def _worker_main(settings: ApiSettings, sock: socket.socket | None) -> None:
    if sock is None:
        sock = reuseport_socket(settings.host, settings.port, listen=True)
    run_server(settings, [sock])


async def _migrate(settings: ApiSettings) -> str | None:
    db = Database.from_settings(settings.for_migrations())
    deadline = time.monotonic() + MIGRATION_WAIT_SECONDS
    try:
        while True:
            try:
                await migrate.upgrade(db.engine)
                return await migrate.current(db.engine)
            except Exception as exc:
                if not is_unavailable(exc) or time.monotonic() > deadline:
                    raise
                log.warning("waiting for the database to migrate", extra={"error": str(exc)[:200]})
                await asyncio.sleep(2)
    finally:
        await db.dispose()


class Supervisor:
    """Run ``settings.workers`` worker processes on one port (SO_REUSEPORT or a shared socket)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._started: list[float] = []
        self._stopping = False

    def _spawn(self, sock: socket.socket | None) -> multiprocessing.process.BaseProcess:
        proc = self._ctx.Process(target=_worker_main, args=(self.settings, sock), daemon=False)
        proc.start()
        return proc

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        first = not self._stopping
        self._stopping = True
        for proc in self._procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, sig)
        if first:
            log.info("supervisor forwarding %s to workers", signal.Signals(sig).name)

    def run(self) -> int:
        multiprocessing.allow_connection_pickling()
        shared: socket.socket | None = None
        if self.settings.reuse_port and hasattr(socket, "SO_REUSEPORT"):
            # Bound, not listening: reserves the port (fails now if taken) and never gets
            # connections; each worker listens on a socket of its own in the same group.
            guard = reuseport_socket(self.settings.host, self.settings.port, listen=False)
        else:
            config = uvicorn.Config(
                "service.api.app:create_app", host=self.settings.host, port=self.settings.port
            )
            guard = shared = config.bind_socket()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for _ in range(self.settings.workers):
            self._procs.append(self._spawn(shared))
            self._started.append(time.monotonic())
        log.info(
            "supervisor started %d workers",
            len(self._procs),
            extra={"pids": [p.pid for p in self._procs]},
        )
        failed = False
        while not self._stopping:
            time.sleep(0.2)
            for i, proc in enumerate(self._procs):
                if proc.is_alive() or self._stopping:
                    continue
                if time.monotonic() - self._started[i] < EARLY_EXIT_SECONDS:
                    log.error("worker %s failed at startup (exit %s)", proc.pid, proc.exitcode)
                    failed = True
                    self._on_signal(signal.SIGTERM, None)
                    break
                log.error("worker %s died (exit %s), replacing it", proc.pid, proc.exitcode)
                self._procs[i] = self._spawn(shared)
                self._started[i] = time.monotonic()
        budget = self.settings.drain_seconds + self.settings.shutdown_timeout_seconds + 10
        deadline = time.monotonic() + budget
        for proc in self._procs:
            proc.join(max(deadline - time.monotonic(), 0.1))
            if proc.is_alive():
                log.error("worker %s did not stop in time, killing it", proc.pid)
                proc.kill()
                proc.join()
                failed = True
            elif proc.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT):
                failed = True
        guard.close()
        log.info("supervisor stopped")
        return 1 if failed else 0


def serve(settings: ApiSettings) -> int:
    if settings.db_migrate_on_start:
        revision = asyncio.run(_migrate(settings))
        log.info("database at revision %s", revision)
        settings = settings.model_copy(update={"db_migrate_on_start": False})
    if settings.workers == 1:
        run_server(settings)
        return 0
    return Supervisor(settings).run()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from pydantic import ValidationError

    parser = argparse.ArgumentParser(
        prog="python -m service.api", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=("serve", "migrate", "config-table", "add-organisation"),
        help="serve (default), migrate the database to head, print the configuration table, "
        "or add an organisation with its first admin",
    )
    parser.add_argument("name", nargs="?", help="add-organisation: the organisation's name")
    parser.add_argument("--admin", help="add-organisation: the username of its first admin")
    parser.add_argument(
        "--admin-password-file",
        type=Path,
        help="add-organisation: a file holding that admin's password",
    )
    args = parser.parse_args(argv)
    if args.command != "add-organisation" and (args.name or args.admin or args.admin_password_file):
        parser.error("NAME, --admin and --admin-password-file belong to add-organisation")
    if args.command == "config-table":
        from service.api.configdoc import config_table

        print(config_table())
        return 0
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        # Messages only: the raw input of a settings error holds every AQUA_* value, secrets too.
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "settings"
            print(f"configuration error: {where}: {err['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
    if args.command == "migrate":
        revision = asyncio.run(_migrate(settings))
        log.info("database at revision %s", revision)
        return 0
    if args.command == "add-organisation":
        return add_organisation_command(settings, args.name, args.admin, args.admin_password_file)
    return serve(settings)


def add_organisation_command(
    settings: ApiSettings, name: str | None, admin: str | None, password_file: Path | None
) -> int:
    """``add-organisation NAME --admin USER --admin-password-file FILE``: 0 when created, 2
    on bad input, 1 when the organisation or the username exists."""
    from pydantic import ValidationError

    from service.api.organisations import OrganisationConflict, add_organisation
    from service.api.security import Passwords
    from service.data.schemas import OrganisationCreate

    if not name or not admin or password_file is None:
        print("add-organisation needs NAME, --admin and --admin-password-file", file=sys.stderr)
        return 2
    try:
        password = password_file.read_text(encoding="utf-8").strip()
        body = OrganisationCreate(name=name, admin_username=admin, admin_password=password)
    except OSError as exc:
        print(f"cannot read {password_file}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        for err in exc.errors():
            print(f"invalid {'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 2

    async def create() -> int:
        db = Database.from_settings(settings)
        try:
            created = await add_organisation(
                db,
                Passwords.from_settings(settings),
                body.name,
                body.admin_username,
                body.admin_password,
            )
        finally:
            await db.dispose()
        return created.org_id

    try:
        org_id = asyncio.run(create())
    except OrganisationConflict as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"organisation {body.name} created (id {org_id}), admin {body.admin_username}")
    return 0
