"""Golden findings of the demo audits, and findings that never contradict themselves.

The snapshot (tests/golden/snapshots/demo_findings.json) holds, per demo audit (German
credit with LightGBM, synthetic hiring with the PyTorch MLP, as the shared fixtures train them),
every finding's rule id, scope, status, severity and threshold on a fixed audit date. Any
change to a verdict shows up here as a diff to review. After a deliberate change,
regenerate it and commit the diff:

    PYTHONPATH=$PWD .venv/bin/python -m pytest --update-golden \
        tests/golden/test_golden_findings.py -q
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

import auditor
from auditor.demo import DemoCase
from auditor.policy.outcome import fmt_vs_line
from auditor.report.render import render_html
from auditor.result import AuditResult
from auditor.spec import load_spec
from tests._golden import as_json, assert_snapshot

AUDIT_DATE = date(2026, 12, 6)
RATIO_RULES = {"EEOC-UGESP-4D-FOUR-FIFTHS", "AAA-4-DIFFERENTIAL-PERFORMANCE", "FL-DI-AIR"}


def _audit(case: DemoCase) -> AuditResult:
    spec = load_spec(case.spec_path)
    # letters are not findings; the audit date pins which rules are in force
    dated = spec.model_copy(update={"audit_date": AUDIT_DATE, "letters": None})
    return auditor.run_audit(dated)


@pytest.fixture(scope="module")
def demo_results(credit_case: DemoCase, hiring_case: DemoCase) -> dict[str, AuditResult]:
    return {case.name: _audit(case) for case in (credit_case, hiring_case)}


def _rows(result: AuditResult) -> list[dict[str, Any]]:
    rows = [
        {
            "rule_id": f.rule_id,
            "scope": f.scope,
            "status": f.status,
            "severity": f.severity,
            "threshold": f.threshold,
        }
        for f in result.findings
    ]
    return sorted(rows, key=lambda r: (r["rule_id"], r["scope"]))


def test_demo_findings_match_the_golden_snapshot(demo_results: dict[str, AuditResult]) -> None:
    got = {name: _rows(r) for name, r in sorted(demo_results.items())}
    got["verdict"] = {name: r.verdict for name, r in sorted(demo_results.items())}
    assert_snapshot("demo_findings.json", as_json(got))


def test_demo_findings_do_not_contradict_themselves(
    demo_results: dict[str, AuditResult],
) -> None:
    for result in demo_results.values():
        assert result.verdict["rule"] == "below_line_holm"
        assert result.verdict["family_size"] > 0
        for f in result.findings:
            assert "{" not in f.message, f
            observed, line = f.observed, f.threshold
            if f.rule_id not in RATIO_RULES or not isinstance(observed, float):
                continue
            if f.status not in ("pass", "warn", "fail"):
                continue  # too small or excluded: the message gives the reason instead
            assert isinstance(line, float)
            if f.status == "fail":
                assert observed < line, f  # a fail is below the line it names
            if f.status == "warn":
                assert observed < 1, f  # groups favoured over the reference never warn
            # the value is printed on the side of the line it is on (0.7958 is not "0.80")
            assert fmt_vs_line(observed, line) in f.message, f
            if "statistically significant" in f.message and f.status == "fail":
                assert "Holm-adjusted" in f.message, f  # the deciding p is the one shown


def test_report_states_the_verdict_rule_above_the_findings(
    demo_results: dict[str, AuditResult],
) -> None:
    result = demo_results["hiring-screen-demo"]
    html = render_html(result)
    findings = html.index('id="sec-findings"')
    rule = html.index("Verdict rule</strong> (below_line_holm)")
    assert findings < rule < html.index('id="pack-1"')
    assert f"Holm-adjusted over the {result.verdict['family_size']} ratio comparisons" in html
    old = replace(result, verdict={})  # a result stored before December 2026
    assert "Verdict rule</strong>: not recorded" in render_html(old)
