"""Kafka admin clients that clean up after themselves, and a cheap liveness check.

kafka-python 3.0 starts an admin client's IO thread before it bootstraps and leaves the thread
running when bootstrapping fails, so every failed attempt against a broker that is down would
leak a thread. :func:`open_admin` stops it. :class:`KafkaProbe` answers "is the cluster
answering, and how fast" with one ``describe_cluster`` round trip on a long-lived client::

    probe = KafkaProbe("127.0.0.1:9092", timeout_s=1.0)
    latency_s = probe.check()          # blocking; raises when the cluster does not answer
    probe.close()
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from service.pipeline.producer import KAFKA_API_VERSION

T = TypeVar("T")


def open_admin(bootstrap: str, client_id: str, timeout_s: float) -> Any:
    """A bootstrapped ``KafkaAdminClient``; raises ``KafkaError`` without leaking its thread."""
    from kafka import KafkaAdminClient

    timeout_ms = max(1, int(timeout_s * 1000))
    admin = KafkaAdminClient.__new__(KafkaAdminClient)
    try:
        admin.__init__(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            api_version=KAFKA_API_VERSION,
        )
    except BaseException:
        _release(admin)
        raise
    return admin


def _release(admin: Any) -> None:
    # The attributes exist once the constructor got past creating the client; each step is
    # best effort so that a half-built client never raises from here.
    for name, method in (("_client", "close"), ("_net", "stop"), ("_metrics", "close")):
        part = getattr(admin, name, None)
        if part is not None:
            with contextlib.suppress(Exception):
                getattr(part, method)()


class KafkaProbe:
    """``describe_cluster`` on one long-lived admin client, rebuilt after any failure.

    A failed check drops the client: after a broker restart kafka-python's admin client keeps
    failing with ``NodeNotReadyError`` instead of reconnecting. Calls are serialised.
    """

    def __init__(self, bootstrap: str, *, timeout_s: float = 1.0, client_id: str = "aqua-probe"):
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.client_id = client_id
        self._admin: Any = None
        self._lock = threading.Lock()

    def check(self) -> float:
        """Seconds one round trip took (including a reconnect); raises when it failed."""
        started = time.perf_counter()
        self.run(lambda admin: admin.describe_cluster())
        return time.perf_counter() - started

    def run(self, call: Callable[[Any], T]) -> T:
        """``call(admin)`` on the long-lived client (opened when there is none); any failure
        drops the client and is raised."""
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = open_admin(self.bootstrap, self.client_id, self.timeout_s)
                return call(self._admin)
            except Exception:
                self._drop()
                raise

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()
