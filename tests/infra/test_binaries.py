"""Binary lookup, versions, pinned versions, and the harness's skip-or-fail rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from infra_harness import require_binary

from sre_cli import defaults
from sre_cli.errors import ConfigError, MissingDependency
from sre_cli.infra import binaries, versions


@pytest.fixture
def ghost_binary(monkeypatch: pytest.MonkeyPatch) -> str:
    """A binary spec whose every candidate path is absent."""
    spec = binaries._Spec("ghost-package", ("/nonexistent/ghostd", "aqua-no-such-ghostd"))
    monkeypatch.setitem(binaries._SPECS, "ghostd", spec)
    binaries.find.cache_clear()
    return "ghostd"


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("postgres", r"^\d+\.\d+$"),
        ("prometheus", r"^\d+\.\d+\.\d+$"),
        ("alertmanager", r"^0\.\d+\.\d+$"),
        ("nginx", r"^1\.\d+\.\d+$"),
        ("redis-server", r"^\d+\.\d+\.\d+$"),
        ("java", r"^\d+"),
    ],
)
def test_installed_binaries_report_versions(name: str, pattern: str) -> None:
    path = require_binary(name)
    assert path.is_absolute()
    assert path.is_file()
    described = binaries.describe(name)
    assert described.path == path
    assert re.match(pattern, described.version), described.version


def test_postgres_server_tools_come_from_the_versioned_bin_dir() -> None:
    path = require_binary("initdb")
    assert re.fullmatch(r"/usr/lib/postgresql/\d+/bin/initdb", str(path))


def test_alertmanager_alias() -> None:
    assert require_binary("prometheus-alertmanager") == require_binary("alertmanager")


def test_missing_binary_raises_with_provisioning_hint(ghost_binary: str) -> None:
    with pytest.raises(MissingDependency) as caught:
        binaries.find(ghost_binary)
    assert caught.value.exit_code == 2
    assert caught.value.hint is not None
    assert caught.value.hint == (
        "install the Debian package ghost-package: apt-get install ghost-package"
    )


def test_unknown_binary_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown binary"):
        binaries.find("definitely-not-a-server")


def test_require_binary_fails_under_ci(ghost_binary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"ghostd not found.*apt-get install ghost"):
        require_binary(ghost_binary)


def test_require_binary_skips_outside_ci(
    ghost_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install ghost-package"):
        require_binary(ghost_binary)


def test_versions_file_pins_kafka_4() -> None:
    assert re.fullmatch(r"4\.\d+\.\d+", versions.kafka_version())
    assert versions.kafka_libs_dir().name == "libs"
    assert versions.kafka_libs_dir().parent.name == f"kafka-{versions.kafka_version()}"


def test_versions_parse_and_reject_garbage(tmp_path: Path) -> None:
    good = tmp_path / "good.env"
    good.write_text("# comment\n\nA_VERSION=1.2.3\nB='x y'\n")
    assert versions.load(good) == {"A_VERSION": "1.2.3", "B": "x y"}
    assert versions.pinned("A_VERSION", good) == "1.2.3"
    with pytest.raises(ConfigError, match="C_VERSION is not pinned"):
        versions.pinned("C_VERSION", good)
    bad = tmp_path / "bad.env"
    bad.write_text("A_VERSION 1.2.3\n")
    with pytest.raises(ConfigError, match=r"bad.env:1: expected KEY=value"):
        versions.load(bad)


def test_kafka_libs_missing_names_fetch_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AQUA_CACHE", str(tmp_path))
    with pytest.raises(MissingDependency) as caught:
        binaries.kafka_libs()
    assert caught.value.hint is not None
    # The shipped script by its path in this installation, and what it needs.
    assert f"run {defaults.root()}/scripts/fetch-kafka " in caught.value.hint
    assert "apt-get install maven" in caught.value.hint
