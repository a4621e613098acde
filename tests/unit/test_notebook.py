"""An audit result in a notebook: tidy frames and the HTML Jupyter shows."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pandas as pd

from tests.factories import make_result


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_metrics_frame_is_tidy_with_intervals() -> None:
    result = make_result()
    frame = result.metrics_frame()
    assert len(frame) == len(result.metrics)
    assert list(frame.columns[:6]) == ["attribute", "group", "metric", "value", "ci_low", "ci_high"]
    ratio = frame[(frame.metric == "impact_ratio") & (frame.group == "Female")].iloc[0]
    assert (ratio.value, ratio.ci_low, ratio.ci_high) == (0.625, 0.53, 0.74)
    assert ratio.reference == "Male"
    assert frame["value"].dtype == "float64"
    assert frame.loc[frame.group == "unknown", "flags"].iloc[0] == "unknown,small_sample"


def test_findings_frame_one_row_per_finding() -> None:
    result = make_result()
    frame = result.findings_frame()
    assert isinstance(frame, pd.DataFrame)
    assert frame["rule_id"].tolist() == [f.rule_id for f in result.findings]
    assert frame.set_index("rule_id").loc["EEOC-UGESP-4D-FOUR-FIFTHS", "status"] == "fail"


def test_repr_html_shows_verdict_counts_key_ratio_and_chart() -> None:
    result = make_result()
    html = result._repr_html_()
    parser = _Text()
    parser.feed(html)
    text = " ".join(" ".join(parser.text).split())
    assert "Verdict: findings by status" in text
    counts = result.findings_by_status()
    assert f"fail {counts['fail']}" in text
    assert f"pass {counts['pass']}" in text
    # the lowest impact ratio with its interval, and the group the verdict leads with
    assert "0.625" in text
    assert "0.530–0.740" in text
    assert "Female (sex)" in text
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    ET.fromstring(svg.group(0))  # well-formed inline SVG
    assert "script" not in parser.tags
    for word in ("fair", "unbiased", "compliant"):
        assert not re.search(rf"\b{word}\b", text, re.I)


def test_repr_html_escapes_names() -> None:
    result = dataclasses.replace(make_result(), name="<script>alert(1)</script>")
    html = result._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
