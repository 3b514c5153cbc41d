"""Container images for the local cluster, built here because no registry is reachable.

* the sandbox ("pause") image: a static busybox that sleeps forever, ``FROM scratch``;
* a Debian base with Python, made by ``mmdebstrap`` from Debian packages;
* the service images, built by ``buildah`` from ``manifests/docker/Dockerfile`` on that base
  (``--build-arg PYTHON_IMAGE=...``; the Dockerfile's default stays the public base).

Each image is saved as an OCI archive under ``~/.cache/aqua/images/`` named after the hash of
everything that goes into it, so a warm run finds it and builds nothing; ``ctr images
import`` then loads it into the node's containerd. buildah keeps its own storage (and its
layer cache: the Dockerfile installs the dependencies before it copies the source) under
``~/.cache/aqua/buildah/``.

Example::

    builder = ImageBuilder(find_node_tools(), repo_root)
    pause = builder.pause()                 # BuiltImage(ref=..., archive=Path(...), built=False)
    api = builder.service("api")            # the API/worker image, without torch
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sre_cli.cluster.node import PAUSE_IMAGE
from sre_cli.cluster.tools import NodeTools
from sre_cli.errors import ComponentError, UsageError
from sre_cli.infra import versions

__all__ = ["BASE_PACKAGES", "FLAVOURS", "BuiltImage", "ImageBuilder"]

#: Debian packages of the base image: Python and what the Dockerfile's RUN steps call.
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd")
BASE_SUITE = "bookworm"
#: Image flavour -> pip extras installed. ``api`` serves the API and the worker (no torch).
FLAVOURS = {"api": "api", "ml": "service"}
#: Bumped whenever a recipe below changes in a way its inputs do not show.
_RECIPE = "3"


@dataclass(frozen=True)
class BuiltImage:
    """An image reference, the OCI archive that holds it, and whether this call built it."""

    ref: str
    archive: Path
    built: bool
    seconds: float

    @property
    def size_bytes(self) -> int:
        return self.archive.stat().st_size


class ImageBuilder:
    """Build (or find cached) images; ``log`` receives one line per step."""

    def __init__(
        self,
        tools: NodeTools,
        repo_root: Path,
        *,
        cache: Path | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.tools = tools
        self.repo_root = repo_root
        self.cache = cache or versions.cache_dir()
        self.images_dir = self.cache / "images"
        self.log = log or (lambda _msg: None)

    # -- public -----------------------------------------------------------------------------

    def pause(self) -> BuiltImage:
        """The sandbox image: busybox-static running ``sleep``, tagged as containerd expects."""
        key = _hash([_RECIPE, "pause", _file_digest(self.tools.busybox)])
        return self._cached("pause", key, PAUSE_IMAGE, self._build_pause)

    def base(self) -> BuiltImage:
        """Debian ``bookworm`` minbase with Python 3.11, from Debian packages only."""
        key = _hash([_RECIPE, "base", BASE_SUITE, *BASE_PACKAGES])
        ref = f"localhost/aqua/python:{BASE_SUITE}-{key[:12]}"
        return self._cached("base", key, ref, self._build_base)

    def service(self, flavour: str) -> BuiltImage:
        """The service image of ``flavour`` (``api``: API and worker; ``ml``: with torch)."""
        if flavour not in FLAVOURS:
            raise UsageError(f"unknown image flavour {flavour!r}: choose one of {sorted(FLAVOURS)}")
        base = self.base()
        key = _hash([_RECIPE, "service", flavour, base.ref, *self._context_digests()])
        ref = f"localhost/aqua/service-{flavour}:{key[:12]}"

        def build(ref: str, archive: Path) -> None:
            self._ensure_in_storage(base)
            self._buildah(
                "bud",
                *_pip_passthrough(),
                "--layers",
                "--isolation",
                "chroot",
                "--network",
                "host",
                "--build-arg",
                f"PYTHON_IMAGE={base.ref}",
                "--build-arg",
                f"EXTRAS={FLAVOURS[flavour]}",
                "--ignorefile",
                str(self.repo_root / "manifests" / "docker" / "Dockerfile.dockerignore"),
                "-f",
                str(self.repo_root / "manifests" / "docker" / "Dockerfile"),
                "-t",
                ref,
                str(self.repo_root),
                timeout=3600,
            )
            self._push(ref, archive)

        return self._cached(f"service-{flavour}", key, ref, build)

    # -- building ---------------------------------------------------------------------------

    def _cached(
        self, name: str, key: str, ref: str, build: Callable[[str, Path], None]
    ) -> BuiltImage:
        archive = self.images_dir / f"{name}-{key[:16]}.oci.tar"
        if archive.is_file():
            self.log(f"image {ref}: cached ({archive.stat().st_size / 2**20:.0f} MiB)")
            return BuiltImage(ref, archive, built=False, seconds=0.0)
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.log(f"image {ref}: building")
        t0 = time.monotonic()
        partial = archive.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build(ref, partial)
        partial.rename(archive)
        # Older builds of the same image are superseded: keep the cache from growing.
        for old in self.images_dir.glob(f"{name}-*.oci.tar"):
            if old != archive:
                old.unlink(missing_ok=True)
        seconds = time.monotonic() - t0
        self.log(
            f"image {ref}: built in {seconds:.0f} s ({archive.stat().st_size / 2**20:.0f} MiB)"
        )
        return BuiltImage(ref, archive, built=True, seconds=seconds)

    def _build_pause(self, ref: str, archive: Path) -> None:
        self._from_scratch(
            ref,
            ("copy", str(self.tools.busybox), "/busybox"),
            [
                "--entrypoint",
                '["/busybox", "sleep", "2147483647"]',
                "--cmd",
                "",
                "--user",
                "65535:65535",
            ],
        )
        self._push(ref, archive)

    def _from_scratch(self, ref: str, content: tuple[str, str, str], config: list[str]) -> None:
        """Commit ``ref``: empty, one ``buildah copy|add`` of ``content``, then ``config``."""
        verb, source, dest = content
        ctr = self._buildah("from", "scratch").strip()
        try:
            self._buildah(verb, ctr, source, dest)
            self._buildah("config", *config, ctr)
            self._buildah("commit", ctr, ref)
        finally:
            self._buildah("rm", ctr, check=False)

    def _build_base(self, ref: str, archive: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="aqua-base-") as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            self._run(
                [
                    str(self.tools.mmdebstrap),
                    "--variant=minbase",
                    "--include=" + ",".join(BASE_PACKAGES),
                    # No documentation or apt lists in the image.
                    "--dpkgopt=path-exclude=/usr/share/doc/*",
                    "--dpkgopt=path-exclude=/usr/share/man/*",
                    "--dpkgopt=path-exclude=/usr/share/locale/*",
                    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
                    BASE_SUITE,
                    str(rootfs),
                ],
                timeout=1800,
            )
            self._from_scratch(
                ref,
                ("add", str(rootfs), "/"),
                [
                    "--env",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--cmd",
                    '["python3"]',
                ],
            )
        self._push(ref, archive)

    def _ensure_in_storage(self, image: BuiltImage) -> None:
        if self._buildah("images", "-q", image.ref, check=False).strip():
            return
        self._buildah("pull", f"oci-archive:{image.archive}")

    def _push(self, ref: str, archive: Path) -> None:
        self._buildah("push", ref, f"oci-archive:{archive}:{ref}")

    def _context_digests(self) -> list[str]:
        """Digests of every file the Dockerfile's build context sends (its .dockerignore)."""
        root = self.repo_root
        files = [root / "pyproject.toml", root / "README.md"]
        files += [root / "manifests" / "docker" / "Dockerfile"]
        files += [root / "manifests" / "docker" / "requirements.py"]
        for top in ("sre_cli", "service"):
            files += sorted(
                p
                for p in (root / top).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            )
        return [f"{p.relative_to(root)}:{_file_digest(p)}" for p in files if p.exists()]

    def _buildah(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        storage = self.cache / "buildah"
        argv = [
            str(self.tools.buildah),
            "--root",
            str(storage / "storage"),
            "--runroot",
            str(storage / "run"),
            "--storage-driver",
            os.environ.get("AQUA_BUILDAH_DRIVER", "overlay"),
            *args,
        ]
        return self._run(argv, check=check, timeout=timeout)

    def _run(self, argv: list[str], *, check: bool = True, timeout: float = 600) -> str:
        env = {
            **os.environ,
            "BUILDAH_LAYERS": "true",
            "TMPDIR": str(self.cache / "buildah" / "tmp"),
        }
        (self.cache / "buildah" / "tmp").mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
        if check and out.returncode != 0:
            tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-25:])
            raise ComponentError(f"`{' '.join(argv[:8])} ...` failed ({out.returncode}):\n{tail}")
        return out.stdout


