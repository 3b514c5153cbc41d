"""aqua against the field: every example spec of Sloth's repository, and Sloth's own output.

``field/sloth/examples`` holds Sloth's example specs and ``field/sloth/examples/_gen`` the rules
Sloth generated from them (its ``scripts/examplesgen.sh``: ``--extra-labels cmd=examplesgen.sh``);
``field/openslo`` holds OpenSLO's examples. Both are Apache-2.0 (``field/README.md``).

Every example Sloth accepts loads, and ``aqua slo rules`` equals Sloth's rules rule for rule
(group, name, labels, expression, annotations) except the differences aqua makes on purpose,
each named in :data:`DIFFERENCES` and listed with its reason in ``slo/README.md``.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from sre_cli.slo.lint import static_problems
from sre_cli.slo.loader import check_paths
from sre_cli.slo.rules import rules_yaml
from sre_cli.slo.spec import SLO, render_window
from sre_cli.slo.windows import load_tiers
from sre_cli.timespec import format_duration

FIELD = Path(__file__).parent / "field"
SLOTH = FIELD / "sloth" / "examples"
EXAMPLES = sorted(p for p in SLOTH.iterdir() if p.suffix in {".yml", ".yaml"})
# SLI plugins are Go code compiled into Sloth: aqua refuses them with a clear message.
SLI_PLUGINS = {"plugin-getting-started.yml", "plugin-k8s-getting-started.yml"}
ACCEPTED = [p for p in EXAMPLES if p.name not in SLI_PLUGINS]
# MetricsQL (VictoriaMetrics) queries: Sloth writes them, Prometheus rejects them.
METRICSQL = {"victoria-metrics.yml"}
EXTRA_LABELS = {"cmd": "examplesgen.sh"}

#: Differences aqua makes on purpose (slo/README.md, "Differences from Sloth").
DIFFERENCES = {
    "period-sli": "the SLI over the SLO period comes from the raw counters, not averaged 5m ratios",
    "exact-budget": "alert thresholds use the exact error budget 1 - objective (0.001), not "
    "Go's float (100 - 99.9) / 100 = 0.0009999999999999432",
    "version": "sloth_slo_info says sloth_version=aqua",
    "plugin": "Sloth's contrib SLO plugins are not run (validate warns)",
}
_GROUP = re.compile(r"^sloth-slo-(sli-recordings|meta-recordings|alerts)-")
_THRESHOLD = re.compile(r"\((\d+(?:\.\d+)?) \* ([0-9.e-]+)\)")


def _sloth_groups(path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:  # a plain rule file, or a PrometheusRule resource for the CRD examples
            groups += doc["groups"] if "groups" in doc else doc["spec"]["groups"]
    return groups


def _ours(slos: list[SLO]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(rules_yaml(slos, extra_labels=EXTRA_LABELS))[
        "groups"
    ]
    return groups


def _exact_budget(theirs: str, ours: str) -> str | None:
    """Sloth's expression with its float budgets replaced by ours, if only those differ."""
    pairs = list(zip(_THRESHOLD.findall(theirs), _THRESHOLD.findall(ours), strict=False))
    for (f1, b1), (f2, b2) in pairs:
        if f1 != f2 or not math.isclose(float(b1), float(b2), rel_tol=1e-9):
            return None
    it = iter(b for _, b in _THRESHOLD.findall(ours))
    return _THRESHOLD.sub(lambda m: f"({m.group(1)} * {next(it)})", theirs)


def _plugins(slo: SLO) -> set[str]:
    return {p.rsplit("/", 2)[-2] for p in slo.plugins if "/contrib/" in p}


