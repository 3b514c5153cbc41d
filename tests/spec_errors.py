"""How a spec file is refused, checked the one way: the file, the line and the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sre_cli.errors import SpecError


def assert_refused(load: Callable[[Path], object], path: Path, line: int, words: str) -> SpecError:
    """``load(path)`` raises :class:`SpecError` for ``path`` at ``line``, its message starting
    with ``path:line:`` and holding ``words``; returns the error for further checks."""
    with pytest.raises(SpecError) as caught:
        load(path)
    err = caught.value
    assert err.path == str(path)
    assert err.line == line, err.message
    assert err.message.startswith(f"{path}:{line}: "), err.message
    assert words in err.message
    return err
