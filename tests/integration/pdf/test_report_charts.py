"""Tests of the gap-decomposition waterfall, the calibration chart, the trend subsection and
the stored report preset."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from auditor.history import trend_section
from auditor.report import render_html
from auditor.report.calibration import MIN_BIN_N, calibration_series
from auditor.report.decomposition import TOP_STEPS, steps
from auditor.result import AuditResult, GapDecomposition, MetricRecord
from auditor.store import (
    Store,
    add_report,
    get_report,
    load_earlier_runs,
    save_audit,
)
from auditor.store.models import Report
from tests._db import db_url, pg_admin, store
from tests.factories import make_result
from tests.report_svgs import chart_svgs

__all__ = ["db_url", "pg_admin", "store"]  # fixtures used by name

FEATURES = [f"feature_{i:02d}" for i in range(TOP_STEPS + 3)]


def _decomposition() -> GapDecomposition:
    contributions = {f: (-1) ** i * (i + 1) / 100 for i, f in enumerate(FEATURES)}
    residual = 0.0042
    return GapDecomposition(
        "sex",
        "Female",
        "Male",
        480,
        500,
        output_gap=sum(contributions.values()) + residual,
        base_gap=0.0,
        contributions=contributions,
        residual=residual,
    )


def _reliability(group: str, n_total: int) -> list[MetricRecord]:
    """Ten score bins; bin 0 has fewer than MIN_BIN_N records (not drawn)."""
    out = []
    for b in range(10):
        n = MIN_BIN_N - 1 if b == 0 else n_total // 10
        rate = min(1.0, b / 10 + (0.08 if group == "Female" else 0.0))
        out.append(
            MetricRecord(
                "sex",
                group,
                "reliability",
                rate,
                n,
                count=round(rate * n),
                detail={"bin_low": b / 10, "bin_high": (b + 1) / 10, "mean_score": b / 10 + 0.05},
            )
        )
    return out


def chart_result() -> AuditResult:
    base = make_result()
    metrics = (
        *base.metrics,
        *_reliability("Female", 480),
        *_reliability("Male", 500),
        MetricRecord("sex", "Female", "ece", 0.061, 480),
        MetricRecord("sex", "Male", "ece", 0.012, 500),
    )
    attributions = dataclasses.replace(
        base.attributions, output="logit", gap_decomposition=(_decomposition(),)
    )
    return dataclasses.replace(base, metrics=metrics, attributions=attributions)


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(chart_result())


def _figure(html: str, start: str) -> tuple[str, str]:
    """The SVG and caption of the figure whose caption starts with ``start``."""
    figures = re.findall(
        r'<img class="chart" src="(data:[^"]+)".*?<figcaption><strong>Figure \d+\.</strong> '
        r"(.*?)</figcaption>",
        html,
        flags=re.S,
    )
    svgs = dict(zip([src for src, _ in figures], chart_svgs(html), strict=True))
    for src, caption in figures:
        if caption.startswith(start):
            return svgs[src], caption
    raise AssertionError(f"no figure caption starts with {start!r}")


# --- waterfall -------------------------------------------------------------------------------


def test_waterfall_steps_add_up_to_the_gap() -> None:
    d = _decomposition()
    bars = steps(d)
    assert [s.label for s in bars[:TOP_STEPS]] == sorted(
        FEATURES, key=lambda f: -abs(d.contributions[f])
    )[:TOP_STEPS]
    rest = bars[TOP_STEPS]
    assert rest.label == "3 other features"
    smallest = sorted(d.contributions.values(), key=abs)[:3]
    assert rest.value == pytest.approx(sum(smallest))
    assert [s.kind for s in bars[TOP_STEPS + 1 :]] == ["residual"]  # base gap 0: no bar
    assert sum(s.value for s in bars) == pytest.approx(d.output_gap)


def test_waterfall_chart_is_in_the_report_with_its_caption_and_values(html: str) -> None:
    assert "5.4 Gap decomposition" in html
    svg, caption = _figure(html, "Female against Male")
    d = _decomposition()
    # the heading above the chart names both groups with their sizes and the total gap;
    # the caption names the groups again, so a figure read alone still says what it is
    total = f"{d.output_gap:+.3f}".replace("-", "−")
    assert f"Female (n = {d.n:,}) against Male (n = 500), total gap {total}" in html
    assert "the group with the lowest impact ratio of sex" in caption
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    # every drawn step carries its value as text, the total too
    for s in steps(d):
        assert f"{s.value:+.3f}".replace("-", "−") in texts, s
        assert s.label in texts
    assert total in texts
    assert "total gap" in texts
    assert "contribution to the gap" in texts
    assert "in mean logit output" in texts


def test_waterfall_replaces_the_duplicate_gap_chart(html: str) -> None:
    # sex has a waterfall, so its per-feature gap bars are not drawn a second time
    assert "Attribution gap per feature for Female" not in html
    assert "largest attribution gaps per group" in html  # the table stays


# --- calibration -----------------------------------------------------------------------------


def test_calibration_series_match_the_records() -> None:
    result = chart_result()
    series, left_out = calibration_series(list(result.metrics), "sex")
    assert left_out == 0
    assert [s.group for s in series] == ["Female", "Male"]
    for s in series:
        expected = sorted(
            (m.detail["mean_score"], m.value, m.n)
            for m in result.metrics
            if m.metric == "reliability" and m.group == s.group and m.n >= MIN_BIN_N
        )
        assert s.points == expected
        assert len(s.points) == 9  # the bin below MIN_BIN_N is left out
    assert series[0].ece == 0.061


def test_calibration_chart_is_in_the_report_with_caption_and_legend(html: str) -> None:
    svg, caption = _figure(html, "Calibration by group: sex")
    assert caption == "Calibration by group: sex."
    # how to read the small multiples is said once, in the subsection's introduction
    intro = html[html.index('id="sec-calibration"') :]
    intro = intro[: intro.index("<figure")]
    assert "Calibration by group</h2>" in intro
    assert "dashed diagonal" in intro
    assert f"at least {MIN_BIN_N} records" in intro
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "Female (ECE 0.061)" in texts
    assert "Male (ECE 0.012)" in texts
    assert any(t.startswith("mean score in the bin") for t in texts)
    assert "observed favourable rate" in texts
    # one line per group with a marker per drawn bin: each group's markers are one path,
    # a subpath (one "M") per point
    markers = re.findall(r'<path id="[^"]+-points-(\d+)"[^>]* d="([^"]+)"', svg)
    assert [(i, d.count("M")) for i, d in markers] == [("0", 9), ("1", 9)]
    # reliability is a per-bin record: never a table column
    assert ">Reliability<" not in html


def test_every_figure_has_a_numbered_caption(html: str) -> None:
    numbers = [int(n) for n in re.findall(r"<strong>Figure (\d+)\.</strong>", html)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) == len(chart_svgs(html)) == html.count("<figcaption>")


# --- trend -----------------------------------------------------------------------------------


def _run(base: AuditResult, audit_id: str, started: str, ratio: float) -> AuditResult:
    metrics = tuple(
        dataclasses.replace(m, value=ratio, ci_low=ratio - 0.05, ci_high=ratio + 0.05)
        if (m.group, m.metric) == ("Female", "impact_ratio")
        else m
        for m in base.metrics
    )
    run = dataclasses.replace(base.run, audit_id=audit_id, started_at=started)
    return dataclasses.replace(base, metrics=metrics, run=run)


@pytest.fixture(scope="module")
def runs() -> list[AuditResult]:
    base = make_result(name="trend-audit")
    return [
        _run(base, "run-1", "2026-09-01T06:00:00+00:00", 0.625),
        _run(base, "run-2", "2026-10-01T06:00:00+00:00", 0.760),
        _run(base, "run-3", "2026-11-01T06:00:00+00:00", 0.500),
    ]


def test_no_trend_without_earlier_runs(runs: list[AuditResult]) -> None:
    assert "Changes since earlier runs" not in render_html(runs[0])
    # later runs are not "earlier runs": the first run has no trend even when given them
    assert "Changes since earlier runs" not in render_html(runs[0], history=runs[1:])


def test_trend_shows_the_previous_run_and_flags_the_move(runs: list[AuditResult]) -> None:
    html = render_html(runs[1], history=[runs[0]])
    section = html.split('id="sec-trend"')[1]
    expected = trend_section(runs[:2], "run-2")
    assert expected is not None
    (row,) = [r for r in expected["rows"] if r["label"] == "sex=Female impact_ratio"]
    assert (row["previous"], row["current"]) == (0.625, 0.760)
    assert f"{row['previous']:.3f}" in section
    assert f"{row['current']:.3f}" in section
    assert f"{row['change']:+.3f}" in section
    assert "outside the previous 95% interval" in section
    assert "run-1" in section
    assert '<a href="#sec-trend">' in html  # listed in the contents


def test_re_render_of_an_old_run_shows_the_trend_as_it_stood(runs: list[AuditResult]) -> None:
    as_then = render_html(runs[1], history=[runs[0]])
    assert render_html(runs[1], history=[runs[0], runs[2]]) == as_then
    assert "run-3" not in as_then
    latest = render_html(runs[2], history=runs[:2]).split('id="sec-trend"')[1]
    for value in ("0.760", "0.500", "−0.260"):
        assert value in latest


def test_presets_without_results_have_no_trend(runs: list[AuditResult]) -> None:
    assert "Changes since earlier runs" not in render_html(runs[1], "ll144", history=[runs[0]])


# --- storage: preset column and earlier runs -------------------------------------------------


@dataclass(frozen=True)
class _Rendered:
    html: str
    pdf: bytes
    sha256: str
    preset: str


def _rendered(preset: str) -> _Rendered:
    import hashlib

    pdf = f"%PDF-1.7 {preset}".encode()
    return _Rendered(f"<p>{preset}</p>", pdf, hashlib.sha256(pdf).hexdigest(), preset)


def test_stored_reports_record_their_preset(store: Store, runs: list[AuditResult]) -> None:
    with store.session() as session:
        save_audit(session, runs[0], report=_rendered("full"))
    with store.session() as session:
        add_report(session, "run-1", _rendered("ll144"), user="tester")
    with store.session() as session:
        presets = session.scalars(select(Report.preset).order_by(Report.id)).all()
        latest = get_report(session, "run-1")
    assert presets == ["full", "ll144"]
    assert latest is not None
    assert latest.preset == "ll144"


def test_load_earlier_runs_only_before_the_audit(store: Store, runs: list[AuditResult]) -> None:
    other = dataclasses.replace(
        make_result(name="other-audit"),
        run=dataclasses.replace(runs[0].run, audit_id="other-1"),
    )
    with store.session() as session:
        for r in (*runs, other):
            save_audit(session, r)
    with store.session() as session:
        assert [r.audit_id for r in load_earlier_runs(session, runs[0])] == []
        assert [r.audit_id for r in load_earlier_runs(session, runs[2])] == ["run-1", "run-2"]
        assert [r.audit_id for r in load_earlier_runs(session, runs[2], limit=1)] == ["run-2"]
        with pytest.raises(ValueError, match="limit"):
            load_earlier_runs(session, runs[2], limit=0)


def test_rerender_passes_the_earlier_runs_and_stores_the_preset(
    sqlite_url: str, runs: list[AuditResult]
) -> None:
    from auditor.cli_report import rerender_report
    from auditor.store import open_store

    with open_store(sqlite_url) as opened, opened.session() as session:
        for r in runs:
            save_audit(session, r)
    artifact = rerender_report("run-2", database_url=sqlite_url, user="tester")
    assert artifact.preset == "full"
    assert artifact.html == render_html(runs[1], history=[runs[0]])
    assert "Changes since earlier runs" in artifact.html
    assert "run-3" not in artifact.html  # a later run is not part of this audit's trend
    ll144 = rerender_report("run-2", preset="ll144", database_url=sqlite_url, user="tester")
    with open_store(sqlite_url) as opened, opened.session() as session:
        rows = session.execute(select(Report.sha256, Report.preset).order_by(Report.id)).all()
    assert [tuple(r) for r in rows] == [(artifact.sha256, "full"), (ll144.sha256, "ll144")]


def test_bars_beyond_the_axis_cap_are_cut_at_the_axis() -> None:
    """A ratio above the axis cap (3.0) is drawn to the axis edge, not past it (there is no
    clip path to hide it), and its value is still written."""
    from auditor.report import charts

    bars = [charts.Bar("a", 5.0, 4.9, 5.1), charts.Bar("b", 1.0, None, None, "reference")]
    svg = str(charts.ratio_chart(bars, metric="impact ratio", reference="b", chart_id="c"))
    assert "clip-path" not in svg
    grid = re.search(r'<path fill="none" stroke="#dddddd" stroke-width="0.6" d="([^"]+)"/>', svg)
    assert grid is not None
    right_tick = max(float(x) for x in re.findall(r"M([\d.]+) ", grid.group(1)))  # 3.0
    bar = re.search(r'<path fill="#56B4E9"[^>]* d="M([\d.]+) [\d.]+H([\d.]+)V', svg)
    assert bar is not None
    assert float(bar.group(2)) == right_tick
    assert ">5.000</text>" in svg
