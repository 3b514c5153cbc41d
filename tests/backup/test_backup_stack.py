"""``aqua backup run|drill --state-dir``: the stack's own PostgreSQL, started as the stack does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import invoke
from infra_harness import require_binary
from stack.stack_harness import postgres_only_stack

from sre_cli.commands.backup import app
from sre_cli.stack.plan import MachineEnvironment, StackOptions, build_plan
from sre_cli.stack.spec import StateLayout

pytestmark = pytest.mark.integration


@pytest.fixture
def stack_postgres(scratch: Path) -> Iterator[StateLayout]:
    """A state dir with the stack's plan and its postgres component running (no others)."""
    require_binary("pg_basebackup")
    yield from postgres_only_stack(scratch)


def test_backup_and_drill_on_the_stack(stack_postgres: StateLayout) -> None:
    from sre_cli.backup import Source

    source = Source.from_stack(stack_postgres.root)
    source.psql(
        "create table farms (id serial primary key, name text);"
        "insert into farms (name) select 'farm ' || g from generate_series(1, 321) g;"
    )
    state = ["--state-dir", str(stack_postgres.root)]
    code, out = invoke(app, ["run", *state, "--format", "json"])
    assert code == 0, out
    assert json.loads(out)["repository"] == str(stack_postgres.root / "backups")

    code, out = invoke(app, ["drill", *state, "--format", "json"])
    assert code == 0, out
    report = json.loads(out)
    assert report["tables"]["public.farms"] == {"source_rows": 321, "restored_rows": 321}
    assert report["verdict"] == "pass"
    assert report["checksum_match"] is True
    assert (stack_postgres.root / "backups").stat().st_mode & 0o777 == 0o700


def test_lite_stack_has_nothing_to_back_up(scratch: Path) -> None:
    layout = StateLayout(scratch / "lite")
    layout.create()
    plan = build_plan(StackOptions(lite=True), MachineEnvironment(), layout)
    layout.plan_file.write_text(plan.model_dump_json(), encoding="utf-8")
    code, out = invoke(app, ["run", "--state-dir", str(layout.root)])
    assert code == 2
    assert "lite" in out
