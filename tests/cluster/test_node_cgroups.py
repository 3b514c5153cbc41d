"""The node teardown's cgroup walk, on a directory tree the test owns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sre_cli.cluster import node


def test_walk_finds_every_procs_file_and_every_directory(tmp_path: Path) -> None:
    for rel in ("kubepods/burstable/pod1/c1", "kubepods/besteffort/pod2/c2"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "cgroup.procs").write_text("")
    procs = node._walk_cgroup(tmp_path, "cgroup.procs")
    assert sorted(p.parent.name for p in procs) == ["c1", "c2"]
    dirs = node._walk_cgroup(tmp_path, None)
    assert len(dirs) == 7  # kubepods, 2 QoS classes, 2 pods, 2 containers


def test_a_directory_that_vanishes_mid_walk_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod exiting during teardown removes its cgroup while it is being walked."""
    for name in ("pod-a", "pod-b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "cgroup.procs").write_text("")
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if Path(path).name == "pod-a":
            (tmp_path / "pod-a" / "cgroup.procs").unlink()
            (tmp_path / "pod-a").rmdir()
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    procs = node._walk_cgroup(tmp_path, "cgroup.procs")
    assert [p.parent.name for p in procs] == ["pod-b"]
