"""The report's charts written as SVG directly (auditor.report.svgdraw): what every chart
guarantees (well-formed, escaped, deterministic, ids prefixed, a title) and that what it
draws is what it measures (ticks where matplotlib puts them, bars as long as their
values, legend entries present, text widths from the font's metrics)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from xml.etree import ElementTree

import pytest
from markupsafe import Markup

from auditor.report import charts
from auditor.report.chart_cache import clear_chart_cache
from auditor.report.charts_calibration import calibration_chart
from auditor.report.charts_waterfall import waterfall_chart
from auditor.report.explanation_quality import deletion_chart
from auditor.report.svgaxes import tick_labels, ticks
from auditor.report.svgdraw import fit, text_width

SVG = "{http://www.w3.org/2000/svg}"
NASTY = ['a<b & "c" $x$', "</text><script>", "d'e & f"]


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    clear_chart_cache()
    yield
    clear_chart_cache()


def _quality() -> dict[str, object]:
    curve = [1.0, 0.6, 0.3, None, 0.05, 0.0]
    return {
        "computed": True,
        "primary": "tree_shap",
        "methods": [
            {"method": "tree_shap", "deletion_curve": curve},
            {"method": "lime", "deletion_curve": [1.0, 0.8, 0.5, 0.4, 0.1, 0.0]},
        ],
        "random_order": {"deletion_auc": 0.5, "deletion_curve": [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]},
        "curve_fraction": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
    }


def _bars(names: list[str]) -> list[charts.Bar]:
    return [
        charts.Bar(n, 0.4 + i / 10, 0.3 + i / 10, 0.5 + i / 10, "reference" if i == 0 else "normal")
        for i, n in enumerate(names)
    ]


CHARTS: dict[str, Callable[[str], Markup]] = {
    "rate_ratio": lambda cid: charts.rate_ratio_chart(
        _bars(NASTY),
        _bars(NASTY),
        rate_metric="selection rate",
        ratio_metric="impact ratio",
        reference=NASTY[0],
        reference_rate=0.4,
        chart_id=cid,
    ),
    "ratio": lambda cid: charts.ratio_chart(
        _bars(NASTY), metric="adverse impact ratio", reference=NASTY[1], chart_id=cid
    ),
    "importance": lambda cid: charts.importance_chart(
        [(n, 0.1 * (i + 1)) for i, n in enumerate(NASTY)], chart_id=cid
    ),
    "gap": lambda cid: charts.gap_chart(
        [(n, 0.1 * (i - 1)) for i, n in enumerate(NASTY)],
        group=NASTY[0],
        reference=NASTY[2],
        chart_id=cid,
    ),
    "calibration": lambda cid: calibration_chart(
        [(n, 0.05, [(0.1, 0.2, 50), (0.5, 0.4, 50), (0.9, 0.95, 50)]) for n in NASTY],
        chart_id=cid,
    ),
    "waterfall": lambda cid: waterfall_chart(
        [*((n, 0.05 * (i - 1), "feature") for i, n in enumerate(NASTY)), ("rest", 0.01, "rest")],
        total=0.06,
        output="logit",
        chart_id=cid,
    ),
    "deletion": lambda cid: deletion_chart(_quality(), chart_id=cid),
}


def _texts(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    return [t.text or "" for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", list(CHARTS))
def test_every_chart_is_well_formed_escaped_titled_and_prefixed(name: str) -> None:
    svg = str(CHARTS[name](f"fig-{name}"))
    root = ElementTree.fromstring(svg)  # a strict XML parser reads it (WeasyPrint does)
    assert root.tag == f"{SVG}svg"
    assert root.get("class") == "chart"
    assert root.get("role") == "img"
    width, height = root.get("width", ""), root.get("height", "")
    assert width.endswith("pt")
    assert height.endswith("pt")
    assert root.get("viewBox") == f"0 0 {width[:-2]} {height[:-2]}"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text
    assert root.get("aria-labelledby") == title.get("id")
    ids = [e.get("id") for e in root.iter() if e.get("id") is not None]
    assert ids
    assert all(i is not None and i.startswith(f"fig-{name}-") for i in ids)
    assert len(ids) == len(set(ids))
    # user text is text: escaped in the markup, read back unchanged
    assert "<script>" not in svg
    if name != "deletion":  # (method names only)
        texts = _texts(svg)
        assert any(t.startswith('a<b & "c" $x$') for t in texts)  # "$" printed, not maths
        assert any(t.startswith("d'e & f") for t in texts)
        assert any(t.startswith("</text><script>") for t in texts)


@pytest.mark.parametrize("name", list(CHARTS))
def test_equal_input_gives_byte_identical_svg(name: str) -> None:
    first = str(CHARTS[name]("same"))
    clear_chart_cache()
    assert str(CHARTS[name]("same")) == first
    assert str(CHARTS[name]("other")) != first  # the ids follow the chart id


def test_ticks_are_where_matplotlib_puts_them() -> None:
    from matplotlib.figure import Figure

    from auditor.report.plot import settings

    cases = [(0, 1.22, 2.6), (0, 0.63, 2.6), (-0.37, 0.21, 1.2), (0, 0.049, 5.5), (-1.1, 1.2, 4)]
    for lo, hi, inches in cases:
        with settings():  # the report's 8 pt tick labels
            fig = Figure(figsize=(inches, 2.5))
            ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            for axis, vertical in ((ax.xaxis, False), (ax.yaxis, True)):
                want = [t for t in axis.get_majorticklocs() if lo - 1e-12 <= t <= hi + 1e-12]
                length = 72 * (2.5 if vertical else inches)
                assert ticks(lo, hi, length, vertical=vertical) == pytest.approx(want)


def test_tick_labels_use_the_fewest_decimals_and_a_true_minus() -> None:
    assert tick_labels([0.0, 0.5, 1.0]) == ["0.0", "0.5", "1.0"]
    assert tick_labels([0.0, 1.0, 2.0]) == ["0", "1", "2"]
    assert tick_labels([-0.1, -0.05, 0.0, 0.05]) == ["−0.10", "−0.05", "0.00", "0.05"]
    assert tick_labels([0.0, 0.2, 0.4], percent=True) == ["0%", "20%", "40%"]
    assert tick_labels([0.0, 0.025, 0.05], percent=True) == ["0.0%", "2.5%", "5.0%"]
    assert tick_labels([0.0, 2e-6, 4e-6]) == ["0", "2e−6", "4e−6"]


def test_text_widths_come_from_the_font() -> None:
    # DejaVu Sans: every digit advances 1303 of 2048 units; "AV" is a kerned pair
    assert text_width("0123456789", 10.0) == pytest.approx(10 * 10.0 * 1303 / 2048)
    assert text_width("AV", 8.0) < text_width("A", 8.0) + text_width("V", 8.0)
    assert text_width("total", 8.0, bold=True) > text_width("total", 8.0)
    assert text_width("", 8.0) == 0.0
    long = "Female & Black or African American & over 40"
    short = fit(long, 8.0, 100.0)
    assert short.endswith("…")
    assert text_width(short, 8.0) <= 100.0
    assert long.startswith(short[:-1].rstrip())
    assert fit("Male", 8.0, 100.0) == "Male"


def _bar_spans(svg: str, fill: str) -> list[tuple[float, float]]:
    path = re.search(rf'<path fill="{fill}"[^>]* d="([^"]+)"', svg)
    assert path is not None
    return [(float(x0), float(x1)) for x0, x1 in re.findall(r"M([\d.]+) [\d.]+H([\d.]+)V", path[1])]


def test_bars_are_as_long_as_their_values_and_ticks_sit_on_the_scale() -> None:
    values = [0.8, 0.4, 0.1, 0.05]
    svg = str(charts.importance_chart([(f"f{i}", v) for i, v in enumerate(values)], chart_id="imp"))
    spans = _bar_spans(svg, charts.BLUE)
    assert len(spans) == len(values)
    zero = spans[0][0]
    assert all(x0 == zero for x0, _ in spans)  # every bar starts at zero
    per_unit = (spans[0][1] - zero) / values[0]
    for (_, x1), v in zip(spans, values, strict=True):
        assert x1 - zero == pytest.approx(v * per_unit, abs=0.02)  # 1/100 pt rounding
    # the tick labels are centred on the scale the bars use
    root = ElementTree.fromstring(svg)
    for t in root.iter(f"{SVG}text"):
        if t.get("text-anchor") == "middle" and re.fullmatch(r"[\d.]+", t.text or ""):
            assert float(t.get("x", "")) == pytest.approx(
                zero + float(t.text or "") * per_unit, abs=0.02
            )


def test_whiskers_span_the_interval_and_labels_clear_them() -> None:
    bars = [charts.Bar("a", 0.5, 0.4, 0.62), charts.Bar("b", 0.7, None, None, "reference")]
    svg = str(charts.ratio_chart(bars, metric="impact ratio", reference="b", chart_id="w"))
    (x0, x1) = _bar_spans(svg, charts.VERMILLION)[0]
    per_unit = (x1 - x0) / 0.5
    whisker = re.search(
        r'<path fill="none" stroke="#000000" stroke-width="0.8" d="M([\d.]+) [\d.]+H([\d.]+)"', svg
    )
    assert whisker is not None
    assert float(whisker[1]) == pytest.approx(x0 + 0.4 * per_unit, abs=0.02)
    assert float(whisker[2]) == pytest.approx(x0 + 0.62 * per_unit, abs=0.02)
    label = re.search(r'<text x="([\d.]+)" y="[\d.]+" font-size="7">0.500</text>', svg)
    assert label is not None
    assert float(label[1]) > float(whisker[2]) + 2.0  # right of the cap, on its white box


def test_legends_name_every_entry() -> None:
    texts = _texts(str(CHARTS["rate_ratio"]("legend")))
    for entry in (
        "group",
        "reference group",
        "reference rate (40.0%)",
        "four-fifths convention (0.80)",
        "ratio ≥ 0.80",
        "ratio < 0.80",
    ):
        assert entry in texts
    deletion = _texts(str(CHARTS["deletion"]("legend-d")))
    assert {"Tree SHAP (audit)", "LIME-style surrogate", "random order"} <= set(deletion)
    waterfall = _texts(str(CHARTS["waterfall"]("legend-w")))
    assert {"lowers the output", "raises it", "rest, base, residual", "total"} <= set(waterfall)


def test_a_gap_chart_without_a_reference_says_so_in_its_title() -> None:
    items = [("f1", 0.2), ("f2", -0.1)]
    svg = str(charts.gap_chart(items, group="g", reference=None, chart_id="t"))
    assert "None" not in svg
    assert "against the reference group" in svg