def classify(slo: SLO, ours: dict[str, Any] | None, theirs: dict[str, Any]) -> str:
    """``identical``, or the name of the intended difference that explains the rule's."""
    if ours == theirs:
        return "identical"
    plugins = _plugins(slo)
    name = str(theirs.get("record") or theirs.get("alert"))
    if "denominator_corrected_rules" in plugins and (
        name.startswith(("slo:numerator_correction:", "slo:sli_error:"))
    ):
        return "plugin"
    assert ours is not None, f"aqua lacks {name}"
    period = format_duration(slo.window.nominal)
    if name == f"slo:sli_error:ratio_rate{period}":
        # From the counters: the same query as every other window, over the whole period.
        assert ours["labels"] == theirs["labels"]
        assert "sum_over_time(slo:sli_error:ratio_rate5m" in theirs["expr"]
        sli = slo.sli
        if sli.error_ratio_query is not None:
            assert ours["expr"] == f"({render_window(sli.error_ratio_query, period)})"
        else:
            assert sli.error_query is not None
            assert sli.total_query is not None
            error, total = (render_window(q, period) for q in (sli.error_query, sli.total_query))
            assert ours["expr"] == f"({error})\n/\n({total})\n"
        return "period-sli"
    if "alert" in theirs:
        fixed = _exact_budget(theirs["expr"], ours["expr"])
        assert fixed == ours["expr"], f"{name}: {ours['expr']!r} != {theirs['expr']!r}"
        assert {**theirs, "expr": fixed} == ours
        return "exact-budget"
    if name == "sloth_slo_info":
        expected = {**theirs["labels"], "sloth_version": "aqua"}
        if "info_labels" in plugins:
            added = set(theirs["labels"]) - set(ours["labels"])
            assert added, "the info_labels plugin adds labels"
            expected = {k: v for k, v in expected.items() if k not in added}
            assert {**theirs, "labels": expected} == ours
            return "plugin"
        assert {**theirs, "labels": expected} == ours
        return "version"
    raise AssertionError(f"unexplained difference in {name}:\n{ours}\n!=\n{theirs}")


def compare(example: Path) -> Counter[str]:
    slos, problems = check_paths([example])
    assert [p for p in problems if p.severity == "error"] == []
    by_id = {s.id: s for s in slos}
    ours = {g["name"]: g for g in _ours(slos)}
    outcome: Counter[str] = Counter()
    for group in _sloth_groups(SLOTH / "_gen" / example.name):
        mine = ours.pop(group["name"], None)
        assert mine is not None, f"aqua lacks group {group['name']}"
        slo = by_id[_GROUP.sub("", group["name"])]
        assert {k: v for k, v in group.items() if k not in {"rules", "interval"}} == {
            k: v for k, v in mine.items() if k != "rules"
        }
        if "interval" in group:  # the rule_intervals contrib plugin
            assert "rule_intervals" in _plugins(slo)
            outcome["plugin"] += 0
        rules = {(r.get("record") or r.get("alert"), i): r for i, r in enumerate(mine["rules"])}
        offset = 0
        for index, rule in enumerate(group["rules"]):
            name = rule.get("record") or rule.get("alert")
            key = (name, index - offset)
            if name.startswith("slo:numerator_correction:"):
                offset += 1  # rules only the plugin adds
            outcome[classify(slo, rules.pop(key, None), rule)] += 1
        assert rules == {} or "denominator_corrected_rules" in _plugins(slo), rules
    assert ours == {}, f"groups Sloth does not write: {list(ours)}"
    return outcome


@pytest.mark.parametrize("example", ACCEPTED, ids=[p.name for p in ACCEPTED])
def test_rules_equal_sloths_but_for_intended_differences(example: Path) -> None:
    outcome = compare(example)
    assert outcome["identical"] > 0
    assert set(outcome) <= {"identical", *DIFFERENCES}


def test_most_rules_are_identical() -> None:
    total: Counter[str] = Counter()
    for example in ACCEPTED:
        total += compare(example)
    # Plugins aside, only the period SLI and thresholds differ: 2 period rules per 17.
    assert total["identical"] > 0.75 * sum(total.values()), total


@pytest.mark.parametrize("name", sorted(SLI_PLUGINS))
def test_sli_plugins_are_refused_with_the_reason(name: str) -> None:
    slos, problems = check_paths([SLOTH / name])
    assert slos == []
    assert any("SLI plugins are Go code" in p.message and p.line for p in problems), problems


