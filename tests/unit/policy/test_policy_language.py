"""The check language: strict parsing with node paths, three-valued evaluation, prose."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import PolicyLoadError
from auditor.policy import Facts, PolicyPack, evaluate, load_packs
from auditor.policy.condition import Env, Unknown, holds
from auditor.policy.describe import describe
from auditor.policy.language import ConditionSyntaxError, parse_condition
from auditor.result import AttributionSummary, GroupCount, MetricRecord
from tests._paths import REPO
from tests.unit.policy.test_policy import rule_doc, write_pack

runner = CliRunner()


def condition_rule(rule_id: str = "TEST-COND-1", **check: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "condition", **check}
    return rule_doc(rule_id, check=body, message={"pass": "{scope}: {detail}", "fail": "{detail}"})


def facts(**changes: Any) -> Facts:
    base: dict[str, Any] = {
        "domain": "credit",
        "audit_date": date(2027, 6, 1),
        "metrics": (),
        "groups": (),
        "groupings": (),
        "intersections": (),
        "features": (),
        "attributions": AttributionSummary(computed=False),
        "min_group_size": 30,
        "evidence": {},
    }
    base.update(changes)
    return Facts(**base)


def run(rule: dict[str, Any], tmp_path: Path, f: Facts) -> list[tuple[str, str, str]]:
    write_pack(tmp_path, {"r.yaml": rule})
    (pack,) = load_packs(["testpack"], tmp_path)
    return [(x.scope, x.status, x.message) for x in evaluate([pack], f)]


# --- every kind of mistake names file, rule and the offending node ----------------------------

MISTAKES = [
    (
        "unknown operator",
        {"scope": "s", "outcomes": [{"status": "fail", "when": {"all": [{"frob": 1}]}}]},
        "check.condition.outcomes.0.when.all.0.frob: unknown operator 'frob'",
    ),
    (
        "unknown comparison",
        {
            "scope": "s",
            "outcomes": [{"status": "fail", "when": {"fact": "domain", "op": "lt_eq", "value": 1}}],
        },
        "check.condition.outcomes.0.when.op: unknown operator 'lt_eq'",
    ),
    (
        "unknown fact",
        {
            "scope": "s",
            "outcomes": [{"status": "fail", "when": {"fact": "metricz", "op": "eq", "value": 1}}],
        },
        "check.condition.outcomes.0.when.fact: unknown fact 'metricz'",
    ),
    (
        "item outside a for-each",
        {"scope": "s", "outcomes": [{"status": "fail", "when": {"exists": "item.value"}}]},
        "'item' is only defined inside a for-each",
    ),
    (
        "unknown item field",
        {
            "for_each": {"collection": "metrics"},
            "outcomes": [
                {"status": "fail", "when": {"fact": "item.pvalue", "op": "lt", "value": 1}}
            ],
        },
        "check.condition.outcomes.0.when.fact: unknown fact 'item.pvalue'; the item has",
    ),
    (
        "unknown collection",
        {
            "for_each": {"collection": "decisions"},
            "outcomes": [{"status": "fail", "when": {"exists": "evidence.x"}}],
        },
        "check.condition.for_each.collection: unknown collection 'decisions'",
    ),
    (
        "unknown function",
        {
            "scope": "s",
            "outcomes": [
                {
                    "status": "fail",
                    "when": {"fact": "evidence.d", "fn": "sqrt", "op": "gt", "value": 1},
                }
            ],
        },
        "check.condition.outcomes.0.when.fn: unknown function 'sqrt'",
    ),
    (
        "comparison without a value",
        {"scope": "s", "outcomes": [{"status": "fail", "when": {"fact": "domain", "op": "eq"}}]},
        "check.condition.outcomes.0.when.value: 'eq' needs a 'value'",
    ),
    (
        "quantifier without where",
        {
            "scope": "s",
            "outcomes": [{"status": "fail", "when": {"some": {"collection": "features"}}}],
        },
        "check.condition.outcomes.0.when.where: 'some' needs a 'where' condition",
    ),
    (
        "unknown placeholder in a detail",
        {
            "for_each": {"collection": "features"},
            "outcomes": [{"status": "fail", "when": {"exists": "evidence.x"}, "detail": "{col}"}],
        },
        "check.condition.outcomes.0.detail: unknown placeholder {col}",
    ),
    (
        "a single-scope check without a scope",
        {"outcomes": [{"status": "fail", "when": {"exists": "evidence.x"}}]},
        "check.condition.scope: a check without for_each needs a scope name",
    ),
    (
        "invalid regular expression",
        {
            "for_each": {"collection": "features"},
            "outcomes": [
                {"status": "fail", "when": {"fact": "item.name", "op": "contains", "value": "(zip"}}
            ],
        },
        "check.condition.outcomes.0.when.value: invalid regular expression '(zip'",
    ),
    (
        "unknown status",
        {"scope": "s", "outcomes": [{"status": "flunk", "when": {"exists": "evidence.x"}}]},
        "check.condition.outcomes.0.status:",
    ),
]


@pytest.mark.parametrize(("case", "check", "expected"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_broken_condition_is_a_precise_load_error(
    tmp_path: Path, case: str, check: dict[str, Any], expected: str
) -> None:
    folder = write_pack(tmp_path, {"r.yaml": condition_rule(**check)})
    with pytest.raises(PolicyLoadError) as exc:
        load_packs(["testpack"], tmp_path)
    (problem,) = exc.value.problems
    assert problem.startswith(f"{folder / 'rules' / 'r.yaml'} (rule TEST-COND-1): "), problem
    assert expected in problem
    # the same pack through the CLI: exit code 2, the same message, no traceback
    res = runner.invoke(app, ["policies", "validate", str(folder)])
    assert res.exit_code == 2
    assert expected in " ".join(res.output.split())
    assert "Traceback" not in res.output


BROKEN_PACKS = [
    ("malformed YAML", "id: X-1\ntitle: [unclosed\n", "malformed YAML"),
    ("unknown key", rule_doc("X-1", threshold=0.8), "(rule X-1): threshold: Extra inputs"),
    ("unknown check type", rule_doc("X-1", check={"type": "vibes"}), "(rule X-1): check:"),
    ("bad date", rule_doc("X-1", effective_from="2026-02-30"), "(rule X-1): effective_from:"),
    ("bad status", rule_doc("X-1", status="maybe"), "(rule X-1): status:"),
]


@pytest.mark.parametrize(
    ("case", "doc", "expected"), BROKEN_PACKS, ids=[b[0] for b in BROKEN_PACKS]
)
def test_broken_packs_exit_2_in_the_cli(
    tmp_path: Path, case: str, doc: dict[str, Any] | str, expected: str
) -> None:
    folder = write_pack(tmp_path, {"r.yaml": doc})
    res = runner.invoke(app, ["policies", "validate", str(folder)])
    assert res.exit_code == 2
    assert expected in " ".join(res.output.split())
    assert str(folder / "rules" / "r.yaml") in res.output.replace("\n", "")


def test_duplicate_ids_and_missing_fixtures_exit_2_in_the_cli(tmp_path: Path) -> None:
    folder = write_pack(tmp_path, {"a.yaml": rule_doc("SAME-1"), "b.yaml": rule_doc("SAME-1")})
    res = runner.invoke(app, ["policies", "validate", str(folder)])
    assert res.exit_code == 2
    assert "duplicate rule id SAME-1" in res.output
    other = write_pack(tmp_path / "x", {"a.yaml": rule_doc("LONE-1")})
    res = runner.invoke(app, ["policies", "validate", str(other)])
    assert res.exit_code == 2
    assert "rule(s) without fixtures: LONE-1" in res.output


# --- evaluation ----------------------------------------------------------------------------


def cond(raw: dict[str, Any], item_fields: frozenset[str] | None = None) -> Any:
    return parse_condition(raw, "t", item_fields)


def test_comparisons_against_an_independent_computation() -> None:
    env = Env(facts(evidence={"n": 7, "tags": ["a", "b"], "m": {"k": 1}, "when": "2027-05-02"}))
    n = 7
    for op, value, expected in [
        ("lt", 8, n < 8),
        ("le", 7, n <= 7),
        ("gt", 7, n > 7),
        ("ge", 8, n >= 8),
        ("eq", 7, n == 7),
        ("ne", 7, n != 7),
        ("in", [1, 7], n in [1, 7]),
        ("not_in", [1, 7], n not in [1, 7]),
    ]:
        assert holds(cond({"fact": "evidence.n", "op": op, "value": value}), env) is expected
    assert holds(cond({"fact": "evidence.tags", "op": "contains", "value": "b"}), env) is True
    assert holds(cond({"fact": "evidence.tags", "op": "not_contains", "value": "b"}), env) is False
    assert holds(cond({"fact": "evidence.m", "op": "has_key", "value": "k"}), env) is True
    days = (date(2027, 6, 1) - date(2027, 5, 2)).days
    ago = cond({"fact": "evidence.when", "fn": "days_since", "op": "eq", "value": days})
    assert holds(ago, env) is True
    assert holds(cond({"fact": "evidence.tags", "fn": "length", "op": "eq", "value": 2}), env)
    # a value of the wrong type is unknown, never quietly false
    wrong = holds(cond({"fact": "evidence.tags", "op": "lt", "value": 3}), env)
    assert isinstance(wrong, Unknown)
    assert "cannot be compared with 'lt'" in wrong.detail


def test_absent_facts_are_unknown_with_kleene_logic() -> None:
    env = Env(facts(evidence={"yes": 1}))
    t = {"fact": "evidence.yes", "op": "eq", "value": 1}
    f = {"fact": "evidence.yes", "op": "eq", "value": 2}
    u = {"fact": "evidence.absent", "op": "eq", "value": 1}
    assert isinstance(holds(cond(u), env), Unknown)
    assert holds(cond({"all": [f, u]}), env) is False  # false and unknown = false
    assert isinstance(holds(cond({"all": [t, u]}), env), Unknown)
    assert holds(cond({"any": [t, u]}), env) is True  # true or unknown = true
    assert isinstance(holds(cond({"any": [f, u]}), env), Unknown)
    assert isinstance(holds(cond({"not": u}), env), Unknown)
    assert holds(cond({"missing": "evidence.absent"}), env) is True
    assert holds(cond({"exists": "evidence.absent"}), env) is False
    unknown = holds(cond({"attested": "evidence.absent"}), env)
    assert isinstance(unknown, Unknown)
    assert unknown.status == "needs_attestation"
    metric = holds(cond({"fact": "attributions.tolerance", "op": "lt", "value": 1}), env)
    assert isinstance(metric, Unknown)
    assert metric.status == "insufficient_evidence"


def test_quantifiers_over_collections() -> None:
    f = facts(
        groups=(
            GroupCount("sex", "f", 40, 0.4),
            GroupCount("sex", "m", 55, 0.55),
            GroupCount("sex", "unknown", 5, 0.05, unknown=True),
        )
    )
    env = Env(f)
    small = {"fact": "item.n", "op": "lt", "value": 50}
    known = {"fact": "item.unknown", "op": "eq", "value": False}
    some = {"some": {"collection": "groups", "where": known}, "where": small}
    every = {"every": {"collection": "groups", "where": known}, "where": small}
    none = {"none": {"collection": "groups"}, "where": {"fact": "item.n", "op": "gt", "value": 99}}
    assert holds(cond(some), env) is True
    assert holds(cond(every), env) is False
    assert holds(cond(none), env) is True
    empty = {"every": {"collection": "features"}, "where": {"exists": "item.name"}}
    assert holds(cond(empty), env) is True  # vacuous truth, as in logic


def test_one_finding_per_item_with_message_fields(tmp_path: Path) -> None:
    rule = condition_rule(
        for_each={
            "collection": "metrics",
            "where": {"fact": "item.metric", "op": "eq", "value": "smd"},
        },
        outcomes=[
            {
                "status": "fail",
                "when": {"fact": "item.value", "op": "le", "value": -0.3},
                "detail": "{group} vs {reference}: {observed}",
            }
        ],
        otherwise_detail="fine ({n})",
        observed="item.value",
    )
    metrics = (
        MetricRecord("sex", "f", "smd", -0.41, 120, p_value=0.01, reference="m"),
        MetricRecord("sex", "x", "smd", 0.05, 80, reference="m"),
        MetricRecord("sex", "f", "impact_ratio", 0.5, 120),
    )
    found = run(rule, tmp_path, facts(metrics=metrics))
    assert found == [("sex=f", "fail", "f vs m: -0.41"), ("sex=x", "pass", "sex=x: fine (80)")]


def test_a_missing_evidence_key_is_named_in_the_finding(tmp_path: Path) -> None:
    rule = condition_rule(
        scope="retention",
        outcomes=[
            {
                "status": "fail",
                "when": {"fact": "evidence.retention_months", "op": "lt", "value": 25},
            }
        ],
    )
    ((scope, status, message),) = run(rule, tmp_path, facts())
    assert (scope, status) == ("retention", "needs_attestation")
    assert "evidence.retention_months is not set (set it in the spec)" in message


def test_parse_error_carries_the_node_path() -> None:
    with pytest.raises(ConditionSyntaxError) as exc:
        parse_condition({"any": [{"exists": "domain"}, {"not": {"bogus": 1}}]}, "when", None)
    assert exc.value.where == "when.any.1.not.bogus"


def test_every_shipped_condition_describes_itself() -> None:
    from auditor.policy import available_packs

    for pack in load_packs(available_packs()):
        for rule in pack.rules:
            text = describe(rule)
            assert text, rule.id
            assert "{" not in text, rule.id
            if rule.check.type == "condition":
                assert "otherwise" in text


def test_a_condition_rule_round_trips_through_yaml(tmp_path: Path) -> None:
    from auditor.policy.schema import Rule

    doc = yaml.safe_load(
        (REPO / "policies/ecoa_reg_b/rules/FL-DI-SMD.yaml").read_text()
    )
    rule = Rule.model_validate(doc)
    again = Rule.model_validate(rule.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert again == rule
    assert again.check.type == "condition"


def test_advisory_pack_turns_a_condition_fail_into_warn(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        {
            "r.yaml": condition_rule(
                scope="s",
                outcomes=[
                    {"status": "fail", "when": {"fact": "domain", "op": "eq", "value": "credit"}}
                ],
            )
        },
    )
    (pack,) = load_packs(["testpack"], tmp_path)
    advisory = PolicyPack(pack.meta.model_copy(update={"advisory": True}), pack.rules, pack.folder)
    assert [f.status for f in evaluate([pack], facts())] == ["fail"]
    assert [f.status for f in evaluate([advisory], facts())] == ["warn"]


def test_collections_expose_attribution_slices_and_importance() -> None:
    from auditor.result import GroupAttribution, ProxyRank, ProxyScore

    summary = AttributionSummary(
        computed=True,
        global_importance={"income": 0.6, "zip=10001": 0.3, "zip=60601": 0.1},
        groups=(
            GroupAttribution(
                "race", "B", 300, "W", {}, {}, {"income": -0.02, "zip": -0.31, "age": 0.05}
            ),
        ),
        proxies=(ProxyScore("zip", "race", "cramers_v", 0.7),),
        proxy_ranking=(ProxyRank("zip", "race", "B", 0.81, 0.6, -0.2, 0.5),),
    )
    f = facts(features=("income", "zip", "tenure"), attributions=summary)
    features = {i["name"]: i for i in f.collection("features")}
    assert features["zip"]["importance"] == pytest.approx(0.4)  # one-hot columns summed
    assert features["zip"]["importance_share"] == pytest.approx(0.4 / 1.0)
    assert features["tenure"]["importance"] == 0.0
    (slice_,) = f.collection("attribution_groups")
    assert (slice_["largest_gap_feature"], slice_["largest_gap"]) == ("zip", -0.31)
    assert f.collection("proxies")[0]["value"] == 0.7
    assert f.collection("proxy_ranking")[0]["auc"] == 0.81
    env = Env(f)
    rule = {
        "some": {"collection": "proxy_ranking"},
        "where": {
            "all": [
                {"fact": "item.auc", "op": "ge", "value": 0.8},
                {"fact": "item.gap_share", "op": "ge", "value": 0.5},
            ]
        },
    }
    assert holds(cond(rule), env) is True
    # without attributions, importance is unknown rather than zero
    bare = facts(features=("income",))
    assert bare.collection("features")[0]["importance"] is None


def test_the_rule_template_is_a_valid_rule() -> None:
    from auditor.policy.loader import read_yaml
    from auditor.policy.schema import Rule

    rule = Rule.model_validate(read_yaml(REPO / "policies/rule.template.yaml"))
    assert rule.check.type == "condition"


def test_broken_pack_metadata_and_fixtures_exit_2_in_the_cli(tmp_path: Path) -> None:
    folder = write_pack(tmp_path, {"r.yaml": rule_doc("META-1")})
    meta = yaml.safe_load((folder / "pack.yaml").read_text())
    del meta["version"]
    (folder / "pack.yaml").write_text(yaml.safe_dump(meta))
    res = runner.invoke(app, ["policies", "validate", str(folder)])
    assert res.exit_code == 2
    assert "invalid pack metadata" in res.output
    assert "version: Field required" in res.output

    good = write_pack(tmp_path / "g", {"r.yaml": rule_doc("FIX-1")})
    (good / "fixtures").mkdir()
    (good / "fixtures" / "FIX-1.yaml").write_text("rule: FIX-1\ncases: []\n")
    res = runner.invoke(app, ["policies", "validate", str(good)])
    assert res.exit_code == 2
    assert "FIX-1.yaml: malformed fixture" in " ".join(res.output.split())
