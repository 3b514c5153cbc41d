"""Runbook files: the good fixtures and every shipped runbook load; each bad fixture fails with
the file, the line and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_errors import assert_refused

from sre_cli.errors import SpecError, UsageError
from sre_cli.ops.operations import HttpProbe, K8sOp, StackOp, WaitOp, compare
from sre_cli.runbook.loader import check_dir, discover, find_runbook, load_runbook, parse_runbook
from sre_cli.runbook.params import fill, parse_param_args, resolve
from sre_cli.runbook.spec import Heading, Prose, Step

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "good"
BAD = FIXTURES / "bad"

#: bad fixture -> (line, words the message must contain)
BAD_CASES: dict[str, tuple[int, str]] = {
    "no-front-matter.md": (1, "starts with YAML front matter"),
    "unclosed-front-matter.md": (1, "front matter is not closed"),
    "front-matter-typo.md": (4, "front matter: alert: unknown field"),
    "missing-targets.md": (2, "targets: required field missing"),
    "unknown-target.md": (3, "targets.1: must be 'stack' or 'kubernetes'"),
    "param-default-refers-to-param.md": (6, "not {base}"),
    "step-yaml-syntax.md": (9, "step 1 (aqua check): YAML syntax"),
    "unknown-kind.md": (6, "unknown step block `aqua fix`"),
    "empty-step.md": (7, "step 1 (aqua check) is empty"),
    "two-operations.md": (
        7,
        "exactly one of http, prometheus, stack, k8s, traces, rollout, patch_resources, exec, "
        "top, describe, shell, wait, escalate, faults (found: http, stack)",
    ),
    "check-without-verdict.md": (6, "gives no verdict"),
    "action-that-reads.md": (6, "changes nothing"),
    "diagnose-that-acts.md": (6, "changes state: make it an `aqua action`"),
    "on-fail-on-action.md": (6, "on_fail applies to checks only"),
    "unverified-action.md": (11, "step 2 acts on stack but no check verifies the result"),
    "unknown-parameter.md": (8, "{deploymnet} is not a parameter"),
    "builtin-on-wrong-target.md": (6, "{entry_url} is only known on target stack"),
    "target-not-listed.md": (6, "needs target kubernetes"),
    "bad-duration.md": (9, "wait.timeout: not a duration"),
    "bad-expectation.md": (7, "prometheus.expect: expected a comparison"),
    "bad-deployment-ref.md": (7, "k8s.available: expected deployment/NAME"),
    "nested-typo.md": (10, "k8s.delete_pods.maxx: unknown field"),
    "wait-on-a-diagnostic.md": (7, "until needs a check with a verdict"),
}


def test_every_bad_fixture_has_a_case() -> None:
    assert {p.name for p in BAD.glob("*.md")} == set(BAD_CASES)


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_runbook_names_file_and_line(name: str) -> None:
    assert assert_refused(load_runbook, BAD / name, *BAD_CASES[name]).exit_code == 2


def test_every_problem_of_a_runbook_is_listed_with_its_line() -> None:
    """A front matter typo, a step of two operations, an unknown block, a diagnose that acts
    and a wait without until or a valid timeout: each is listed with its line (exit 2)."""
    path = FIXTURES / "several" / "many-problems.md"
    with pytest.raises(SpecError) as err:
        load_runbook(path)
    problems = err.value.problems
    assert [p.line for p in problems] == [4, 10, 14, 18, 23, 23], err.value.message
    for problem, words in zip(
        problems,
        [
            "front matter: alert: unknown field",
            "exactly one of http, prometheus, stack, k8s, traces, rollout, patch_resources, exec, "
            "top, describe, shell, wait, escalate",
            "unknown step block `aqua fix`",
            "changes state: make it an `aqua action`",
            "wait.until: required field missing",
            "wait.timeout: not a duration",
        ],
        strict=True,
    ):
        assert problem.message.startswith(f"{path}:{problem.line}: "), problem.message
        assert words in problem.message
    assert len(err.value.message.splitlines()) == len(problems)  # one line each
    assert err.value.exit_code == 2


def test_good_fixture_parses_into_blocks_and_numbered_steps() -> None:
    book = load_runbook(GOOD / "everything.md")
    assert book.name == "everything"
    assert book.meta.alerts == ("SomethingBroke",)
    assert book.meta.targets == ("stack", "kubernetes")
    assert book.meta.parameters["pods"].default == "2"
    assert book.meta.parameters["threshold"].default is None
    steps = book.steps
    assert [s.number for s in steps] == list(range(1, 11))
    assert [s.kind for s in steps[:5]] == ["check", "diagnose", "diagnose", "action", "check"]
    # Lines are the fences' lines in the file; sections come from the nearest heading.
    assert (steps[0].line, steps[0].section) == (27, "Look")
    assert (steps[5].line, steps[5].section) == (54, "Kubernetes")
    first = steps[0].body
    assert isinstance(first.op, HttpProbe)
    assert first.op.statuses == (200, 204)
    assert first.op.timeout == 0.5
    assert first.on_fail == "continue"
    assert first.describe() == "The API answers"
    wait = steps[4].body.op
    assert isinstance(wait, WaitOp)
    assert (wait.timeout, wait.interval) == (120.0, 1.0)
    logs = steps[2].body.op
    assert isinstance(logs, StackOp)
    assert logs.names == ("api-1", "api-*")
    # A ```sh block is prose, with the text around it.
    (intro,) = [b for b in book.blocks if isinstance(b, Prose) and b.line == 16]
    assert "aqua stack status" in intro.text
    assert "Intro prose" in intro.text
    assert [b.text for b in book.blocks if isinstance(b, Heading)][:2] == [
        "Every kind of step",
        "Stack",
    ]


def test_blocks_for_a_target_drop_other_targets_sections() -> None:
    book = load_runbook(GOOD / "everything.md")
    on_k8s = book.blocks_for("kubernetes")
    numbers = [b.number for b in on_k8s if isinstance(b, Step)]
    assert numbers == [2, 6, 7, 8, 9, 10]  # step 2 (prometheus) runs on every target
    headings = [b.text for b in on_k8s if isinstance(b, Heading)]
    assert "Act" not in headings  # a section whose steps are all stack-only
    on_stack = [b.number for b in book.blocks_for("stack") if isinstance(b, Step)]
    assert on_stack == [1, 2, 3, 4, 5]


def test_parameters_resolve_and_fill_steps() -> None:
    book = load_runbook(GOOD / "everything.md")
    builtins = {"target": "stack", "entry_url": "http://127.0.0.1:8080"}
    with pytest.raises(UsageError, match="parameter threshold has no default"):
        resolve(book, {}, builtins)
    with pytest.raises(UsageError, match="has no parameter nope"):
        resolve(book, {"nope": "1", "threshold": "1"}, builtins)
    values = resolve(book, {"threshold": "0.1", "pods": "3"}, builtins)
    assert values["base"] == "http://127.0.0.1:8080"  # a default made of a built-in
    first = fill(book.steps[0], values, "x")
    assert isinstance(first.op, HttpProbe)
    assert first.op.url == "http://127.0.0.1:8080/ready"
    delete = fill(book.steps[7], values, "x").op
    assert isinstance(delete, K8sOp)
    assert delete.delete_pods is not None
    assert delete.delete_pods.max == 3  # "{pods}" became an integer
    last = fill(book.steps[9], values, "x").op
    assert last.describe().endswith('{job="api"}) < 0.1')  # PromQL braces untouched
    # On kubernetes entry_url is unknown: a default built on it must be passed.
    with pytest.raises(UsageError, match="pass --param base=VALUE"):
        resolve(book, {"threshold": "1"}, {"target": "kubernetes", "namespace": "n"})
    for pods in ("many", "0"):
        with pytest.raises(SpecError, match=r"rb.md:63: step 8, with parameters filled in: "):
            fill(book.steps[7], {**values, "pods": pods}, "rb.md")


def test_param_args() -> None:
    assert parse_param_args(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(UsageError):
        parse_param_args(["novalue"])


@pytest.mark.parametrize(
    ("value", "expect", "ok"),
    [(0.0, "> 0", False), (1.0, "> 0", True), (0.05, "< 0.05", False), (3.0, "== 3", True)],
)
def test_compare(value: float, expect: str, ok: bool) -> None:
    assert compare(value, expect) is ok


def test_shipped_runbooks_all_load() -> None:
    books, problems = check_dir(ROOT / "runbooks")
    assert problems == []
    assert {b.name for b in books} >= {
        "api-down",
        "high-error-rate",
        "kafka-consumer-lag",
        "do-crash-risk",
        "latency-spike",
        "stack-component-down",
        "api-availability",
    }
    for book in books:
        assert book.steps, book.name
        assert book.meta.alerts, book.name


def test_api_down_covers_both_targets_as_documented() -> None:
    book = load_runbook(ROOT / "runbooks" / "api-down.md")
    stack = [s for s in book.steps if s.body.targets == {"stack"}]
    k8s = [s for s in book.steps if s.body.targets == {"kubernetes"}]
    assert [s.kind for s in stack] == ["check", "check", "diagnose", "action", "check", "check"]
    assert [s.kind for s in k8s] == [
        "check",
        "diagnose",
        "diagnose",
        "diagnose",
        "action",  # replace the pods that are not ready
        "action",  # scale a Deployment at zero back up (only ever up)
        "check",
    ]


def test_find_and_discover(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# not a runbook\n")
    (tmp_path / "one.md").write_text((GOOD / "minimal.md").read_text())
    assert [p.name for p in discover(tmp_path)] == ["one.md"]
    assert find_runbook("one", tmp_path) == tmp_path / "one.md"
    assert find_runbook(str(GOOD / "minimal.md"), tmp_path) == GOOD / "minimal.md"
    with pytest.raises(UsageError, match="no runbook named 'two'"):
        find_runbook("two", tmp_path)
    with pytest.raises(UsageError, match="no runbook folder"):
        discover(tmp_path / "missing")


def test_parse_from_text_keeps_lines() -> None:
    text = "---\ntitle: T\ntargets: [stack]\n---\n\n\n```aqua check\nstack: {ready: nope*}\n```\n"
    book = parse_runbook(text, Path("inline.md"))
    assert book.steps[0].line == 7