def test_lints_are_warnings_not_errors() -> None:
    slos, problems = check_paths(ACCEPTED)
    assert [p for p in problems if p.severity == "error" and "duplicate" not in p.message] == []
    lints = static_problems(slos, load_tiers())
    assert {p.severity for p in lints} == {"warning"}
    text = "\n".join(str(p) for p in lints)
    assert "home-wifi.yml:29: home-wifi-good-wifi-client-satisfaction: error_query counts" in text
    assert "histogram_share() is MetricsQL" in text
    assert "sloth.dev/contrib/denominator_corrected_rules/v1 are not run" in text
    assert "sloth.dev/core/debug/v1" not in text


@pytest.mark.parametrize("example", ACCEPTED, ids=[p.name for p in ACCEPTED])
def test_generated_rules_pass_promtool(promtool: Path, tmp_path: Path, example: Path) -> None:
    out = tmp_path / "rules.yaml"
    out.write_text(rules_yaml(check_paths([example])[0]))
    done = subprocess.run([promtool, "check", "rules", out], capture_output=True, text=True)
    if example.name in METRICSQL:
        assert done.returncode != 0
        assert "histogram_share" in done.stdout + done.stderr
    else:
        assert done.returncode == 0, done.stdout + done.stderr


def test_crd_camel_case_errors_name_the_field_as_written(tmp_path: Path) -> None:
    spec = tmp_path / "crd.yaml"
    spec.write_text(
        (SLOTH / "k8s-getting-started.yml")
        .read_text()
        .replace("objective: 99.9", "objective: 100")
        .replace("errorQuery:", "errorQeury:")
    )
    _, problems = check_paths([spec])
    messages = [f"{p.line} {p.message}" for p in problems]
    assert any("spec.slos.0.sli.events.errorQeury: unknown field" in m for m in messages)
    assert any("spec.slos.0.sli.events.errorQuery: required field missing" in m for m in messages)
    assert any(m.endswith("spec.slos.0.objective: must be less than 100") for m in messages)


OPENSLO = sorted((FIELD / "openslo" / "examples").rglob("*.yaml"))


@pytest.mark.parametrize("example", OPENSLO, ids=[p.parent.name + "/" + p.name for p in OPENSLO])
def test_openslo_examples_fail_only_on_their_placeholder_source(example: Path) -> None:
    _, problems = check_paths([example])
    assert problems
    assert {p.message.rsplit(": ", 1)[-1] for p in problems} == {
        "only Prometheus metric sources are supported, not Any"
    }


def _with_prometheus(example: Path, tmp_path: Path) -> Path:
    queries = iter(['slice_requests_total{code="200"}', "slice_requests_total"])
    text = example.read_text().replace("type: Any", "type: Prometheus")
    if "thresholdMetric" in text:
        text = text.replace("query: Any", 'query: search_duration_seconds_bucket{job="shop"}')
    else:
        text = re.sub(r"query: Any", lambda _: f"query: '{next(queries)}'", text)
    out = tmp_path / example.name
    out.write_text(text)
    return out


def test_openslo_examples_with_prometheus_queries(tmp_path: Path) -> None:
    loaded = {}
    for example in OPENSLO:
        (tmp_path / example.parent.name).mkdir(exist_ok=True)
        slos, problems = check_paths([_with_prometheus(example, tmp_path / example.parent.name)])
        if example.name == "timeslices-slo.yaml" and example.parent.name == "budgeting-method":
            # Its calendar window says 1m (a minute) where it means a month (1M).
            assert [p.message for p in problems] == [
                "calendar window 1m (m is minutes: a month is 1M): a calendar window lasts 1w,"
                " 1M or 1Q"
            ]
            continue
        assert problems == []
        loaded.update({s.id: s for s in slos})
    search = loaded["web-shop-search-slo"]
    assert search.sli.latency is not None
    assert search.sli.latency.threshold == 500
    assert search.window.label == "14d"
    main = loaded["web-shop-main-page"]
    assert (main.budgeting.method, main.budgeting.slice_label) == ("ratio_timeslices", "1m")
    weekly = loaded["web-availability-service-availability"]
    assert weekly.budgeting.method == "timeslices"
    assert weekly.budgeting.slice_target == 0.95
    assert weekly.window.label == "week@America/New_York"
    assert weekly.objective == 99.95
