"""Tests of the HTML/PDF audit report (auditor.report)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

import jinja2
import pytest

import auditor.report.render as render_mod
from auditor.errors import RenderError
from auditor.report import ReportArtifact, build_report, charts, filters, render_html, render_pdf
from auditor.report.fetcher import DataOnlyFetcher, FetchRefusedError
from auditor.report.findings import build_packs
from auditor.report.summary import key_numbers, summary_sentences
from auditor.report.tables import build_tables
from auditor.result import AuditResult, Finding, GroupCount, MetricRecord
from tests.factories import make_result
from tests.report_svgs import chart_svgs

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src="http://example.com/x.png">'
FILE_IMG = '<img src="file:///etc/passwd">'
SECTIONS = (
    "1. Executive summary",
    "2. Scope and data",
    "3. Methodology",
    "4. Results per protected attribute",
    "5. Attribution analysis",
    "6. Findings",
    "7. Limitations",
    "8. Appendix: spec and provenance",
)


PROXY_FINDINGS = tuple(
    Finding("P-1", "pack", "Proxy", f"f{i}~sex", "pass", "low", 0.1 * i, 0.3, "c", "m")
    for i in range(5)
)


def hostile_result() -> AuditResult:
    """The factory result with user-controlled strings that try to inject markup."""
    base = make_result()
    metrics = (
        *base.metrics,
        MetricRecord("sex", SCRIPT, "selection_rate", 0.5, 40, 20, 0.35, 0.65),
        MetricRecord(
            "sex", SCRIPT, "impact_ratio", 1.25, 40, None, 0.9, 1.6, 0.02, reference="Male"
        ),
    )
    groups = (*base.dataset.groups, GroupCount("sex", SCRIPT, 40, 0.04))
    finding = Finding(
        "X-1",
        "custom_pack",
        f"Title {IMG}",
        f"sex={SCRIPT}",
        "warn",
        "low",
        f"{SCRIPT}",
        None,
        "none",
        f"message {IMG}",
    )
    return dataclasses.replace(
        base,
        metrics=metrics,
        dataset=dataclasses.replace(
            base.dataset, groups=groups, features=(*base.dataset.features, FILE_IMG)
        ),
        findings=(*base.findings, finding, *PROXY_FINDINGS),
        warnings=(*base.warnings, f"warning {IMG}", f"warning {SCRIPT}"),
        spec={**base.spec, "evidence": {"note": FILE_IMG}},
    )


class _SpyFetcher(DataOnlyFetcher):
    instances: list[_SpyFetcher] = []  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__()
        _SpyFetcher.instances.append(self)


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return hostile_result()


@pytest.fixture(scope="module")
def html(result: AuditResult) -> str:
    return render_html(result)


@pytest.fixture(scope="module")
def built(result: AuditResult) -> tuple[ReportArtifact, list[str], list[str]]:
    """One PDF render per module, recording every URL requested and every WeasyPrint log."""
    logs: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logs.append(f"{record.levelname}: {record.getMessage()}")

    handler = _Collect(level=logging.WARNING)
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    _SpyFetcher.instances.clear()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(render_mod, "DataOnlyFetcher", _SpyFetcher)
            artifact = build_report(result)
    finally:
        logger.removeHandler(handler)
    requested = [url for f in _SpyFetcher.instances for url in f.requested]
    assert _SpyFetcher.instances, "render_pdf did not use the data-only fetcher"
    return artifact, requested, logs


# --- HTML content -------------------------------------------------------------------------


def test_html_has_every_section_and_the_audit_id(html: str, result: AuditResult) -> None:
    for heading in SECTIONS:
        assert heading in html, heading
    assert result.audit_id in html
    assert "<title>factory-audit</title>" in html
    assert 'href="#sec-results"' in html
    assert 'id="sec-results"' in html


def test_ratios_name_their_reference_group(html: str) -> None:
    # in the ratio column's heading (once per table) and in the key numbers
    assert re.search(r'Impact ratio \[95% CI\]<span class="vs">vs Male</span>', html)
    assert html.count("vs Male") >= 2
    assert "impact ratio against Male with 95% intervals" in html  # the chart's caption


def test_small_sample_and_unknown_rows_are_marked(html: str) -> None:
    assert re.search(r'<tr class="[^"]*row-unknown[^"]*row-small', html)
    assert '<span class="tag tag-small">small n</span>' in html
    assert '<span class="tag tag-unknown">unknown</span>' in html
    assert "counted but excluded from ratios" in html
    # the row's marks sit under the group's name (the table has no notes column)
    assert re.search(
        r'<td class="group">unknown<span class="tags">.*?tag-unknown.*?</span></td>', html
    )


def test_four_fifths_is_labelled_a_convention(html: str) -> None:
    assert "four-fifths convention (0.80)" in html
    assert "not a legal threshold" in html
    assert "NYC LL144 sets none" in html


def test_report_does_not_call_the_model_fair_unbiased_or_compliant() -> None:
    text = render_html(make_result())
    words = re.findall(r"\b(fair|unbiased|compliant)\b", text, flags=re.IGNORECASE)
    assert words == []


def test_decisions_only_result_states_why_there_are_no_attributions() -> None:
    text = render_html(make_result(with_attributions=False))
    assert "Attributions were not computed" in text
    assert "No model was given." in text
    assert "5.1 Global importance" not in text


def test_key_number_sentence_says_how_sure_we_are(result: AuditResult, html: str) -> None:
    # the full report states it on page 1 with its interval and p-value (the sentence per
    # key number stays available to other layouts)
    assert "impact ratio 0.625 against Male (95% interval 0.530–0.740; p &lt; 0.001)" in html
    tables = build_tables(result, None)
    sentences = summary_sentences(result, tables, key_numbers(tables))
    text = " ".join(sentences)
    assert "the lowest impact ratio measured was 0.625 for Female relative to Male" in text
    assert "The whole 95% interval lies below 0.80." in text


def test_charts_are_embedded_deterministic_well_formed_svg(html: str) -> None:
    assert html.count("<figure") == html.count("<figcaption>") == 3
    svgs = chart_svgs(html)
    assert len(svgs) == 3
    assert "<svg" not in html  # embedded as data: URLs, outside the HTML cascade
    for svg in svgs:
        assert svg.startswith("<svg ")
        for leftover in ("<?xml", "<!DOCTYPE svg", "<metadata>"):
            assert leftover not in svg
        ElementTree.fromstring(svg)  # a strict XML parser reads it (WeasyPrint does)
        ids = re.findall(r'\sid="([^"]+)"', svg)
        assert len(ids) == len(set(ids))


def test_html_is_deterministic(result: AuditResult, html: str) -> None:
    assert render_html(result) == html
    assert render_html(AuditResult.from_json(result.to_json())) == html


# --- escaping and fetching ----------------------------------------------------------------


def test_user_strings_are_escaped(html: str) -> None:
    assert "<script" not in html
    # the only images are the charts, embedded as data: URLs
    assert html.count("<img") == html.count('<img class="chart" src="data:image/svg+xml;base64,')
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=&#34;http://example.com/x.png&#34;&gt;" in html
    assert "&lt;b&gt;escaped&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.png",
        "https://example.com/x.css",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "FILE:///etc/hosts",
    ],
)
def test_fetcher_refuses_everything_but_data_urls(url: str) -> None:
    fetcher = DataOnlyFetcher()
    with pytest.raises(FetchRefusedError, match="only embed data: URLs"):
        fetcher.fetch(url)
    assert fetcher.requested == [url]


def test_fetcher_serves_data_urls() -> None:
    response = DataOnlyFetcher().fetch("data:text/plain;base64,aGVsbG8=")
    try:
        assert response.read() == b"hello"
    finally:
        response.close()


@pytest.mark.parametrize("src", ["http://example.com/x.png", "file:///etc/passwd"])
def test_render_pdf_stops_on_an_external_reference(src: str) -> None:
    with pytest.raises(RenderError, match="external resource"):
        render_pdf(f'<p>x</p><img src="{src}">', title="t", author="a", subject="s")


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_is_a_pdf_and_fetched_nothing(
    built: tuple[ReportArtifact, list[str], list[str]], html: str
) -> None:
    artifact, requested, logs = built
    assert artifact.pdf.startswith(b"%PDF")
    assert artifact.sha256 == hashlib.sha256(artifact.pdf).hexdigest()
    assert artifact.html == html
    # nothing but the charts' own data: URLs, each one embedded in the HTML
    assert requested
    assert all(url.startswith("data:image/svg+xml;base64,") for url in requested)
    assert all(f'src="{url}"' in html for url in requested)
    assert not [line for line in logs if "HarfBuzz" not in line], logs


def test_pdf_pages_metadata_and_text(
    built: tuple[ReportArtifact, list[str], list[str]], result: AuditResult, tmp_path: Path
) -> None:
    pdfinfo, pdftotext = shutil.which("pdfinfo"), shutil.which("pdftotext")
    if pdfinfo is None or pdftotext is None:
        pytest.skip("poppler-utils (pdfinfo, pdftotext) not installed")
    path = tmp_path / "report.pdf"
    path.write_bytes(built[0].pdf)
    info = subprocess.run([pdfinfo, str(path)], capture_output=True, text=True, check=True)
    fields = dict(line.split(":", 1) for line in info.stdout.splitlines() if ":" in line)
    assert int(fields["Pages"]) > 1
    assert fields["Title"].strip() == result.name
    assert "tester" in fields["Author"]
    assert fields["Page size"].strip().endswith("(A4)")
    text = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert result.audit_id in text
    assert re.search(r"Page 2 of \d+", text)
    assert "Executive summary" in text


def test_write_is_atomic_and_creates_folders(
    built: tuple[ReportArtifact, list[str], list[str]], tmp_path: Path
) -> None:
    artifact = built[0]
    target = tmp_path / "a" / "b" / "report.pdf"
    artifact.write(target)
    assert target.read_bytes() == artifact.pdf
    artifact.write(target)  # overwrite in place
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.pdf"]


def test_write_failure_is_a_render_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RenderError, match="Cannot write the report"):
        ReportArtifact("", b"%PDF", "").write(blocker / "report.pdf")


# --- pieces ---------------------------------------------------------------------------------


def test_missing_template_is_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_mod, "TEMPLATE", "report/missing.html.j2")
    with pytest.raises(RenderError, match=r"missing\.html\.j2"):
        render_html(make_result())


def test_environment_is_strict_and_autoescapes() -> None:
    env = render_mod.environment()
    assert env is render_mod.environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    with pytest.raises(jinja2.UndefinedError, match="undefined"):
        env.from_string("{{ nothing }}").render()


def test_filters() -> None:
    assert filters.percent(0.625) == "62.5%"
    assert filters.number(1234567) == "1,234,567"
    assert filters.fixed(0.6251, 3) == "0.625"
    assert filters.pvalue(1.2e-6) == "< 0.001"
    assert filters.pvalue(0.0421) == "0.042"
    assert filters.dash(None) == "—"
    assert filters.percent(None) == filters.fixed(float("nan")) == "—"
    assert filters.points(-0.15) == "−15.0 pp"
    assert filters.observed(0.8) == "0.8"
    assert filters.short_hash("a" * 64) == "a" * 12 + "…"


def test_many_groups_make_taller_readable_charts() -> None:
    def bars(n: int) -> list[charts.Bar]:
        return [
            charts.Bar(
                f"Female & group number {i} with a long name",
                0.5 + i / 50,
                0.4,
                0.7,
                "reference" if i == 0 else "normal",
            )
            for i in range(n)
        ]

    few = charts.rate_ratio_chart(
        bars(3),
        bars(3),
        rate_metric="selection rate",
        ratio_metric="impact ratio",
        reference="g0",
        reference_rate=0.5,
        chart_id="few",
    )
    many = charts.rate_ratio_chart(
        bars(24),
        bars(24),
        rate_metric="selection rate",
        ratio_metric="impact ratio",
        reference="g0",
        reference_rate=0.5,
        chart_id="many",
    )

    def height(svg: str) -> float:
        match = re.search(r'height="([\d.]+)pt"', svg)
        assert match
        return float(match.group(1))

    assert height(str(many)) > 2.5 * height(str(few))
    assert 'id="many-' in str(many)
    assert 'id="few-' not in str(many)
    assert "four-fifths convention (0.80)" in str(many)
    assert ' style="' not in str(many), "SVG styles must be presentation attributes"


def test_long_runs_of_met_checks_share_one_row_that_keeps_every_scope(html: str) -> None:
    base = make_result()
    proxies = PROXY_FINDINGS
    failed = Finding("P-1", "pack", "Proxy", "zip~sex", "fail", "low", 0.5, 0.3, "c", "m")
    text = Finding("D-1", "pack", "Doc", "dpia", "pass", "low", "x" * 60, None, "c", "m")
    packs = build_packs(dataclasses.replace(base, findings=(*proxies, failed, text)))
    (pack,) = packs
    assert pack.count == 7
    assert [r.first.status for r in pack.rows] == ["fail", "pass", "pass"]
    condensed = pack.rows[1]
    assert condensed.condensed
    assert len(condensed.findings) == 5
    assert condensed.observed_range == "0–0.4"
    assert pack.rows[2].long_observed
    for i in range(5):
        assert f"f{i}~sex: " in html
    assert "P-1, 5 scopes (scope: observed):" in html


def _attestations(messages: list[str]) -> list[Finding]:
    return [
        Finding(
            "DOC-1",
            "pack",
            "Doc",
            f"item_{i}",
            "needs_attestation",
            "medium",
            None,
            None,
            "Art. 1(2)",
            text,
        )
        for i, text in enumerate(messages)
    ]


def test_runs_of_attestations_share_one_row_that_keeps_every_scope_and_message() -> None:
    base = make_result()
    same = _attestations([f"item_{i}: evidence.items is not set." for i in range(5)])
    other = Finding("DOC-2", "pack", "Other", "x", "needs_attestation", "low", None, None, "c", "m")
    warn = Finding("W-1", "pack", "Warned", "a", "warn", "low", 0.7, 0.8, "c", "m")
    warns = [dataclasses.replace(warn, scope=f"a{i}") for i in range(5)]
    (pack,) = build_packs(dataclasses.replace(base, findings=(*same, other, *warns)))
    assert pack.count == 11
    # warnings are never condensed; the attestation run becomes one row, the lone one stays
    assert [len(r.findings) for r in pack.rows] == [1] * 5 + [5, 1]
    row = pack.rows[5]
    assert row.messages == ["[scope]: evidence.items is not set."]
    assert not row.per_scope_messages
    assert not row.any_observed
    html = render_html(dataclasses.replace(base, findings=(*same, other)))
    assert "Message: [scope]: evidence.items is not set." in html
    assert "DOC-1, 5 scopes:</strong> item_0; item_1; item_2; item_3; item_4" in html


def test_attestations_with_different_messages_keep_each_message_beside_its_scope() -> None:
    base = make_result()
    run = _attestations([f"item_{i}: ratio 0.{i} is flagged; document it." for i in range(4)])
    run = [dataclasses.replace(f, observed=i / 10) for i, f in enumerate(run)]
    (pack,) = build_packs(dataclasses.replace(base, findings=tuple(run)))
    (row,) = pack.rows
    assert row.per_scope_messages
    assert row.scope_messages[2] == (run[2], "ratio 0.2 is flagged; document it.")
    html = render_html(dataclasses.replace(base, findings=tuple(run)))
    for i in range(4):
        assert f"<br>item_{i} [0{'.' + str(i) if i else ''}]: ratio 0.{i} is flagged" in html


def test_a_run_is_condensed_only_while_rule_citation_and_severity_agree() -> None:
    base = make_result()
    run = _attestations(["m"] * 4)
    mixed = [*run[:2], *(dataclasses.replace(f, citation="Art. 9") for f in run[2:])]
    (pack,) = build_packs(dataclasses.replace(base, findings=tuple(mixed)))
    assert [len(r.findings) for r in pack.rows] == [1, 1, 1, 1]
    (pack,) = build_packs(dataclasses.replace(base, findings=tuple(run)))
    assert [len(r.findings) for r in pack.rows] == [4]


def test_charts_are_identical_when_rendered_from_several_threads() -> None:
    def chart(i: int) -> str:
        bars = [charts.Bar(f"g{j}", 0.5 + j / 10, 0.4, 0.9) for j in range(3)]
        return str(
            charts.ratio_chart(bars, metric="impact ratio", reference="g2", chart_id=f"t{i}")
        )

    sequential = [chart(i) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(chart, range(4)))
    assert parallel == sequential


def test_a_result_with_nothing_measured_still_renders() -> None:
    base = make_result(with_attributions=False)
    empty = dataclasses.replace(
        base,
        spec={},
        metrics=(),
        findings=(),
        warnings=(),
        dataset=dataclasses.replace(base.dataset, rows=0, favorable=0, groups=(), features=()),
        provenance=dataclasses.replace(base.provenance, model_sha256=None, policy_packs={}),
    )
    text = render_html(empty)
    assert "No group metrics were recorded." in text
    assert "No policy pack was evaluated." in text
    assert "no model (decisions-only audit)" in text
