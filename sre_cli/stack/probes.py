"""Liveness and readiness probes that speak each component's own protocol.

A port that accepts a connection is not a ready server: PostgreSQL answers "the database
system is starting up", Redis answers ``-LOADING``, a FastAPI app answers 503 on ``/ready``
while its dependencies are down. Each probe here asks the real question with a short timeout
and never raises: it returns ``True`` or ``False``.

Example::

    check_ready(spec.probe, spec.port)   # -> bool
"""

from __future__ import annotations

import http.client
import socket
import struct

from sre_cli.stack.spec import Probe

__all__ = ["check_live", "check_ready", "http_ok", "port_in_use"]

_HOST = "127.0.0.1"


def port_in_use(port: int, host: str = _HOST) -> bool:
    """True when something already listens on ``host:port``.

    SO_REUSEADDR as the servers themselves set it: connections of a previous run lingering in
    TIME_WAIT do not make a port "taken".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _connect(port: int, timeout: float) -> socket.socket | None:
    try:
        return socket.create_connection((_HOST, port), timeout=timeout)
    except OSError:
        return None


def http_ok(port: int, path: str, timeout: float = 1.0) -> bool:
    """GET ``path`` on loopback and want a 2xx."""
    conn = http.client.HTTPConnection(_HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "aqua-stack-probe"})
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return 200 <= status < 300


def _tcp(port: int, timeout: float) -> bool:
    sock = _connect(port, timeout)
    if sock is None:
        return False
    sock.close()
    return True


def _redis_ping(port: int, timeout: float) -> bool:
    sock = _connect(port, timeout)
    if sock is None:
        return False
    try:
        sock.sendall(b"PING\r\n")
        # -NOAUTH: the server answers and wants the stack's password, which a probe lacks.
        return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False
    finally:
        sock.close()


def _postgres_session(port: int, timeout: float, user: str = "aqua", db: str = "aqua") -> bool:
    # A StartupMessage (protocol 3.0): 'R' (authentication request/ok) means the server accepts
    # sessions; 'E' carries "the database system is starting up" and friends.
    params = f"user\0{user}\0database\0{db}\0\0".encode()
    body = struct.pack("!I", 196608) + params
    sock = _connect(port, timeout)
    if sock is None:
        return False
    try:
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        first = sock.recv(1)
        if first == b"R":
            sock.sendall(b"X\x00\x00\x00\x04")  # Terminate
            return True
        return False
    except OSError:
        return False
    finally:
        sock.close()


def _kafka_metadata(port: int, timeout: float) -> bool:
    # ApiVersions (key 18, v0) is answered by every broker version; a broker that is up but
    # whose controller quorum is not formed still answers it, so also ask for Metadata v4
    # (key 3; v0-v3 are gone in Kafka 4) and want at least one live broker in the answer.
    sock = _connect(port, timeout)
    if sock is None:
        return False
    try:
        client = b"aqua-probe"
        # Metadata v4: topics = null (-1) -> all topics; allow_auto_topic_creation = false.
        header = struct.pack("!hhih", 3, 4, 7, len(client)) + client
        body = struct.pack("!i", -1) + b"\x00"
        msg = header + body
        sock.sendall(struct.pack("!i", len(msg)) + msg)
        raw = _recv_exact(sock, 4)
        size = struct.unpack("!i", raw)[0]
        payload = _recv_exact(sock, size)
        # correlation_id(4) throttle_time_ms(4) brokers array length(4)
        correlation, _throttle, brokers = struct.unpack("!iii", payload[:12])
        return bool(correlation == 7 and brokers >= 1)
    except (OSError, struct.error, ValueError):
        return False
    finally:
        sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ValueError("connection closed")
        chunks.extend(chunk)
    return bytes(chunks)


def check_live(probe: Probe, port: int, timeout: float = 1.0) -> bool:
    """The process answers on its port (its own liveness endpoint for HTTP components)."""
    if probe.kind == "http" and probe.live_path:
        return http_ok(port, probe.live_path, timeout)
    return _tcp(port, timeout)


def check_ready(probe: Probe, port: int, timeout: float = 1.0) -> bool:
    """The component can serve: its readiness endpoint or protocol-level check passes."""
    match probe.kind:
        case "http":
            return http_ok(port, probe.ready_path or probe.live_path or "/", timeout)
        case "redis":
            return _redis_ping(port, timeout)
        case "postgres":
            return _postgres_session(port, timeout)
        case "kafka":
            return _kafka_metadata(port, timeout)
        case "tcp":
            return _tcp(port, timeout)
