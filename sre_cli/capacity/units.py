"""How capacity outputs write numbers and instants (shared by the table, charts and JSON)."""

from __future__ import annotations

__all__ = ["number"]


def number(value: float | None, signed: bool = False) -> str:
    """Compact: 3 significant digits, SI suffixes from 10 000 (1.23M, 45.6k)."""
    if value is None:
        return "—"
    sign = "+" if signed and value > 0 else ""
    size = abs(value)
    for threshold, divisor, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M")):
        if size >= threshold:
            return f"{sign}{value / divisor:.3g}{suffix}"
    if size >= 1e4:
        return f"{sign}{value / 1e3:.3g}k"
    if size >= 100 or value == 0:
        return f"{sign}{value:.0f}"
    return f"{sign}{value:.3g}"
