"""The network in a process of its own, fed one merged batch at a time.

In the serving process every torch call of the eager network gives the GIL up and takes it
back, so the forward pass and the event loop (HTTP, parsing, replies) take turns on one core
instead of running side by side. Here the pass runs in a child process
(``python -m service.ml.inference_process``, a fresh interpreter that shares no threads or
locks with the server) and the server's inference thread only sends the merged windows of a
pass over a socket pair and waits for the answers: one round trip per pass, about 0.3 ms
(pickling, two wake-ups), which batching spreads over the pass's requests.

    proc = InferenceProcess(weights_dir, threads=1)
    info = proc.start()          # weights loaded and one warm-up pass done in the child
    served = proc.serve(job)     # from one thread at a time (the batcher's)
    proc.stop()

If the child dies, :meth:`serve` raises :class:`InferenceProcessDied` and :attr:`alive` turns
false; the service answers 503 meanwhile and :meth:`restart` puts a fresh child in its place.
If the server dies, the child reads the end of its socket and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from service.ml.serving import Job, ModelInfo, ServedForecast

START_TIMEOUT_S = 120.0


class InferenceProcessDied(RuntimeError):
    pass


def _child(conn: Connection, weights_dir: str, threads: int) -> None:
    """The child's main: load, warm up, then answer passes until told to stop."""
    import numpy as np
    import torch

    from service.ml.inference import Forecaster
    from service.ml.schemas import DEFAULT_THRESHOLD
    from service.ml.warmup import warmup_batch

    torch.set_num_threads(threads)
    model = Forecaster.load(Path(weights_dir))
    warm = warmup_batch()
    model.serve(Job(warm, np.full(len(warm), DEFAULT_THRESHOLD)))
    conn.send(("ready", model.info))
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the server went away
            return
        if job is None:
            return
        try:
            conn.send(("ok", model.serve(job)))
        except Exception as exc:  # a failed pass fails its requests, not the process
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class InferenceProcess:
    def __init__(self, weights_dir: Path, threads: int = 1) -> None:
        self.weights_dir = weights_dir
        self.threads = threads
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> ModelInfo:
        ours, theirs = socket.socketpair()
        with theirs:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service.ml.inference_process",
                    "--fd",
                    str(theirs.fileno()),
                    "--weights",
                    str(self.weights_dir),
                    "--threads",
                    str(self.threads),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        conn = Connection(ours.detach())
        try:
            if not conn.poll(timeout):
                raise InferenceProcessDied(f"inference process not ready after {timeout:.0f} s")
            kind, info = conn.recv()
        except EOFError as exc:
            conn.close()
            self.stop()
            raise InferenceProcessDied("inference process exited while loading") from exc
        except InferenceProcessDied:
            conn.close()
            self.stop()
            raise
        assert kind == "ready"
        self._conn = conn  # only now: no pass may take the child's "ready" for its answer
        return info  # type: ignore[no-any-return]

    def restart(self) -> ModelInfo:
        """A fresh child in place of one that exited (passes meanwhile fail fast)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self.stop()
        return self.start()

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def serve(self, job: Job) -> ServedForecast:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise InferenceProcessDied("inference process not running")
            try:
                conn.send(job)
                kind, value = conn.recv()
            except (EOFError, OSError) as exc:
                raise InferenceProcessDied("inference process died") from exc
        if kind == "error":
            raise RuntimeError(value)
        return value  # type: ignore[no-any-return]

    def stop(self, timeout: float = 10.0) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
            conn.close()
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="The ML service's inference process.")
    ap.add_argument("--fd", type=int, required=True, help="socket to the server")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    # The server owns this process's lifetime: it says stop (None) or goes away (EOF). A signal
    # sent to the whole process group (Ctrl-C, the supervisor's SIGTERM) is the server's to
    # handle; were the child to die of it first, the server would restart it while shutting
    # down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _child(Connection(args.fd), args.weights, args.threads)


if __name__ == "__main__":
    main()
