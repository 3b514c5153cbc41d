"""How every command's ``--help`` and usage errors read: in words, never in Python's.

Typer labels values with Python types (``<str>``, ``<list[Path]>``), shortens each command's
summary to fit one line, and passes pydantic's messages through (``Value error, 'yaml' is not
one of 'table', 'json'``). :class:`AquaCommand` and :class:`AquaGroup`, which every group and
command of aqua uses (:class:`AquaTyper`), instead say::

    Usage: aqua runbook show [OPTIONS] NAME         (not {name})
    --from <text>         PATHS... <path>       --count <integer>
    validate  Check specs: errors with file and line, lints as warnings; --prometheus: live
              data too.                                   (the whole first sentence, wrapped)
    Error: --format must be table or json, not 'yaml'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import typer
from typer._click.exceptions import MissingParameter, UsageError  # typer's own click
from typer.core import TyperCommand, TyperGroup

__all__ = [
    "AquaCommand",
    "AquaGroup",
    "AquaTyper",
    "argument_name",
    "value_label",
    "worded_error",
]

#: Python's type names as a reader says them.
_LABELS = {
    "str": "text",
    "int": "integer",
    "int range": "integer",
    "float": "number",
    "float range": "number",
    "Path": "path",
    "bool": "yes|no",
}
_LABEL = re.compile(r"<([^<>]+)>")
_LIST = re.compile(r"^list\[(.+)\]$")


def value_label(label: str) -> str:
    """``str`` -> ``text``, ``list[Path]`` -> ``path`` (the name says it repeats); choices
    (``table|json``) stay as they are."""
    inner = _LIST.match(label)
    if inner:
        label = inner.group(1)
    return _LABELS.get(label, label)


def _worded_term(term: str) -> str:
    return _LABEL.sub(lambda m: f"<{value_label(m.group(1))}>", term)


def argument_name(name: str) -> str:
    """An argument as usage lines spell it: ``NAME``, never ``{name}``."""
    return name.upper()


def _usage_piece(piece: str) -> str:
    """``{name}`` -> ``NAME``, ``[paths]...`` -> ``[PATHS]...``; options stay."""
    found = re.fullmatch(r"\{([\w-]+)\}(\.\.\.)?|\[([\w-]+)\](\.\.\.)?", piece)
    if not found:
        return piece
    required, req_more, optional, opt_more = found.groups()
    if required:
        return argument_name(required) + (req_more or "")
    return f"[{argument_name(optional)}]" + (opt_more or "")


class _Formatter:
    """A help formatter whose definition lists say value types in words and whose
    arguments are spelled as the usage line spells them."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._section = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _term(self, term: str) -> str:
        if self._section == "Arguments":
            name, _, rest = term.partition(" ")
            term = f"{argument_name(name)} {rest}".rstrip()
        return _worded_term(term)

    def write_dl(self, rows: Sequence[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        self._inner.write_dl([(self._term(t), h) for t, h in rows], *args, **kwargs)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        self._section = name
        with self._inner.section(name):
            yield
        self._section = ""


def _choices(param: Any) -> list[str]:
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None) or ()
    return [str(getattr(c, "value", c)) for c in choices]


def _one_of(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def worded_error(exc: typer.BadParameter) -> str:
    """The message of a bad value, in words: ``--format must be table or json, not 'yaml'``."""
    param = exc.param
    opts = sorted(getattr(param, "opts", None) or [], key=len, reverse=True)
    name = opts[0] if opts else str(getattr(param, "human_readable_name", "the argument"))
    message = exc.message.strip().removeprefix("Value error, ")
    choice = re.match(r"'(.*)' is not one of ", message, flags=re.S)
    if choice and _choices(param):
        return f"{name} must be {_one_of(_choices(param))}, not {choice.group(1)!r}"
    for pattern, words in (
        (r"Input should be a valid integer.*", "a whole number"),
        (r"Input should be a valid number.*", "a number"),
        (r"Input should be a valid boolean.*", "yes or no"),
        (r"Input should be greater than or equal to (\S+)", "at least {0}"),
        (r"Input should be less than or equal to (\S+)", "at most {0}"),
        (r"Input should be greater than (\S+)", "more than {0}"),
        (r"Input should be less than (\S+)", "less than {0}"),
    ):
        found = re.match(pattern, message, flags=re.S)
        if found:
            return f"{name} must be {words.format(*found.groups())}"
    message = re.sub(r"^Input should be ", "must be ", message).rstrip(".")
    return f"{name}: {message}" if not message.startswith("must") else f"{name} {message}"


def _parse_in_words(parse: Callable[[], list[str]]) -> list[str]:
    """Parse; a bad value becomes a usage error worded by :func:`worded_error` (click still
    prints the usage line and where to find help above it)."""
    try:
        return parse()
    except MissingParameter as exc:
        if getattr(exc.param, "param_type_name", "") != "argument":
            raise  # "Missing option '--from'." says it already
        name = argument_name(str(exc.param.name if exc.param else "argument"))
        raise UsageError(f"Missing argument {name}.", exc.ctx) from None
    except typer.BadParameter as exc:
        raise UsageError(worded_error(exc), exc.ctx) from None


def _short_format(params: Sequence[Any], args: list[str]) -> list[str]:
    """``-f`` as a hidden alias of ``--format`` (slo, capacity and trace spelled it so) on a
    command that has ``--format`` and no ``-f`` of its own; ``--`` ends the options."""
    opts = {o for p in params for o in getattr(p, "opts", ())}
    if "--format" not in opts or "-f" in opts or "-f" not in "".join(args):
        return args
    fmt = next(p for p in params if "--format" in getattr(p, "opts", ()))
    joined = {f"-f{c}" for c in _choices(fmt)} | {f"-f={c}" for c in _choices(fmt)}
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            return out + args[index:]
        if arg == "-f":
            out.append("--format")
        elif arg in joined:  # -fjson, -f=json; any other -f... is left alone
            out.append("--format=" + arg[2:].removeprefix("="))
        else:
            out.append(arg)
    return out


class AquaCommand(TyperCommand):
    """A command whose help and usage errors read in words (module docstring); ``-f`` is a
    hidden alias of ``--format`` wherever ``-f`` means nothing else."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        super().format_options(ctx, cast(Any, _Formatter(formatter)))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_usage_piece(p) for p in super().collect_usage_pieces(ctx)]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = _short_format(self.get_params(ctx), args)
        return _parse_in_words(lambda: super(AquaCommand, self).parse_args(ctx, args))


class AquaGroup(TyperGroup):
    """A group like :class:`AquaCommand` whose command list gives each whole summary."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        super().format_options(ctx, cast(Any, _Formatter(formatter)))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_usage_piece(p) for p in super().collect_usage_pieces(ctx)]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return _parse_in_words(lambda: super(AquaGroup, self).parse_args(ctx, args))


class AquaTyper(typer.Typer):
    """A Typer app whose group and commands are :class:`AquaGroup` and :class:`AquaCommand`."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(cls=AquaGroup, **settings)

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or AquaCommand, **kwargs)
