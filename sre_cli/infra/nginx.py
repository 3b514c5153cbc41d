"""nginx on 127.0.0.1 with everything it writes inside its own prefix.

The caller supplies the body of the ``http {}`` block (upstreams and servers) as a function
of the listen port; this module wraps it with ``pid``, ``error_log``, ``access_log`` and every
``*_temp_path`` under ``<workdir>/nginx``, so nothing touches ``/var/lib/nginx`` or
``/var/log/nginx``. The config is checked with ``nginx -t`` before start::

    def conf(port: int) -> str:
        return f'''
        upstream app {{ server 127.0.0.1:{a}; server 127.0.0.1:{b}; }}
        server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://app; }} }}
        '''

    with NginxServer(tmp, conf) as web:
        httpx.get(web.url)
"""

from __future__ import annotations

import functools
import grp
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from sre_cli.errors import ComponentError, ConfigError
from sre_cli.infra import binaries
from sre_cli.infra.process import HttpServer, tcp_open

__all__ = ["NginxServer"]

ConfBuilder = Callable[[int], str]

_TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@functools.cache
def _temp_kinds(nginx: Path) -> tuple[str, ...]:
    """The ``*_temp_path`` directives this build knows (modules can be compiled out)."""
    done = subprocess.run([str(nginx), "-V"], capture_output=True, text=True, check=False)
    built = done.stderr + done.stdout
    without = set(re.findall(r"--without-http_(\w+?)_module", built))
    return tuple(kind for kind in _TEMP_KINDS if kind not in without)


class NginxServer(HttpServer):
    """nginx in the foreground (``daemon off``) with a rendered config in its prefix."""

    name = "nginx"
    ready_timeout = 15.0
    # SIGQUIT is nginx's graceful shutdown: finish requests in flight, then exit.
    stop_signal = signal.SIGQUIT
    signal_group = False

    def __init__(
        self, workdir: Path, conf_text_builder: ConfBuilder, port: int | None = None
    ) -> None:
        super().__init__(workdir, port)
        self.conf_text_builder = conf_text_builder

    @property
    def prefix(self) -> Path:
        return self.workdir / "nginx"

    def write_worker_file(self, name: str, text: str) -> Path:
        """Write a file nginx's workers read at request time (``auth_basic_user_file``).

        As root the workers run as ``nobody``, which cannot enter a private state dir, so the
        file goes to a directory of its own under the system temp dir, readable by the
        workers' group only (0750 / 0640); otherwise the workers are us and it stays in the
        prefix, 0600.
        """
        if os.geteuid() != 0:
            self.prefix.mkdir(parents=True, exist_ok=True)
            path = self.prefix / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o600)
            return path
        group = grp.getgrnam("nogroup").gr_gid
        directory = self._worker_dir()
        directory.mkdir(mode=0o750, exist_ok=True)
        os.chown(directory, 0, group)
        directory.chmod(0o750)
        path = directory / name
        path.write_text(text, encoding="utf-8")
        os.chown(path, 0, group)
        path.chmod(0o640)
        return path

    def stop(self) -> None:
        super().stop()
        if os.geteuid() == 0:  # the worker files of write_worker_file go with the server
            shutil.rmtree(self._worker_dir(), ignore_errors=True)

    def _worker_dir(self) -> Path:
        digest = hashlib.sha256(str(self.workdir.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"aqua-nginx-{digest}"

    @property
    def conf_path(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def pid_path(self) -> Path:
        return self.prefix / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    def render(self) -> str:
        """The whole nginx.conf for the current port."""
        nginx = binaries.find("nginx")
        temp_paths = "\n".join(
            f"    {kind}_temp_path {self.prefix / 'temp' / kind};" for kind in _temp_kinds(nginx)
        )
        return (
            "daemon off;\n"
            "worker_processes 1;\n"
            f"pid {self.pid_path};\n"
            f"error_log {self.error_log} notice;\n"
            "error_log stderr warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"    access_log {self.access_log};\n"
            f"{temp_paths}\n"
            f"{self.conf_text_builder(self.port)}\n"
            "}\n"
        )

    def check(self) -> None:
        """``nginx -t`` on the rendered config; :class:`ConfigError` with its output on failure."""
        done = subprocess.run(
            [*self._base_argv(), "-t", "-q"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ConfigError(
                f"nginx: config {self.conf_path} is invalid:\n{(done.stderr + done.stdout).strip()}"
            )

    def reload(self) -> None:
        """Re-render and check the config, then tell the master to load it (SIGHUP)."""
        self._write_conf()
        self.check()
        process = self.process
        if process is None or process.pid is None or not process.running():
            raise ComponentError("nginx: not running")
        os.kill(process.pid, signal.SIGHUP)

    def _base_argv(self) -> list[str]:
        return [
            str(binaries.find("nginx")),
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.conf_path),
            "-e",
            str(self.error_log),
        ]

    def _write_conf(self) -> None:
        for directory in (self.prefix / "logs", self.prefix / "temp"):
            directory.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.render(), encoding="utf-8")

    def _prepare(self) -> None:
        self._write_conf()
        self.pid_path.unlink(missing_ok=True)
        self.check()

    def _argv(self) -> list[str]:
        return self._base_argv()

    def _probe(self) -> bool:
        return self.pid_path.is_file() and tcp_open(self.port)