def _pip_passthrough() -> list[str]:
    """Build flags handing this machine's pip index and CA bundle to the build's RUN steps.

    Only for the build: the CA file is a volume (never in a layer), and neither changes the
    image's content hash.
    """
    flags: list[str] = []
    index = os.environ.get("PIP_INDEX_URL")
    if index:
        flags += ["--build-arg", f"PIP_INDEX_URL={index}"]
    ca = os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE")
    if ca and Path(ca).is_file():
        flags += ["--volume", f"{ca}:/run/aqua-build-ca.crt:ro"]
        flags += ["--build-arg", "PIP_CERT=/run/aqua-build-ca.crt"]
    return flags


def _file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _hash(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``python -m sre_cli.cluster.images [--ml]``: build or find every image ``aqua cluster
    up`` needs, one line per image (used by ``scripts/build-images``)."""
    import argparse
    import sys

    from sre_cli.cluster.tools import find_node_tools

    parser = argparse.ArgumentParser(prog="python -m sre_cli.cluster.images")
    parser.add_argument("--ml", action="store_true", help="also the ML image (torch + CUDA)")
    args = parser.parse_args(argv)
    builder = ImageBuilder(
        find_node_tools(), Path(__file__).resolve().parents[2], log=lambda m: print(m, flush=True)
    )
    images = [builder.pause(), builder.base(), builder.service("api")]
    if args.ml:
        images.append(builder.service("ml"))
    for image in images:
        state = "built" if image.built else "cached"
        print(f"{image.ref}\t{state}\t{image.size_bytes / 2**20:.0f} MiB\t{image.archive}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
