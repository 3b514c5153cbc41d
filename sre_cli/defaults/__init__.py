"""Where the reference stack's files are, in a checkout or in an installed wheel.

The SLO specs, runbooks, chaos experiments, monitoring manifests and pinned versions live once,
at the top of the repository. A wheel carries copies of them in this package's folder (the
build copies them, see ``build_defaults.py``), so aqua finds them without a checkout::

    >>> shipped("slo")                 # <checkout>/slo, or .../site-packages/sre_cli/defaults/slo
    >>> shipped("scripts/versions.env")

``aqua init DIR`` copies the editable ones (:data:`EDITABLE`) into a user's repository.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sre_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType

__all__ = [
    "EDITABLE",
    "SHIPPED",
    "Copy",
    "InitPlan",
    "editable_dir",
    "plan_init",
    "root",
    "script",
    "shipped",
]

#: What a wheel carries, by its path in the repository: the editable specs, the monitoring
#: manifests ``aqua stack up`` starts from, the pinned versions, and the scripts that fetch or
#: build the components Debian does not package (doctor's hints name them by their path).
SHIPPED: tuple[str, ...] = (
    "slo",
    "runbooks",
    "chaos",
    "manifests/monitoring",
    "scripts/versions.env",
    *(f"scripts/{name}" for name in ("fetch-kafka", "build-jaeger", "build-k8s", "build-addons")),
    "scripts/build-toxiproxy",
    "scripts/build-loadgen",
)
#: What ``aqua init`` copies for a user to edit; the commands read ``./slo``, ``./runbooks`` and
#: ``./chaos`` of the folder they run in.
EDITABLE: tuple[str, ...] = ("slo", "runbooks", "chaos")

_PACKAGED = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGED.parents[1]


def root() -> Path:
    """The folder the :data:`SHIPPED` paths are relative to: the wheel's copy, else the
    checkout this package is imported from."""
    return _PACKAGED if (_PACKAGED / "slo").is_dir() else _CHECKOUT


def script(name: str) -> str:
    """The path of the shipped build script ``scripts/<name>``, as a hint spells it: it is
    where this installation keeps it, a wheel's copy or the checkout's."""
    return str(root() / "scripts" / name)


def shipped(relative: str, env: str | None = None) -> Path:
    """The shipped file or folder ``relative`` (one of :data:`SHIPPED`, or a path below one),
    or ``$env`` when that variable is set; :class:`ConfigError` when this installation lacks it."""
    override = os.environ.get(env) if env else None
    if override:
        return Path(override)
    path = root() / relative
    if not path.exists():
        raise ConfigError(
            f"{relative} is not part of this installation (looked in {root()})",
            hint="install aqua from a wheel built from the repository (README: Install)",
        )
    return path


def editable_dir(name: str, env: str | None = None) -> Path:
    """The folder of editable specs ``name`` (one of :data:`EDITABLE`) a command reads:
    ``$env`` when that variable is set, else ``./name`` of the current folder, else the
    shipped copy."""
    if env and os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    here = Path(name)
    return here if here.is_dir() else shipped(name)


@dataclass(frozen=True)
class Copy:
    """One file ``aqua init`` writes: ``relative`` to the shipped root and to the target."""

    relative: str
    source: Path
    action: Literal["create", "overwrite"]


@dataclass(frozen=True)
class InitPlan:
    """What ``aqua init DIR`` writes (or, with ``dry_run``, would write)."""

    directory: Path
    copies: tuple[Copy, ...]
    dry_run: bool = False
    force: bool = False

    @property
    def existing(self) -> list[str]:
        return [c.relative for c in self.copies if c.action == "overwrite"]

    def write(self) -> None:
        for copy in self.copies:
            target = self.directory / copy.relative
            if target.exists() and target.resolve() == copy.source.resolve():
                continue  # init into the checkout itself: the file is its own source
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(copy.source, target)

    def to_json(self) -> dict[str, object]:
        return {
            "directory": str(self.directory),
            "dry_run": self.dry_run,
            "force": self.force,
            "files": [{"path": c.relative, "action": c.action} for c in self.copies],
        }

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        from rich.text import Text

        verb = (
            {"create": "would write", "overwrite": "would overwrite"}
            if self.dry_run
            else {
                "create": "wrote",
                "overwrite": "overwrote",
            }
        )
        for copy in self.copies:
            yield Text(f"{verb[copy.action]} {self.directory / copy.relative}")
        if self.dry_run and self.existing and not self.force:
            yield Text(f"{len(self.existing)} file(s) exist: without --force, init writes nothing")
        if not self.dry_run:
            yield Text(
                f"run aqua in {self.directory}: slo, runbook and chaos commands read its "
                "slo/, runbooks/ and chaos/"
            )


def plan_init(directory: Path, *, force: bool = False, dry_run: bool = False) -> InitPlan:
    """The files of :data:`EDITABLE` to copy into ``directory``; a :class:`UsageError` names
    the files that exist unless ``force`` (or ``dry_run``, which only lists them)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder")
    copies: list[Copy] = []
    for top in EDITABLE:
        source = shipped(top)
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            if "__pycache__" in file.parts:
                continue
            relative = file.relative_to(root()).as_posix()
            exists = (directory / relative).exists()
            copies.append(Copy(relative, file, "overwrite" if exists else "create"))
    plan = InitPlan(directory, tuple(copies), dry_run, force)
    if plan.existing and not (force or dry_run):
        shown = ", ".join(plan.existing[:5]) + (" ..." if len(plan.existing) > 5 else "")
        raise UsageError(
            f"{len(plan.existing)} file(s) already exist in {directory}: {shown}",
            hint="--force overwrites them; --dry-run lists every file first",
        )
    return plan
