"""Where commands find their specs: ``$ENV``, then the current folder, then the shipped copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from sre_cli.defaults import editable_dir, root, shipped


@pytest.mark.parametrize("name", ["slo", "runbooks", "chaos"])
def test_editable_dir_prefers_env_then_the_current_folder_then_the_shipped_copy(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AQUA_TEST_SPECS", raising=False)
    assert editable_dir(name, "AQUA_TEST_SPECS") == root() / name
    (tmp_path / name).mkdir()
    assert editable_dir(name, "AQUA_TEST_SPECS") == Path(name)
    monkeypatch.setenv("AQUA_TEST_SPECS", "~/elsewhere")
    assert editable_dir(name, "AQUA_TEST_SPECS") == Path.home() / "elsewhere"
    assert editable_dir(name) == Path(name)  # no variable named: never read


def test_shipped_takes_the_env_override_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AQUA_TEST_FILE", raising=False)
    assert shipped("scripts/versions.env", "AQUA_TEST_FILE") == root() / "scripts/versions.env"
    monkeypatch.setenv("AQUA_TEST_FILE", "/nowhere/versions.env")
    assert shipped("scripts/versions.env", "AQUA_TEST_FILE") == Path("/nowhere/versions.env")
    monkeypatch.setenv("AQUA_TEST_FILE", "")
    assert shipped("scripts/versions.env", "AQUA_TEST_FILE") == root() / "scripts/versions.env"
