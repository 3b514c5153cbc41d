"""Finding and reading spec files: which files are specs, which documents are skipped, and the
problem (file, line, message) every other document gets, in file and line order."""

from __future__ import annotations

from pathlib import Path

import pytest

from sre_cli.errors import SpecError
from sre_cli.slo.lint import selectors, static_problems
from sre_cli.slo.loader import Problem, check_paths, discover, load_slos
from sre_cli.slo.windows import load_tiers

QUERIES = "{error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}"
MIXED = f"""\
version: prometheus/v1
service: api
slos:
  - name: one
    objective: 99
    sli: {{events: {QUERIES}}}
---
- a list, not a mapping
---
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {{name: x}}
---
apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec: {{}}
---
apiVersion: openslo/v1
kind: Service
metadata: {{name: web}}
---
kind: SLO
---
version: prometheus/v2
service: api
slos: []
"""
CRD = """\
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: x}
spec:
  service: crd
  slos:
    - name: two
      objective: 99
      sli: {events: {errorQuery: 'sum(rate(e[5m]))', total_query: 'sum(rate(t[{{.window}}]))'}}
"""
NOT_A_STRING = """\
version: prometheus/v1
service: api
slos:
  - name: three
    objective: 99
    sli: {events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: [1, 2]}}
"""


