"""Headless Chromium for page tests: a screenshot (decoded with the standard library) and the
console messages the page logged.

``shoot(page, tmp)`` runs ``chromium --headless --screenshot`` on ``file://page`` with logging to
stderr; console messages come back as Chromium's ``CONSOLE(...)`` / ``Uncaught`` lines. Missing
``chromium`` skips the test (fails it under ``CI=true``); ``scripts/provision`` installs it.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from infra_harness import require

from sre_cli.errors import MissingDependency

__all__ = ["Png", "Shot", "read_png", "shoot"]

SIZE = (1400, 1000)


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    pixels: list[tuple[int, int, int]]  # row-major RGB

    def colours(self) -> set[tuple[int, int, int]]:
        return set(self.pixels)

    def near(self, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
        """How many pixels are within ``tolerance`` of ``rgb`` on every channel."""
        return sum(
            1
            for p in self.pixels
            if all(abs(a - b) <= tolerance for a, b in zip(p, rgb, strict=True))
        )


@dataclass(frozen=True)
class Shot:
    png: Png
    console: list[str]  # CONSOLE / Uncaught lines Chromium logged for the page


def read_png(data: bytes) -> Png:
    """An 8-bit, non-interlaced RGB or RGBA PNG's pixels (what Chromium's screenshot writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, "unsupported PNG bit depth"
    assert colour in (2, 6), "unsupported PNG colour type"
    assert interlace == 0, "interlaced PNG"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, pixels = bytearray(stride), []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        pixels += [tuple(line[i : i + 3]) for i in range(0, stride, bpp)]
        prev = line
    return Png(width, height, pixels)  # type: ignore[arg-type]


def _chromium() -> Path:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise MissingDependency(
            "chromium not found", hint="scripts/provision installs the Debian package chromium"
        )
    return Path(found)


def shoot(page: Path, tmp: Path) -> Shot:
    """Screenshot ``page`` at :data:`SIZE` and collect the console lines it logged."""
    binary = require(_chromium)
    out = tmp / "shot.png"
    done = subprocess.run(
        [
            str(binary),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / 'profile'}",
            f"--screenshot={out}",
            f"--window-size={SIZE[0]},{SIZE[1]}",
            "--enable-logging=stderr",
            "--v=0",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return Shot(read_png(out.read_bytes()), console)
