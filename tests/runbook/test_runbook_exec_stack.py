"""The ``exec`` step kind on the stack, against the stack's own PostgreSQL (started as ``aqua
stack up`` starts it): psql finds it through the component, reads, and cannot write."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from stack.stack_harness import postgres_only_stack

from sre_cli.ops.context import RunContext, TargetOptions, open_context
from sre_cli.ops.operations import ExecOp
from sre_cli.stack.spec import StateLayout

pytestmark = pytest.mark.integration

ACTIVITY = 'psql -XAt -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"'


def exec_op(command: str, **more: object) -> ExecOp:
    return ExecOp.model_validate({"command": command, "component": "postgres", **more})


@pytest.fixture(scope="module")
def layout(tmp_workdir: Path) -> Iterator[StateLayout]:
    yield from postgres_only_stack(Path(tempfile.mkdtemp(prefix="exec-", dir=tmp_workdir)))


@pytest.fixture
def ctx(layout: StateLayout) -> Iterator[RunContext]:
    ctx = open_context(TargetOptions("stack", state_dir=layout.root))
    yield ctx
    ctx.close()


def test_psql_reads_the_stacks_postgresql(ctx: RunContext) -> None:
    seen = ctx.observe(exec_op(ACTIVITY))
    assert seen.summary == (
        "`psql -XAt -c 'SELECT count(*) FROM pg_stat_activity WHERE datname = "
        "current_database()'` in postgres exited 0"
    )
    # psql's own session is one of them: the query ran in the stack's database
    (count,) = seen.details
    assert int(count) >= 1


def test_psql_cannot_write_through_a_read_only_step(ctx: RunContext) -> None:
    write = 'psql -X -c "CREATE TABLE public.sneaky (id int)"'
    seen = ctx.observe(exec_op(write))
    assert seen.summary.endswith("in postgres exited 1")
    assert any("cannot execute CREATE TABLE in a read-only transaction" in d for d in seen.details)
    check = "psql -XAt -c \"SELECT count(*) FROM pg_tables WHERE tablename = 'sneaky'\""
    assert ctx.observe(exec_op(check)).details == ("0",)


def test_a_read_only_step_cannot_write_even_when_it_asks_for_read_write(ctx: RunContext) -> None:
    """The read-only transaction is a guard SQL can lift; the monitoring role is the boundary."""
    who = ctx.observe(exec_op('psql -XAt -c "SELECT current_user"'))
    assert who.details == ("aqua_monitor",)
    lifted = (
        'psql -X -c "SET default_transaction_read_only = off" '
        '-c "CREATE TABLE public.sneaky (id int)"'
    )
    seen = ctx.observe(exec_op(lifted))
    assert seen.summary.endswith("in postgres exited 1")
    assert any("permission denied for schema public" in d for d in seen.details), seen.details


def test_a_destructive_step_may_write_once_confirmed(ctx: RunContext) -> None:
    op = exec_op('psql -X -c "CREATE TABLE notes (id int)"', destructive=True)
    assert op.risk == "destructive"
    plan = ctx.plan(op)
    (change,) = plan.changes
    assert change.summary == "run `psql -X -c 'CREATE TABLE notes (id int)'` in postgres"
    assert change.apply().startswith(
        "`psql -X -c 'CREATE TABLE notes (id int)'` in postgres exited 0"
    )
    check = "psql -XAt -c \"SELECT count(*) FROM pg_tables WHERE tablename = 'notes'\""
    assert ctx.observe(exec_op(check)).details == ("1",)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("dropdb aqua", "dropdb is not a read-only program"),
        ("rm -rf /var/lib/postgresql", "rm is not a read-only program"),
        ("/usr/bin/psql -c 'SELECT 1'", "by name, not by path"),
        ("psql -c 'unterminated", "cannot split the command"),
    ],
)
def test_a_command_off_the_allow_list_is_refused(command: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        exec_op(command)
    assert words in str(err.value)


def test_an_unknown_component_is_a_usage_error(ctx: RunContext) -> None:
    from sre_cli.errors import UsageError

    with pytest.raises(UsageError) as err:
        ctx.observe(exec_op("psql -c 'SELECT 1'", component="pg-*"))
    assert "no component of this stack matches pg-*" in err.value.message
