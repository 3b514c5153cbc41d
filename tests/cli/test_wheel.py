"""The wheel works outside a checkout: build it, install it into a fresh virtualenv, and run
aqua from a folder that is no checkout (``aqua --help``, ``init``, ``slo validate``,
``runbook list``, ``doctor``).

The build runs offline (``--no-build-isolation``, this interpreter's setuptools) from a copy
of the files a wheel is built from, so nothing is written into the checkout. The fresh venv
gets the wheel alone (``--no-deps``) and reaches the dependencies through a ``.pth`` line
naming this interpreter's site-packages; a ``.pth`` file there is not processed, so the
checkout's editable install stays out of sight and ``sre_cli`` comes from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sre_cli.defaults import SHIPPED

ROOT = Path(__file__).resolve().parents[2]
#: What the build reads besides the shipped files.
SOURCES = ("pyproject.toml", "README.md", "build_defaults.py", "sre_cli", "service")


def _copy_sources(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for relative in (*SOURCES, *SHIPPED):
        source, target = ROOT / relative, dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)


def _clean_env() -> dict[str, str]:
    """This environment without what points Python at the checkout or its settings."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AQUA_")}


def _run(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env=_clean_env() if env is None else env,
    )


class Installed:
    """A venv holding the built wheel; :meth:`aqua` runs its ``aqua`` in ``cwd``."""

    def __init__(self, venv: Path, cwd: Path) -> None:
        self.venv = venv
        self.cwd = cwd
        self.env = {
            **_clean_env(),
            "COLUMNS": "100",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "HOME": str(cwd / "home"),
        }

    def aqua(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return _run([str(self.venv / "bin" / "aqua"), *args], cwd=self.cwd, env={**self.env, **env})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    _copy_sources(tmp / "src")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp / "dist"), str(tmp / "src")],
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    wheel = next((tmp / "dist").glob("aqua_sre-*.whl"))
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # Installed before the .pth exists, so pip sees no aqua_sre but the venv's own.
    done = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    (Path(purelib.stdout.strip()) / "shared-deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    work = tmp / "work"
    work.mkdir()
    return Installed(venv, work)


#: What ``aqua stack up`` and the load engine read besides the specs, as the code finds them.
WHERE = """
import sre_cli
from sre_cli.infra.versions import versions_file
from sre_cli.loadtest.native import SOURCE
from sre_cli.stack.configs import monitoring_dir
print(sre_cli.__file__)
print(monitoring_dir() / "rules" / "alerts.yml")
print(monitoring_dir() / "alertmanager.yml")
print(versions_file())
print(SOURCE / "main.go")
"""


def test_sre_cli_and_its_files_come_from_the_wheel(installed: Installed) -> None:
    where = _run(
        [str(installed.venv / "bin" / "python"), "-c", WHERE], cwd=installed.cwd, env=installed.env
    )
    assert where.returncode == 0, where.stderr
    paths = where.stdout.split()
    assert len(paths) == 5
    for path in paths:
        assert path.startswith(str(installed.venv)), path
        assert Path(path).is_file(), path


def test_help_lists_init(installed: Installed) -> None:
    done = installed.aqua("--help")
    assert done.returncode == 0, done.stderr
    assert "init" in done.stdout
    assert "doctor" in done.stdout


def test_init_copies_the_editable_defaults_and_never_overwrites(installed: Installed) -> None:
    target = installed.cwd / "mine"
    dry = installed.aqua("init", str(target), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would write {target}/slo/api.yaml" in dry.stdout
    assert not target.exists()

    done = installed.aqua("init", str(target))
    assert done.returncode == 0, done.stderr
    for name in ("slo/api.yaml", "runbooks/api-down.md", "chaos/api-pod-loss.yaml"):
        assert (target / name).read_bytes() == (ROOT / name).read_bytes()

    (target / "slo" / "api.yaml").write_text("# edited\n")
    again = installed.aqua("init", str(target))
    assert again.returncode == 2
    assert "--force" in again.stderr
    assert (target / "slo" / "api.yaml").read_text() == "# edited\n"
    forced = installed.aqua("init", str(target), "--force", "--format", "json")
    assert forced.returncode == 0, forced.stderr
    actions = {f["path"]: f["action"] for f in json.loads(forced.stdout)["files"]}
    assert actions["slo/api.yaml"] == "overwrite"
    assert (target / "slo" / "api.yaml").read_bytes() == (ROOT / "slo/api.yaml").read_bytes()


def test_slo_validate_reads_the_copied_specs(installed: Installed) -> None:
    target = installed.cwd / "validated"
    assert installed.aqua("init", str(target)).returncode == 0
    specs = sorted(str(p) for p in (target / "slo").glob("*.yaml"))
    done = installed.aqua("slo", "validate", *specs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SLO(s) valid" in done.stdout


def test_runbook_list_finds_the_shipped_runbooks(installed: Installed) -> None:
    done = installed.aqua("runbook", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    names = {r["name"] for r in json.loads(done.stdout)["runbooks"]}
    assert {"api-down", "latency-spike"} <= names


def test_doctor_hints_work_from_the_wheel(installed: Installed) -> None:
    # An empty cache: what the build scripts make is missing, so doctor must say how to get it.
    empty = installed.cwd / "empty-cache"
    empty.mkdir(exist_ok=True)
    done = installed.aqua("doctor", "--format", "json", AQUA_CACHE=str(empty))
    assert done.returncode == 1, done.stderr
    components = json.loads(done.stdout)["components"]
    by_name = {c["name"]: c for c in components}
    shipped = installed.venv / "lib"
    for name, script in (
        ("kafka", "fetch-kafka"),
        ("jaeger", "build-jaeger"),
        ("toxiproxy", "build-toxiproxy"),
    ):
        assert by_name[name]["status"] == "missing"
        assert f"/sre_cli/defaults/scripts/{script} " in by_name[name]["hint"]
        assert by_name[name]["hint"].startswith(f"run {shipped}")
    for c in components:
        hint = c["hint"] or ""
        assert "run: run" not in hint
        # A script is named by its path in the installation, and it is there to run.
        for word in hint.replace("(", " ").split():
            if "scripts/" in word:
                assert word.startswith(str(installed.venv)), (c["name"], hint)
                assert os.access(word, os.X_OK), (c["name"], word)
