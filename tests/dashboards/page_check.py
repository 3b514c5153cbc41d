"""What a dashboards page drew, read back from its HTML: each panel's title and state."""

from __future__ import annotations

import re

__all__ = ["figures", "undrawn"]

_FIGURE = re.compile(r"<figure class='panel (\w+)' data-kind='\w+'[^>]*><h3>([^<]*)</h3>")


def figures(text: str) -> list[tuple[str, str]]:
    """(state, title) of every panel: state ``data``, ``nodata`` or ``error``."""
    return [(state, title) for state, title in _FIGURE.findall(text)]


def undrawn(text: str) -> dict[str, str]:
    """Every panel of a page that is not drawn: title -> its state (nodata or error)."""
    return {title: state for state, title in figures(text) if state != "data"}
