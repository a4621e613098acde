"""Tests of the report presets (full, NYC LL144 summary, AAA impact assessment) and of
``auditor report``, which re-renders a stored audit from the database."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auditor.cli_report import report, rerender_report
from auditor.errors import RenderError
from auditor.report import build_report, render_html
from auditor.report.aaa import ELEMENTS
from auditor.report.ll144 import category_of
from auditor.report.presets import PRESETS
from auditor.report.tables import COMPACT_COLUMNS, MAX_COLUMNS
from auditor.result import AuditResult, Finding, GroupCount, MetricRecord
from tests.factories import LL144_PUBLICATION, make_result
from tests.report_svgs import chart_svgs

SCRIPT = "<script>alert(1)</script>"
LL144_HEADINGS = (
    "1. Bias-audit summary",
    "2. Rates and impact ratios by category",
    "3. Categories under 2% of the data",
    "4. Notes",
)
AAA_HEADINGS = (
    "1. About this document",
    "2. Impact-assessment elements (§4(a))",
    "3. AAA policy checks",
    "4. Provenance",
)
FULL_HEADINGS = (
    "1. Executive summary",
    "2. Scope and data",
    "3. Methodology",
    "4. Results per protected attribute",
    "5. Attribution analysis",
    "6. Findings",
    "7. Limitations",
    "8. Appendix: spec and provenance",
)


def _rates(
    attr: str, rows: list[tuple[str, int, int]], flags: Mapping[str, tuple[str, ...]]
) -> list[MetricRecord]:
    """Selection rates and impact ratios (against the highest rate) for ``rows``."""
    best = max((c / n, g) for g, n, c in rows if "unknown" not in flags.get(g, ()))
    out = []
    for group, n, count in rows:
        f = flags.get(group, ())
        out.append(MetricRecord(attr, group, "selection_rate", count / n, n, count, flags=f))
        if "unknown" not in f:
            out.append(
                MetricRecord(
                    attr,
                    group,
                    "impact_ratio",
                    (count / n) / best[0],
                    n,
                    reference=best[1],
                    p_value=0.0123,
                    flags=("test:z_test",),
                )
            )
    return out


def ll144_result(*, data_source: str | None = "Historical applications 2025") -> AuditResult:
    """A hiring result with sex, race/ethnicity, their intersection and an age grouping."""
    base = make_result(name="ll144-case")
    sex = [("Female", 480, 120), ("Male", 500, 200), ("unknown", 20, 6)]
    race = [("Asian", 300, 90), ("White", 550, 200), ("Tiny group", 15, 3), ("unknown", 135, 40)]
    inter = [("Female & Asian", 140, 40), ("Male & White", 300, 120)]
    age = [("under 40", 600, 200), ("40 and over", 400, 120)]
    unknown = {"unknown": ("unknown",)}
    metrics = [
        *_rates("sex", sex, unknown),
        *_rates("race_ethnicity", race, unknown),
        *_rates("sex & race_ethnicity", inter, {}),
        *_rates("age_band", age, {}),
        MetricRecord("sex", "all groups", "chi_square", 0.42, 1000, p_value=0.5),
        MetricRecord("sex", "Female", "brand_new_metric", 0.1234, 480),
    ]
    groups = [
        *(GroupCount("sex", g, n, n / 1000, unknown=g == "unknown") for g, n, _ in sex),
        *(GroupCount("race_ethnicity", g, n, n / 1000, unknown=g == "unknown") for g, n, _ in race),
        *(GroupCount("sex & race_ethnicity", g, n, n / 1000) for g, n, _ in inter),
        *(GroupCount("age_band", g, n, n / 1000) for g, n, _ in age),
    ]
    evidence = {**LL144_PUBLICATION, **({"data_source": data_source} if data_source else {})}
    findings = (
        *base.findings,
        Finding(
            "AAA-4-IMPACT-ASSESSMENT",
            "aaa",
            "Impact assessment",
            "audit",
            "needs_attestation",
            "info",
            None,
            None,
            "AAA §4(a)(1)-(13)",
            "Attach an impact assessment.",
            kind="document",
            rule_status="proposed",
        ),
    )
    return dataclasses.replace(
        base,
        metrics=tuple(metrics),
        dataset=dataclasses.replace(base.dataset, groups=tuple(groups)),
        findings=findings,
        spec={
            **base.spec,
            "protected": ["sex", "race_ethnicity", "age_band"],
            "min_group_size": 30,
            "audit_date": "2026-11-01",
            "evidence": evidence,
        },
    )


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return ll144_result()


def test_default_preset_is_the_full_report(result: AuditResult) -> None:
    assert render_html(result) == render_html(result, "full")
    assert set(PRESETS) == {"full", "ll144", "aaa"}


def test_unknown_preset_is_a_render_error(result: AuditResult) -> None:
    with pytest.raises(RenderError, match=r"Unknown report preset 'nope'.*full, ll144, aaa"):
        render_html(result, "nope")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_same_stored_json_renders_byte_identical_html(result: AuditResult, preset: str) -> None:
    stored = AuditResult.from_json(result.to_json())
    first = render_html(stored, preset)
    assert render_html(AuditResult.from_json(result.to_json()), preset) == first
    assert first == render_html(result, preset)


@pytest.mark.parametrize(
    ("preset", "headings", "rules"),
    [
        ("full", FULL_HEADINGS, None),
        ("ll144", LL144_HEADINGS, "none: the public summary lists no rule outcomes"),
        ("aaa", AAA_HEADINGS, "aaa"),
    ],
)
def test_pdf_text_has_headings_rules_citations_and_numbers(
    result: AuditResult, tmp_path: Path, preset: str, headings: tuple[str, ...], rules: str | None
) -> None:
    text = pdf_text(build_report(result, preset=preset).pdf, tmp_path)
    for heading in headings:
        assert heading in text, heading
    for f in result.findings:
        if rules is None or f.pack == rules:
            assert f.rule_id in text, f.rule_id
            assert f.citation in text, f.citation
    assert result.audit_id in text
    # numbers from the JSON: applicants and a selection rate and impact ratio
    assert "1,000" in text
    if preset != "aaa":  # the AAA document names the lowest ratio, not every rate
        assert "25.0%" in text  # Female selection rate 120/480
    assert "0.625" in text  # Female impact ratio against Male


def test_ll144_summary_layout(result: AuditResult) -> None:
    html = render_html(result, "ll144")
    assert "The law sets no threshold that a tool has to meet" in html
    # the employer's statements, from the spec's evidence
    for value in LL144_PUBLICATION.values():
        assert value in html, value
    assert "Sex categories: sex" in html
    assert "Race/ethnicity categories: race_ethnicity" in html
    assert "Intersectional categories (sex × race/ethnicity): sex &amp; race_ethnicity" in html
    assert "Other grouping (not an LL144 category; shown for completeness): age_band" in html
    # unknown counts per grouping, and in the summary table
    assert "sex: 20; race_ethnicity: 135" in html
    # the category under 2% is kept and flagged, exclusion described as optional
    assert "under 2%" in html
    assert "Tiny group" in html
    assert "Exclusion is optional" in html
    assert "justification" in html
    assert "kept in impact ratios" in html
    # the data source and audit date come from the spec
    assert "Historical applications 2025" in html
    assert "2026-11-01" in html
    # a test record for "all groups" is not an LL144 category
    section = html.split('id="sec-ll144-tables"')[1]
    assert "all groups" not in section
    # LL144 charts are not needed: no SVG
    assert "<svg" not in html
    assert '<img class="chart"' not in html


def test_ll144_without_a_data_source_refuses_to_render() -> None:
    with pytest.raises(RenderError, match=r"evidence\.data_source \(source and explanation"):
        render_html(ll144_result(data_source=None), "ll144")


def test_ll144_warns_about_missing_categories() -> None:
    base = ll144_result()
    only_sex = dataclasses.replace(
        base, metrics=tuple(m for m in base.metrics if m.attribute == "sex")
    )
    html = render_html(only_sex, "ll144")
    assert "Race/ethnicity categories: not in this audit" in html
    assert "Intersectional categories (sex × race/ethnicity): not in this audit" in html


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("sex", "sex"),
        ("Sex_at_birth", "sex"),
        ("race_ethnicity", "race"),
        ("sex & race_ethnicity", "intersection"),
        ("race & sex", "intersection"),
        ("age_band", "other"),
    ],
)
def test_grouping_names_map_to_ll144_categories(name: str, category: str) -> None:
    assert category_of(name) == category


def test_aaa_lists_every_element_with_evidence_or_what_is_missing(result: AuditResult) -> None:
    html = render_html(result, "aaa")
    for citation, title, _ in ELEMENTS:
        assert citation in html, citation
        assert title in html, title
    assert "has <strong>not been enacted</strong>" in html
    assert "not evidenced by this audit" in html.lower()
    rows = html.split('<tr class="aaa-')[1:]
    by_cite = {re.search(r'<span class="cite">([^<]+)</span>', r).group(1): r for r in rows}  # type: ignore[union-attr]
    assert len(by_cite) == len(ELEMENTS)
    diff = by_cite["§4(a)(4)(E)"]
    assert diff.startswith("partial") or diff.startswith("held")
    assert "Group metrics for 4 grouping(s)" in diff
    assert "Not measured by this audit: color, gender" in diff
    explain = by_cite["§4(a)(8)"]
    assert "additivity error 2.0e-04" in explain
    assert "tolerance 0.01" in explain
    assert "Counterfactual explanations" in explain
    data = by_cite["§4(a)(7)"]
    assert "1,000 decisions" in data
    assert "Historical applications 2025" in data
    assert by_cite["§4(a)(5)"].startswith("missing")
    assert by_cite["§4(a)(13)"].startswith("missing")


def test_aaa_cites_only_listed_subsections() -> None:
    for citation, _, _ in ELEMENTS:
        assert re.fullmatch(r"§4\(a\)\((\d+)\)(\([A-F]\))?", citation), citation
        number = int(re.findall(r"\((\d+)\)", citation)[0])
        assert 1 <= number <= 13
        if "(4)(" not in citation:
            assert citation.count("(") == 2


@pytest.mark.parametrize(("preset", "pack"), [("full", "gdpr"), ("aaa", "aaa")])
def test_condensed_rows_keep_every_rule_citation_status_and_scope_in_the_pdf(
    tmp_path: Path, preset: str, pack: str
) -> None:
    """A regulator reading the PDF still finds each condensed finding: rule, citation,
    status and every scope (with its message when the messages differ)."""
    base = ll144_result()

    def finding(rule: str, scope: str, status: str, message: str) -> Finding:
        return Finding(
            rule, pack, "Title", scope, status, "medium", None, None, f"Art. {rule}", message
        )

    run = [
        finding("DOC-A", f"elem_{i}", "needs_attestation", "evidence.x is not set.")
        for i in range(6)
    ]
    differing = [
        finding("DOC-B", f"grp_{i}", "needs_attestation", f"grp_{i}: ratio 0.{i}1 is flagged.")
        for i in range(5)
    ]
    met = [finding("CHK-C", f"feat_{i}", "pass", "below the review level.") for i in range(7)]
    result = dataclasses.replace(base, findings=(*base.findings, *run, *differing, *met))
    html = render_html(result, preset)
    assert html.count("DOC-A, 6 scopes") == 1
    text = pdf_text(build_report(result, preset=preset).pdf, tmp_path)
    for rule in ("DOC-A", "DOC-B", "CHK-C"):
        assert rule in text
        assert f"Art. {rule}" in text
    assert "Needs attestation for each of the 6 scopes listed below" in text
    assert "Pass for each of the 7 scopes listed below" in text
    for f in (*run, *differing, *met):
        assert f.scope in text
    for i in range(5):
        assert f"grp_{i}: ratio 0.{i}1 is flagged." in text
    assert "Message: [scope]: " not in text  # the shared message has no leading scope
    assert "Message: evidence.x is not set." in text


@pytest.mark.parametrize("preset", ["ll144", "aaa"])
def test_presets_escape_hostile_strings(preset: str) -> None:
    base = ll144_result(data_source=SCRIPT)
    hostile = dataclasses.replace(
        base,
        name="evil",
        metrics=(
            *base.metrics,
            MetricRecord("sex", SCRIPT, "selection_rate", 0.5, 40, 20),
        ),
        findings=(
            *base.findings,
            Finding("X", "nyc_ll144", SCRIPT, SCRIPT, "warn", "low", None, None, SCRIPT, SCRIPT),
            Finding("Y", "aaa", SCRIPT, SCRIPT, "warn", "low", None, None, SCRIPT, SCRIPT),
        ),
        spec={
            **base.spec,
            "evidence": {
                **LL144_PUBLICATION,
                "data_source": SCRIPT,
                "human_review_process": SCRIPT,
                "employer": SCRIPT,
            },
        },
    )
    html = render_html(hostile, preset)
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_full_report_renders_unknown_metrics_and_splits_wide_tables(result: AuditResult) -> None:
    extra = tuple(
        MetricRecord("sex", g, f"new_metric_{i}", 0.5 + i / 100, 480)
        for i in range(COMPACT_COLUMNS + 2)
        for g in ("Female", "Male")
    )
    html = render_html(dataclasses.replace(result, metrics=(*result.metrics, *extra)))
    assert "New metric 0" in html
    assert f"New metric {COMPACT_COLUMNS + 1}" in html
    assert "Brand new metric" in html
    # metrics outside the key families go to the compact appendix tables, in parts
    appendix = html.split('id="sec-measures"')[1]
    assert "Further measures (part 1 of 2): sex" in appendix
    assert "Further measures (part 2 of 2): sex" in appendix
    results = html.split('id="sec-results"')[1].split('id="sec-attribution"')[0]
    assert '<th class="num">New metric 0' not in results
    assert '<th class="num">New metric 0</th>' in appendix
    for table in re.findall(r"<table class=\"data results.*?</table>", html, flags=re.S):
        header = table.split("</thead>")[0]
        # group, n, favourable (selection only), metric columns, notes
        assert header.count("<th") <= MAX_COLUMNS + 4
    for table in re.findall(r"<table class=\"data compact.*?</table>", html, flags=re.S):
        # group, n, metric columns
        assert len(re.findall(r"<th[ >]", table.split("</thead>")[0])) <= COMPACT_COLUMNS + 2


# --- auditor report (CLI) --------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report)

    @app.command("noop")
    def noop() -> None:  # a second command keeps "report" a sub-command
        """Nothing."""

    return app


@pytest.fixture
def stored(sqlite_url: str, result: AuditResult) -> tuple[str, AuditResult]:
    from auditor.store import open_store, save_audit

    store = open_store(sqlite_url)
    try:
        with store.session() as session:
            save_audit(session, result, report=build_report(result))
    finally:
        store.dispose()
    return sqlite_url, result


def _reports(url: str, audit_id: str) -> list[tuple[str, str]]:
    from sqlalchemy import text

    from auditor.store import open_store

    store = open_store(url)
    try:
        with store.session() as session:
            rows = session.execute(
                text("SELECT sha256, html FROM reports WHERE audit_id = :a ORDER BY id"),
                {"a": audit_id},
            ).all()
    finally:
        store.dispose()
    return [(r[0], r[1]) for r in rows]


def test_cli_rerenders_from_the_database_and_stores_a_new_row(
    stored: tuple[str, AuditResult], tmp_path: Path
) -> None:
    url, result = stored
    out = tmp_path / "sub" / "ll144.pdf"
    run = CliRunner().invoke(
        _app(), ["report", result.audit_id, "--preset", "ll144", "--out", str(out), "--db", url]
    )
    assert run.exit_code == 0, run.output
    assert out.read_bytes().startswith(b"%PDF")
    rows = _reports(url, result.audit_id)
    assert len(rows) == 2  # the original report stays; the re-render is a new row
    sha, html = rows[-1]
    assert sha in run.output
    assert html == render_html(result, "ll144")  # same stored JSON, same HTML bytes
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    # the companion JSON beside the PDF carries the stored audit's digest
    companion = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert companion["audit"]["result_sha256"] == _stored_digest(url, result.audit_id)
    assert "Companion JSON:" in run.output

    again = CliRunner().invoke(_app(), ["report", result.audit_id, "--db", url, "--quiet"])
    assert again.exit_code == 0, again.output
    assert again.output == ""
    rows = _reports(url, result.audit_id)
    assert len(rows) == 3
    assert rows[-1][1] == rows[0][1]  # the full preset re-renders the original HTML


def _stored_digest(url: str, audit_id: str) -> str:
    from sqlalchemy import text

    from auditor.store import open_store

    store = open_store(url)
    try:
        with store.session() as session:
            digest = session.execute(
                text("SELECT result_sha256 FROM audits WHERE id = :a"), {"a": audit_id}
            ).scalar_one()
    finally:
        store.dispose()
    return str(digest)


def test_cli_ll144_without_employer_and_distribution_date_exits_2_and_writes_nothing(
    sqlite_url: str, result: AuditResult, tmp_path: Path
) -> None:
    from auditor.store import open_store, save_audit

    evidence = {
        k: v
        for k, v in result.spec["evidence"].items()
        if k not in ("employer", "distribution_date")
    }
    bare = dataclasses.replace(result, spec={**result.spec, "evidence": evidence})
    store = open_store(sqlite_url)
    try:
        with store.session() as session:
            save_audit(session, bare)
    finally:
        store.dispose()
    out = tmp_path / "out" / "ll144.pdf"
    run = CliRunner().invoke(
        _app(),
        ["report", bare.audit_id, "--preset", "ll144", "--out", str(out), "--db", sqlite_url],
    )
    assert run.exit_code == 2, run.output
    text = " ".join(run.output.split())
    assert "evidence.employer" in text
    assert "evidence.distribution_date" in text
    assert "evidence.aedt_name" not in text  # only what is missing is named
    assert "Traceback" not in run.output
    assert not out.parent.exists() or not list(out.parent.iterdir())
    assert _reports(sqlite_url, bare.audit_id) == []


def test_cli_unknown_audit_id_exits_2(stored: tuple[str, AuditResult], tmp_path: Path) -> None:
    url, result = stored
    out = tmp_path / "x.pdf"
    run = CliRunner().invoke(_app(), ["report", "no-such-id", "--db", url, "--out", str(out)])
    assert run.exit_code == 2
    assert "No audit with id 'no-such-id'" in run.output
    assert not out.exists()
    assert len(_reports(url, result.audit_id)) == 1


def test_cli_unknown_preset_exits_2(stored: tuple[str, AuditResult]) -> None:
    url, result = stored
    run = CliRunner().invoke(_app(), ["report", result.audit_id, "--preset", "x", "--db", url])
    assert run.exit_code == 2
    assert "--preset must be one of full, ll144, aaa" in run.output


def test_rerender_report_python_api(stored: tuple[str, AuditResult]) -> None:
    url, result = stored
    artifact = rerender_report(result.audit_id, preset="aaa", database_url=url, user="tester")
    assert artifact.html == render_html(result, "aaa")
    assert _reports(url, result.audit_id)[-1][0] == artifact.sha256


def test_charts_are_light_svg_without_hatch_patterns(result: AuditResult) -> None:
    html = render_html(result)
    svgs = chart_svgs(html)
    assert svgs
    for svg in svgs:
        assert "<pattern" not in svg  # hatches became outlines (slow in WeasyPrint)
        assert not re.search(r'<g(?: id="[^"]*")?>', svg)  # no empty wrapper groups
        assert svg.count("<g") == svg.count("</g>")
        assert "rotate(-0" not in svg
    # the groups' names are still text in the chart
    assert "Female" in svgs[0]
    assert ">Male<" in svgs[0]


def test_ll144_lists_only_the_declared_groupings() -> None:
    """Slice-search records ("sex x feature bin") are not LL144 categories."""
    base = make_result()
    slice_record = MetricRecord(
        "sex x skills_test",
        "Female | skills_test in [0, 40)",
        "slice_impact_ratio",
        0.5,
        60,
        count=9,
        reference="Female",
        flags=("slice",),
    )
    result = dataclasses.replace(
        base,
        spec={
            **base.spec,
            "protected": ["sex"],
            "intersections": [],
            "evidence": {**LL144_PUBLICATION, "data_source": "Historical applications"},
        },
        metrics=(*base.metrics, slice_record),
    )
    html = render_html(result, preset="ll144")
    assert "skills_test" not in html
    assert "Sex categories" in html


def _region_result(groups: int) -> AuditResult:
    """The factory result plus a ``region`` grouping with ``groups`` groups (long tables)."""
    base = make_result()
    metrics: list[MetricRecord] = []
    sizes: list[GroupCount] = []
    for i in range(groups):
        g, n = f"Group number {i:02d}", 100 + i
        rate = 0.3 + i / 200
        metrics += [
            MetricRecord("region", g, "selection_rate", rate, n, 30 + i, 0.2, 0.4),
            MetricRecord(
                "region",
                g,
                "impact_ratio",
                rate / 0.3,
                n,
                None,
                0.7,
                0.9,
                0.01,
                reference="Group number 00",
                flags=("test:z_test",),
            ),
            MetricRecord("region", g, "scoring_rate", rate, n, 30 + i, 0.2, 0.4),
        ]
        sizes.append(GroupCount("region", g, n, 0.01))
    return dataclasses.replace(
        base,
        metrics=(*metrics, *base.metrics),
        dataset=dataclasses.replace(base.dataset, groups=(*sizes, *base.dataset.groups)),
    )


def _last_lines(pdf: bytes, tmp_path: Path) -> list[str]:
    """The last text line of each page, page footer left out."""
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    pages = subprocess.run(
        [exe, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout.split("\f")
    last = []
    for page in pages:
        lines = [" ".join(x.split()) for x in page.splitlines() if x.strip()]
        lines = [x for x in lines if not re.fullmatch(r"Page \d+ of \d+", x)]
        if lines:
            last.append(lines[-1])
    return last


@pytest.mark.parametrize("groups", [20, 28, 36])
def test_no_page_ends_with_a_heading_or_a_table_caption(tmp_path: Path, groups: int) -> None:
    # With these group counts and only `h2 { break-after: avoid }`, heading 4.2 and the
    # caption of its first table ("Selection: sex") ended a page while the table began on
    # the next one.
    result = _region_result(groups)
    html = render_html(result)
    titles = {
        " ".join(re.sub(r"<[^>]+>", " ", m).split()).replace("&amp;", "&")
        for m in re.findall(r"<(?:h1|h2|h3|caption)[^>]*>(.*?)</(?:h1|h2|h3|caption)>", html)
    }
    ends = _last_lines(build_report(result).pdf, tmp_path)
    assert len(ends) > 6
    assert not [line for line in ends if line in titles]
