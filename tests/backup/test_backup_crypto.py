"""Archive encryption: round trip over several chunks, and every kind of damage is refused."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from sre_cli.backup import crypto
from sre_cli.errors import CheckFailed, ConfigError


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return crypto.load_or_create_key(tmp_path / "repo" / "key")


def _seal(key: bytes, data: bytes, path: Path) -> Path:
    crypto.encrypt_file(key, io.BytesIO(data), path)
    return path


def _open(key: bytes, path: Path) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_file(key, path, out)
    return out.getvalue()


def test_key_is_private_and_stable(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "repo" / "key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert crypto.load_or_create_key(path) == key
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        crypto.load_or_create_key(path)


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK, 2 * crypto.CHUNK + 12345])
def test_round_trip(tmp_path: Path, key: bytes, size: int) -> None:
    data = os.urandom(size)
    sealed = _seal(key, data, tmp_path / "a.aes")
    if size >= 64:  # a shorter plaintext may occur in random ciphertext by chance
        assert data[:64] not in sealed.read_bytes()
    assert _open(key, sealed) == data


def test_tampered_byte_is_refused(tmp_path: Path, key: bytes) -> None:
    sealed = _seal(key, b"farm readings " * 100_000, tmp_path / "a.aes")
    raw = bytearray(sealed.read_bytes())
    raw[len(raw) // 2] ^= 1
    sealed.write_bytes(bytes(raw))
    with pytest.raises(CheckFailed, match="authentication"):
        _open(key, sealed)


def test_truncation_at_a_chunk_boundary_is_refused(tmp_path: Path, key: bytes) -> None:
    sealed = _seal(key, os.urandom(2 * crypto.CHUNK + 10), tmp_path / "a.aes")
    raw = sealed.read_bytes()
    # Header (12) + two full chunks (4 + CHUNK + 16 each): the file without its last chunk.
    sealed.write_bytes(raw[: 12 + 2 * (4 + crypto.CHUNK + 16)])
    with pytest.raises(CheckFailed, match="authentication"):
        _open(key, sealed)


def test_wrong_key_is_refused(tmp_path: Path, key: bytes) -> None:
    sealed = _seal(key, b"x" * 1000, tmp_path / "a.aes")
    with pytest.raises(CheckFailed):
        _open(os.urandom(32), sealed)