def test_discover_takes_yaml_files_sorted_and_files_as_given(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text("")
    (tmp_path / "a.yaml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "dir.yaml" / "c.yaml").write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])]
    assert found == ["a.yaml", "b.yml", "dir.yaml/c.yaml"]
    assert discover([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]
    with pytest.raises(SpecError, match="no such file or folder"):
        discover([tmp_path / "missing.yaml"])


def test_every_document_that_is_no_slo_is_skipped_or_named(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    slos, problems = check_paths([path])
    assert [s.id for s in slos] == ["api-one"]
    where = str(path)
    assert problems == [
        Problem(where, 8, "a spec document is a mapping"),
        Problem(where, 10, "spec: required"),
        Problem(
            where,
            22,
            "a document without version: expected Sloth version prometheus/v1 or OpenSLO "
            "openslo/v1 (or openslo/v1alpha) kind SLO, or Sloth's PrometheusServiceLevel",
        ),
        Problem(where, 24, "version: unsupported version: must be 'prometheus/v1'"),
        Problem(where, 26, "slos: must have at least 1 item after validation, not 0"),
    ]


def test_crd_problems_name_fields_as_the_file_spells_them(tmp_path: Path) -> None:
    (tmp_path / "crd.yaml").write_text(CRD)
    _, problems = check_paths([tmp_path / "crd.yaml"])
    assert [(p.line, p.message) for p in problems] == [
        (9, "spec.slos.0.sli.events.errorQuery: query must use the {{.window}} placeholder as "
            "its range"),
    ]  # fmt: skip


def test_a_query_that_is_not_text_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text(NOT_A_STRING)
    _, problems = check_paths([tmp_path / "list.yaml"])
    [problem] = problems
    assert problem.line == 6
    assert problem.message.startswith("slos.0.sli.events.total_query: ")


def test_load_slos_names_the_first_problem_and_lists_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MIXED)
    (tmp_path / "b.yaml").write_text(CRD)
    with pytest.raises(SpecError) as caught:
        load_slos([tmp_path])
    error = caught.value
    assert (error.path, error.line) == (str(tmp_path / "a.yaml"), 8)
    lines = error.message.splitlines()
    assert lines[0] == f"{tmp_path / 'a.yaml'}:8: a spec document is a mapping"
    assert lines[1] == f"  {tmp_path / 'a.yaml'}:10: spec: required"
    assert lines[-1].startswith(f"  {tmp_path / 'b.yaml'}:9: spec.slos.0.sli.events.errorQuery")
    assert len(lines) == 6
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    with pytest.raises(SpecError, match="no SLO found"):
        load_slos([tmp_path / "empty.yaml"])


def test_duplicate_ids_point_at_the_first(tmp_path: Path) -> None:
    one = MIXED.split("---")[0]
    (tmp_path / "a.yaml").write_text(one)
    (tmp_path / "b.yaml").write_text(one)
    slos, problems = check_paths([tmp_path])
    assert [s.source.path for s in slos] == [str(tmp_path / "a.yaml")]
    assert problems == [
        Problem(str(tmp_path / "b.yaml"), 4, f"duplicate SLO api-one (also at {tmp_path}/a.yaml:4)")
    ]


def test_crd_fields_spelled_in_snake_case_keep_that_spelling(tmp_path: Path) -> None:
    snake = CRD.replace("errorQuery: 'sum(rate(e[5m]))'", "error_query: 'sum(rate(e[5m]))'")
    camel = CRD.replace(
        "errorQuery: 'sum(rate(e[5m]))', total_query", "totalQuery: 'x', errorQuery"
    )
    (tmp_path / "snake.yaml").write_text(snake)
    (tmp_path / "camel.yaml").write_text(camel.replace("'sum(rate(t[{{.window}}]))'", "'x'"))
    messages = [p.message for p in check_paths([tmp_path])[1]]
    assert messages == [
        "spec.slos.0.sli.events.errorQuery: query must use the {{.window}} placeholder as its "
        "range",
        "spec.slos.0.sli.events.totalQuery: query must use the {{.window}} placeholder as its "
        "range",
        "spec.slos.0.sli.events.error_query: query must use the {{.window}} placeholder as its "
        "range",
    ]


def test_problems_found_after_the_documents_are_sorted_by_line(tmp_path: Path) -> None:
    # The SLO's missing indicator is found once every document is read, after the list.
    path = tmp_path / "openslo.yaml"
    path.write_text(
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: availability}\nspec:\n"
        "  service: web\n  indicatorRef: missing\n"
        "  timeWindow: [{duration: 30d, isRolling: true}]\n  budgetingMethod: Occurrences\n"
        "  objectives: [{target: 0.99}]\n---\n- a list\n"
    )
    assert check_paths([path])[1] == [
        Problem(str(path), 4, "indicatorRef 'missing': no kind: SLI of that name"),
        Problem(str(path), 11, "a spec document is a mapping"),
    ]


def test_a_yaml_syntax_error_is_a_problem_of_its_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: prometheus/v1\nservice: [a\n  b: c: d\n")
    assert check_paths([path]) == (
        [],
        [Problem(str(path), 3, "YAML syntax: expected ',' or ']', but got ':'")],
    )


def test_a_tier_whose_threshold_is_exactly_one_can_never_fire(tmp_path: Path) -> None:
    # Over 20 days the page-slow tier burns 5 % of the budget in 6 hours: a factor of 4; a
    # 75 % objective's budget is 0.25, and an error ratio cannot exceed 4 × 0.25 = 1. (The
    # page-quick tier's 9.6 × 0.25 is far above; ticket-quick's 2 × 0.25 can fire.)
    path = tmp_path / "loose.yaml"
    path.write_text(
        MIXED.split("---")[0].replace("objective: 99", "objective: 75") + "window: 20d\n"
    )
    [slo] = load_slos([path])
    lints = [p.message for p in static_problems([slo], load_tiers())]
    assert [m.split(":")[1].split(" can ")[0] for m in lints] == [
        " alert tier page-quick",
        " alert tier page-slow",
    ]
    assert "burn factor 4 × error budget 0.25 ≥ 1" in lints[1]


def test_range_selectors_of_a_subquery_are_its_inner_ones() -> None:
    query = 'max_over_time((sum(rate(m{a="b"}[5m])) by (a))[1h:1m]) + rate(n[1m] offset 5m)'
    assert selectors(query) == ['m{a="b"}', "n"]


def _named(tmp_path: Path, name: str, budgeting: str = "") -> list[str]:
    path = tmp_path / "named.yaml"
    text = MIXED.split("---")[0].replace("name: one", f"name: {name}")
    path.write_text(text.replace("    objective: 99\n", f"    objective: 99\n{budgeting}"))
    return [p.message for p in check_paths([path])[1]]


def test_names_of_letters_and_digits_up_to_120_characters(tmp_path: Path) -> None:
    assert _named(tmp_path, "a" * 120) == []
    assert _named(tmp_path, "a-b.c_1") == []
    for bad in ("a" * 121, "'no spaces'", "-dash-first"):
        [message] = _named(tmp_path, bad)
        assert message.startswith("slos.0.name: ")
        assert "is not a name: use letters, digits, '_', '.' and '-'" in message


def test_time_slices_are_whole_minutes_from_1m_to_1d(tmp_path: Path) -> None:
    def sliced(size: str) -> list[str]:
        budgeting = f"    budgeting: {{method: timeslices, slice: {size}, slice_target: 0.9}}\n"
        return _named(tmp_path, "one", budgeting)

    for good in ("1m", "90m", "1d"):
        assert sliced(good) == [], good
    for bad in ("30s", "90s", "25h", "2d"):
        [message] = sliced(bad)
        assert message.endswith("a time slice is whole minutes, from 1m to 1d"), bad
