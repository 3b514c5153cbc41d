"""Archive encryption: AES-256-GCM over 1 MiB chunks, with a key per backup repository.

A whole base backup does not fit one GCM message in memory, so a file is split in chunks,
each sealed on its own with a nonce made of a random per-file prefix and the chunk's index.
The associated data binds every chunk to the file header, its index and whether it is the
last one, so chunks cannot be reordered, dropped or the file truncated without the
decryption failing::

    MAGIC (4) | nonce prefix (8) | { length (4, big endian) | ciphertext + tag } ...

The key is 32 random bytes in ``REPO/key`` (mode 0600), generated when the repository is
created and never printed; its id (the first 16 hex digits of its sha256) is recorded in each
manifest so a restore with the wrong key says so before reading any archive.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sre_cli.errors import CheckFailed, ConfigError

__all__ = ["CHUNK", "decrypt_file", "encrypt_file", "key_id", "load_or_create_key"]

MAGIC = b"AQB1"
CHUNK = 1 << 20
_PREFIX = 8
_TAG = 16


def load_or_create_key(path: Path) -> bytes:
    """The repository's key, created (0600, in a 0700 directory) when there is none."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(
                f"{path} is readable by others (mode {mode:o})", hint=f"chmod 600 {path}"
            )
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigError(f"{path} is not a 32-byte key")
        return key
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">IB", index, 1 if final else 0)


def _chunks(src: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    current = src.read(CHUNK)
    while True:
        following = src.read(CHUNK) if len(current) == CHUNK else b""
        final = not following
        yield current, final
        if final:
            return
        current = following


def encrypt_file(key: bytes, src: BinaryIO, dst: Path) -> tuple[str, int]:
    """Encrypt ``src`` into ``dst``; return the sha256 and size of what was written."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    header = MAGIC + secrets.token_bytes(_PREFIX)
    digest = hashlib.sha256()
    size = 0
    with dst.open("wb") as out:
        out.write(header)
        digest.update(header)
        size += len(header)
        for index, (plain, final) in enumerate(_chunks(src)):
            nonce = header[len(MAGIC) :] + struct.pack(">I", index)
            sealed = aead.encrypt(nonce, plain, _aad(header, index, final))
            block = struct.pack(">I", len(sealed)) + sealed
            out.write(block)
            digest.update(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def decrypt_file(key: bytes, src: Path, dst: BinaryIO) -> int:
    """Decrypt ``src`` into ``dst``; return the plaintext size. Tampering raises CheckFailed."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    written = 0
    with src.open("rb") as fh:
        header = fh.read(len(MAGIC) + _PREFIX)
        if len(header) != len(MAGIC) + _PREFIX or not header.startswith(MAGIC):
            raise CheckFailed(f"{src.name}: not an aqua backup archive")
        index = 0
        final = False
        while not final:
            raw_len = fh.read(4)
            if len(raw_len) != 4:
                raise CheckFailed(f"{src.name}: truncated at chunk {index}")
            (length,) = struct.unpack(">I", raw_len)
            if not _TAG <= length <= CHUNK + _TAG:
                raise CheckFailed(f"{src.name}: corrupt chunk length at chunk {index}")
            sealed = fh.read(length)
            nonce = header[len(MAGIC) :] + struct.pack(">I", index)
            # The last chunk is the one after which the file ends.
            final = fh.peek(1) == b""
            try:
                plain = aead.decrypt(nonce, sealed, _aad(header, index, final))
            except InvalidTag:
                raise CheckFailed(
                    f"{src.name}: chunk {index} fails authentication (wrong key or tampered)"
                ) from None
            dst.write(plain)
            written += len(plain)
            index += 1
    return written
