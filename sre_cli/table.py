"""Tables that read at any width, from 80 columns (a pipe, a CI log) up.

rich shrinks a table that is too wide by folding or ellipsizing cells: a runbook title split
mid-word, an SLO name cut until two look alike. A :class:`FitTable` never does that. Each
column is either *whole* (a name, a path, a number: never wrapped, never cut) or *prose*
(wraps between words). At a given width it takes the first layout that fits:

1. the rich table as it is, when every cell fits at its natural width;
2. the rich table with prose columns wrapped between words;
3. *stacked*: the leading columns that fit stay on the row's line, each other column goes on
   a line of its own under the row (``    header: value``), so nothing is dropped or cut::

    table = FitTable(title="runbooks")
    table.add_column("name")
    table.add_column("title", wrap=True)
    table.add_row("kafka-consumer-lag", "Kafka consumer lag is growing")
    console.print(table)

A cell holds one or more lines (``"a\\nb"``); a whole value longer than the console is
printed whole on its own line, the one case a line may pass the width.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.table import Table

__all__ = ["FitTable", "Words", "wrap_words"]

_GAP = 2  # spaces between the columns of a stacked row
_INDENT = 4  # indent of a stacked column's line
_OUTSIDE = {"title", "title_style", "title_justify", "caption"}  # drawn around the table


@dataclass
class _Column:
    header: str
    justify: Literal["left", "right"]
    style: str | None
    wrap: bool


def wrap_words(text: Text, width: int, indent: int = 0, hang: int = 0) -> Text:
    """``text`` broken between words to fit ``width`` columns, each line ``indent`` columns
    in (every line after the first ``hang`` more). Unlike rich, a word longer than a line (a
    path) is never folded: it stands whole on a line of its own, the one line wider than
    ``width``. Line breaks in ``text`` are kept."""
    lines: list[Text] = []
    for part in text.split("\n", allow_blank=True):
        start = 0
        for word in re.finditer(r"\S+", part.plain):
            room = width - indent - (hang if lines else 0)
            if word.end() - start > room and part.plain[start : word.start()].strip():
                lines.append(part[start : word.start()])
                start = word.start()
        lines.append(part[start:])
    out = Text(no_wrap=True, overflow="ignore")
    for n, line in enumerate(lines):
        line.rstrip()
        if n:
            out.append("\n")
        out.append(" " * (indent + (hang if n else 0)))
        out.append_text(line)
    return out


class Words:
    """Prose that wraps between words at the console's width and never folds a word: a
    path longer than the line stands whole on a line of its own (see :func:`wrap_words`)."""

    def __init__(self, text: str | Text) -> None:
        self.text = _text(text)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        yield wrap_words(self.text, options.max_width)


def _text(cell: str | Text) -> Text:
    return cell.copy() if isinstance(cell, Text) else Text(cell)


def _width(text: Text) -> int:
    return max((line.cell_len for line in text.split("\n", allow_blank=True)), default=0)


def _longest_word(text: Text) -> int:
    return max((len(word) for word in text.plain.split()), default=0)


class FitTable:
    """A table of whole and prose columns that keeps every value whole at any width;
    ``table_options`` (title, caption, box, …) go to the rich Table it draws when it fits."""

    def __init__(self, *headers: str, **table_options: Any) -> None:
        self.columns: list[_Column] = []
        self.rows: list[list[Text]] = []
        self.options = table_options
        for header in headers:
            self.add_column(header)

    def add_column(
        self,
        header: str,
        *,
        justify: Literal["left", "right"] = "left",
        style: str | None = None,
        wrap: bool = False,
    ) -> None:
        """``wrap``: prose that may wrap between words; otherwise the value stays whole."""
        self.columns.append(_Column(header, justify, style, wrap))

    def add_row(self, *cells: str | Text) -> None:
        self.rows.append([_text(c) for c in cells])

    # --- layout ---------------------------------------------------------------------------

    def _natural(self, index: int) -> int:
        cells = [Text(self.columns[index].header), *(row[index] for row in self.rows)]
        return max(_width(c) for c in cells)

    def _least(self, index: int) -> int:
        if not self.columns[index].wrap:
            return self._natural(index)
        cells = [Text(self.columns[index].header), *(row[index] for row in self.rows)]
        return max(1, *(_longest_word(c) for c in cells))

    def _rich(self, widths: list[int] | None) -> Table:
        from rich.table import Table

        frame = {k: v for k, v in self.options.items() if k not in _OUTSIDE}
        table = Table(**frame)
        for i, col in enumerate(self.columns):
            table.add_column(
                col.header,
                justify=col.justify,
                style=col.style or "",
                no_wrap=not col.wrap,
                overflow="fold" if col.wrap else "ignore",
                width=None if widths is None else widths[i],
            )
        for row in self.rows:
            table.add_row(*row)
        return table

    def _overhead(self, console: Console, options: ConsoleOptions) -> int:
        """Borders and padding of the rich table: its width less its columns' widths."""
        from rich.measure import Measurement
        from rich.table import Table

        frame = {k: v for k, v in self.options.items() if k not in _OUTSIDE}
        probe = Table(**frame, show_header=False)
        for _ in self.columns:
            probe.add_column(width=1)
        wide = options.update_width(10_000)
        return Measurement.get(console, wide, probe).maximum - len(self.columns)

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        if not self.columns:
            return
        title, caption = self.options.get("title"), self.options.get("caption")
        width = options.max_width
        if title:  # above the table, not in it: a path in a title stays whole
            style = self.options.get("title_style") or "table.title"
            yield wrap_words(Text(str(title), style=style), width)
        yield from self._body(console, options)
        if caption:
            yield wrap_words(Text(str(caption), style="table.caption"), width)

    def _body(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        width = options.max_width
        natural = [self._natural(i) for i in range(len(self.columns))]
        least = [self._least(i) for i in range(len(self.columns))]
        overhead = self._overhead(console, options)
        if sum(natural) + overhead <= width:
            yield self._rich(None)
        elif sum(least) + overhead <= width:
            yield self._rich(self._share(natural, least, width - overhead))
        else:
            yield from self._stacked(console, natural, width)

    def _share(self, natural: list[int], least: list[int], room: int) -> list[int]:
        """Prose columns get their longest word, then the room left in proportion to what
        more they would take; whole columns their natural width."""
        widths = list(least)
        spare = room - sum(least)
        wants = [n - m for n, m in zip(natural, least, strict=True)]
        total = sum(wants) or 1
        for i, want in enumerate(wants):
            widths[i] += min(want, spare * want // total)
        leftover = room - sum(widths)
        for i in range(len(widths)):  # rounding: the first prose columns take the rest
            extra = min(leftover, natural[i] - widths[i])
            widths[i] += extra
            leftover -= extra
        return widths

    def _stacked(
        self, console: Console, natural: list[int], width: int
    ) -> Iterator[RenderableType]:
        kept = [0]
        used = natural[0]
        for i in range(1, len(self.columns)):
            if not self.columns[i].wrap and used + _GAP + natural[i] <= width:
                kept.append(i)
                used += _GAP + natural[i]
        yield self._line([Text(self.columns[i].header) for i in kept], kept, natural, "bold")
        for row in self.rows:
            yield self._line([row[i] for i in kept], kept, natural, None)
            for i, col in enumerate(self.columns):
                if i in kept:
                    continue
                label = Text(f"{col.header}: ", style="dim")
                value = row[i]
                fits = _INDENT + label.cell_len + _width(value) <= width
                if col.wrap or fits or "\n" in value.plain:
                    # Between words, continuation lines hanging two columns further in.
                    yield wrap_words(Text.assemble(label, value), width, _INDENT, 2)
                else:  # a long whole value: the label, then the value whole on its own line
                    yield Text(" " * _INDENT + label.plain.rstrip(), style="dim")
                    line = Text(" " * (_INDENT + 2)) + value
                    line.no_wrap, line.overflow = True, "ignore"
                    yield line

    def _line(
        self, cells: list[Text], kept: list[int], natural: list[int], style: str | None
    ) -> Text:
        """The kept cells side by side (a cell of several lines makes several lines)."""
        split = [c.split("\n", allow_blank=True) for c in cells]
        height = max(len(s) for s in split)
        out = Text(style=style or "", no_wrap=True, overflow="ignore")
        for n in range(height):
            if n:
                out.append("\n")
            for pos, (i, lines) in enumerate(zip(kept, split, strict=True)):
                piece = lines[n].copy() if n < len(lines) else Text("")
                col = self.columns[i]
                if col.style and style is None:
                    piece.stylize(col.style)
                pad = " " * (natural[i] - piece.cell_len)
                last = pos == len(kept) - 1
                if col.justify == "right":
                    out.append(pad)
                    out.append_text(piece)
                else:
                    out.append_text(piece)
                    if not last:
                        out.append(pad)
                if not last:
                    out.append(" " * _GAP)
        out.rstrip()
        return out
