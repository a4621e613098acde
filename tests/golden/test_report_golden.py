"""Golden tests of the report presets: normalised HTML snapshots plus PDF text checks.

Two small audits shaped like the demo ones (a credit audit with a named control group and
score-gap failures; a hiring audit whose failing group is large and whose proxy carries
most of the gap, beside a tiny group with an extreme ratio), each rendered in every preset.
The HTML is compared with ``tests/golden/snapshots/report/<case>-<preset>.html`` after
normalising what legitimately changes between runs and machines (chart images, package
versions).
A wording or layout change shows up in review as a diff of those files.

Regenerate after an intended change (then read the diff before committing it)::

    PYTHONPATH=$PWD .venv/bin/python -m pytest --update-golden \
        tests/golden/test_report_golden.py -q
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import RenderError
from auditor.report import build_report, render_html
from auditor.report.presets import PRESETS
from auditor.result import (
    AuditResult,
    Finding,
    GapDecomposition,
    GroupCount,
    MetricRecord,
    ProxyRank,
    ProxyScore,
    RunInfo,
)
from tests._golden import assert_snapshot, without_stylesheet
from tests.factories import LL144_PUBLICATION, make_result


def _run(audit_id: str) -> RunInfo:
    return RunInfo(
        audit_id,
        "2026-11-23T10:00:00+00:00",
        "2026-11-23T10:00:05+00:00",
        5.0,
        {"load": 1.0},
        "golden-user",
        "golden-host",
    )


def _finding(rule: str, pack: str, scope: str, status: Any, observed: float, msg: str) -> Finding:
    return Finding(
        rule, pack, f"{rule} title", scope, status, "high", observed, 0.8, f"{rule} cite", msg
    )


def hiring_case() -> AuditResult:
    """A large failing group (Black, n = 4,000) and a tiny extreme one (NHPI, n = 12)."""
    base = make_result(name="golden-hiring")
    race = [("White", 7000, 3150), ("Black", 4000, 760), ("NHPI", 12, 1)]
    metrics: list[MetricRecord] = list(base.metrics)
    for group, n, hired in race:
        rate = hired / n
        metrics.append(MetricRecord("race", group, "selection_rate", rate, n, hired))
        ratio = rate / 0.45
        metrics.append(
            MetricRecord(
                "race",
                group,
                "impact_ratio",
                ratio,
                n,
                None,
                None if group == "White" else ratio - 0.04,
                None if group == "White" else ratio + 0.04,
                None if group == "White" else (1e-9 if group == "Black" else 0.2),
                reference="White",
                flags=("reference",) if group == "White" else (),
            )
        )
    metrics += [
        MetricRecord("race", "White", "tpr", 0.64, 3000),
        MetricRecord("race", "Black", "tpr", 0.32, 1500),
        MetricRecord("race", "White", "ece", 0.064, 7000),
        MetricRecord("race", "Black", "ece", 0.205, 4000),
        MetricRecord(
            "race x skills_test",
            "Black & skills_test in [54.7, 64.8]",
            "slice_impact_ratio",
            0.317,
            1004,
            None,
            0.259,
            0.388,
            1.9e-5,
            reference="other groups with skills_test in [54.7, 64.8]",
            flags=("test:katz_vs_group_ratio", "slice_search"),
        ),
    ]
    black, nhpi = (760 / 4000) / 0.45, (1 / 12) / 0.45  # the records' impact ratios
    findings = [
        _finding("UGESP-4D", "eeoc_ugesp", "race=Black", "fail", black, "Black: ratio 0.42."),
        _finding("UGESP-4D", "eeoc_ugesp", "race=NHPI", "fail", nhpi, "NHPI: ratio 0.19."),
        _finding("IL-EFFECT", "illinois", "race=Black", "warn", black, "Black: effect."),
        _finding("GDPR-R71", "gdpr", "race=Black", "warn", -0.32, "Black: TPR gap -0.32."),
        *base.findings,
    ]
    attributions = dataclasses.replace(
        base.attributions,
        proxies=(
            *base.attributions.proxies,
            ProxyScore("area_code", "race", "correlation_ratio", 0.86),
        ),
        gap_decomposition=(
            GapDecomposition(
                "race", "Black", "White", 4000, 7000, -0.85, 0.0, {"area_code": -0.68}, 0.0
            ),
        ),
        proxy_ranking=(ProxyRank("area_code", "race", "Black", 0.92, 0.8, -0.68, 0.66),),
    )
    groups = (
        *base.dataset.groups,
        *(GroupCount("race", g, n, n / 11012) for g, n, _ in race),
    )
    return dataclasses.replace(
        base,
        metrics=tuple(metrics),
        findings=tuple(findings),
        attributions=attributions,
        dataset=dataclasses.replace(base.dataset, groups=groups),
        run=_run("00000000-0000-4000-8000-000000000001"),
        spec={**base.spec, "audit_date": "2026-11-20"},
    )


def credit_case() -> AuditResult:
    """Credit: a named control group, a score-gap (SMD) failure and a ratio warning."""
    base = make_result(name="golden-credit", with_attributions=False)
    metrics = (
        *base.metrics,
        MetricRecord("sex", "Female", "smd", -0.36, 480, None, -0.5, -0.2, 0.001, reference="Male"),
        MetricRecord(
            "sex",
            "Female",
            "adverse_impact_ratio",
            0.625,
            480,
            None,
            0.53,
            0.74,
            1.2e-6,
            reference="Male",
        ),
        MetricRecord("sex", "Male", "adverse_impact_ratio", 1.0, 500, reference="Male"),
    )
    findings = (
        _finding("FL-DI-SMD", "ecoa_reg_b", "sex=Female", "fail", -0.36, "Female: SMD -0.36."),
        _finding("FL-DI-AIR", "ecoa_reg_b", "sex=Female", "warn", 0.625, "Female: AIR 0.63."),
        _finding("AAA-DIFF", "aaa", "sex=Female", "warn", 0.625, "Female: 0.63 of Male."),
    )
    return dataclasses.replace(
        base,
        domain="credit",
        metrics=metrics,
        findings=findings,
        run=_run("00000000-0000-4000-8000-000000000002"),
        spec={**base.spec, "domain": "credit", "reference": {"sex": "Male"}},
    )


CASES = {"hiring": hiring_case, "credit": credit_case}


def normalise(html: str) -> str:
    """The HTML without what changes between machines and releases: chart images (their
    SVG has its own tests) and version strings."""
    html = re.sub(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+", "data:CHART", html)
    html = without_stylesheet(html, "templates/report/report.css")
    html = re.sub(r'(<meta name="generator" content="auditor )[^"]*"', r'\1VERSION"', html)
    return re.sub(r"auditor \d+\.\d+[^\s,<]*", "auditor VERSION", html)


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, AuditResult]:
    name = str(request.param)
    return name, CASES[name]()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_html_matches_the_golden_snapshot(case: tuple[str, AuditResult], preset: str) -> None:
    name, result = case
    html = normalise(render_html(result, preset))
    assert_snapshot(f"report/{name}-{preset}.html", html)


def _pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True)
    return [re.sub(r"\s+", " ", page) for page in text.stdout.split("\f")]


def test_first_page_names_every_failed_and_warned_rule_with_its_groups(
    case: tuple[str, AuditResult], tmp_path: Path
) -> None:
    _, result = case
    first = _pdf_pages(build_report(result).pdf, tmp_path)[0]
    flagged = [f for f in result.findings if f.status in ("fail", "warn")]
    assert flagged
    for f in flagged:
        assert f.rule_id in first, f.rule_id
        group = f.scope.split("=", 1)[1]
        assert group in first, (f.rule_id, group)
    assert "Verdict" in first
    # page 1 holds "what to do next" to its last step (it used to spill onto page 2)
    from auditor.report.lead import build_lead

    steps = build_lead(result).next_steps
    assert "What to do next" in first
    assert re.sub(r"\s+", " ", steps[-1]) in first, steps[-1]


def test_the_large_failing_group_leads_not_the_tiny_one() -> None:
    html = render_html(hiring_case())
    most = html.split("What matters most")[1].split("</ol>")[0]
    assert most.index("Black") < most.index("NHPI")
    # with its evidence and interval, every rule that cites it once, and its causes
    assert "impact ratio 0.422 against White (95% interval 0.382–0.462; p &lt; 0.001)" in most
    assert most.count("<strong>Black (race)</strong>") == 1
    for rule in ("UGESP-4D", "IL-EFFECT", "GDPR-R71"):
        assert rule in most.split("<strong>Black (race)</strong>")[1].split("</li>")[0]
    causes = html.split("What the audit found behind them")[1].split("</ul>")[0]
    assert "area_code carries 80.0% of the gap" in causes
    assert "0.205 for Black" in causes
    assert "0.064 for White" in causes
    assert "32.0%" in causes
    assert "64.0%" in causes


def test_slice_tables_name_their_reference_and_interval() -> None:
    html = render_html(hiring_case())
    table = html.split("Slices found by the slice search")[1].split("</table>")[0]
    assert "vs other groups with skills_test in [54.7, 64.8]" in table
    assert "[0.259–0.388]" in table
    assert "p &lt; 0.001" in table


def test_full_report_attaches_spec_result_and_fixtures(tmp_path: Path) -> None:
    pdf = build_report(credit_case()).pdf
    names = re.findall(rb"/F \((?P<n>[^)]+)\)", pdf) or re.findall(rb"/UF \(([^)]+)\)", pdf)
    listed = {n.decode("latin-1") for n in names}
    exe = shutil.which("pdfdetach")
    if exe is not None:
        path = tmp_path / "r.pdf"
        path.write_bytes(pdf)
        out = subprocess.run([exe, "-list", str(path)], capture_output=True, text=True).stdout
        listed |= set(re.findall(r"^\d+: (.+)$", out, flags=re.M))
    assert {"spec.yaml", "result.json"} <= listed
    text = " ".join(_pdf_pages(pdf, tmp_path))
    assert "8.2 Audit spec" in text
    assert "columns:" not in text  # no raw YAML printed


def test_ll144_summary_is_publishable(tmp_path: Path) -> None:
    result = hiring_case()
    artifact = build_report(result, preset="ll144")
    text = " ".join(_pdf_pages(artifact.pdf, tmp_path))
    for banned in ("golden-host", "golden-user", "SHA-256", "sha256", "Sign", "not stated"):
        assert banned not in text, banned
    assert not re.search(r"\b(Pass|Fail|PASS|FAIL)\b", text)
    assert not re.search(r"\b[0-9a-f]{16,}\b", text)  # no digest
    assert "eeoc_ugesp" not in text
    assert "Policy packs" not in text
    assert "5-301(a)–(d)" in text
    assert "5-303" in text
    for value in LL144_PUBLICATION.values():
        assert value in text, value
    # one table per category set and kind, each with a single most selected category
    html = artifact.html
    for table in re.findall(r'<table class="data ll144 .*?</table>', html, flags=re.S):
        assert table.count('class="tag tag-ref"') == 1
    assert artifact.companion is not None
    assert '"result_sha256"' in artifact.companion


@pytest.mark.parametrize("missing", ["employer", "distribution_date"])
def test_ll144_refuses_without_employer_or_distribution_date(missing: str) -> None:
    result = hiring_case()
    evidence = {k: v for k, v in result.spec["evidence"].items() if k != missing}
    bare = dataclasses.replace(result, spec={**result.spec, "evidence": evidence})
    with pytest.raises(RenderError, match=rf"evidence\.{missing} "):
        render_html(bare, "ll144")


def test_page_one_names_every_group_of_a_rule_once_each() -> None:
    """Intersections sharing their first part are named with it once (page 1 must fit and
    still name every group)."""
    from auditor.report.lead import RuleGroups

    scopes = [
        "race=Asian",
        "race=Black",
        "sex & race=Female & Asian",
        "sex & race=Female & Black",
        "sex & race=Male & Black",
    ]
    rule = RuleGroups("R", "warn", scopes, frozenset({"race", "sex & race"}))
    assert rule.text == "race: Asian, Black; sex & race: Female & (Asian, Black), Male & Black"
