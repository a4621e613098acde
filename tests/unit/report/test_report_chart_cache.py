"""The chart cache (charts keyed by a digest of their inputs) and the contents split.

A cached chart must be the chart its inputs would draw: equal inputs give the same SVG
without drawing, any changed input (one float, one label, the chart id) draws anew, and
an input the key cannot encode is drawn uncached rather than keyed on part of itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
from markupsafe import Markup

from auditor.report import chart_cache, render_html
from auditor.report.chart_cache import (
    cached_chart,
    chart_cache_info,
    chart_key,
    clear_chart_cache,
)
from auditor.report.charts import Bar, ratio_chart
from auditor.report.filters import column_split, toc_split
from tests.factories import make_result


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    clear_chart_cache()
    yield
    clear_chart_cache()


BARS = [Bar("Female", 0.71, 0.62, 0.80, "normal"), Bar("Male", 1.0, None, None, "reference")]


def _draw(bars: list[Bar], chart_id: str = "c") -> str:
    return str(ratio_chart(bars, metric="impact ratio", reference="Male", chart_id=chart_id))


def test_equal_inputs_are_drawn_once_and_give_the_same_svg() -> None:
    first = _draw(BARS)
    again = _draw([dataclasses.replace(b) for b in BARS])  # equal, not the same objects
    assert again == first
    assert chart_cache_info() | {"size": 0} == {
        "hits": 1,
        "misses": 1,
        "uncacheable": 0,
        "size": 0,
    }


@pytest.mark.parametrize(
    "changed",
    [
        [dataclasses.replace(BARS[0], value=0.7100000000000001), BARS[1]],  # last bit of a float
        [dataclasses.replace(BARS[0], label="Women"), BARS[1]],
        [dataclasses.replace(BARS[0], kind="caution"), BARS[1]],
        BARS[:1],
    ],
)
def test_a_changed_input_draws_anew(changed: list[Bar]) -> None:
    first = _draw(BARS)
    other = _draw(changed)
    assert chart_cache_info()["misses"] == 2
    assert chart_cache_info()["hits"] == 0
    if changed[0].value != 0.7100000000000001:  # the bar moves by 1e-16: same picture
        assert other != first


def test_the_chart_id_is_part_of_the_key() -> None:
    assert _draw(BARS, "a") != _draw(BARS, "b")  # ids inside the SVG differ
    assert chart_cache_info()["hits"] == 0


def test_keys_tell_types_and_whole_arrays_apart() -> None:
    assert chart_key("f", (1,), {}) != chart_key("f", (1.0,), {})
    assert chart_key("f", (1,), {}) != chart_key("f", ("1",), {})
    assert chart_key("f", (True,), {}) != chart_key("f", (1,), {})
    assert chart_key("f", (["a", "b"],), {}) != chart_key("f", (["ab"],), {})
    assert chart_key("f", (), {"x": 1}) != chart_key("f", (), {"y": 1})
    assert chart_key("f", (1,), {}) != chart_key("g", (1,), {})
    big = np.arange(5000, dtype=float)
    changed = big.copy()
    changed[2500] += 1e-9  # hidden by numpy's repr ("..."), not by the key
    assert chart_key("f", (big,), {}) != chart_key("f", (changed,), {})
    assert chart_key("f", (np.float64(0.5),), {}) == chart_key("f", (0.5,), {})


def test_an_unknown_argument_is_drawn_uncached() -> None:
    calls: list[object] = []

    @cached_chart
    def chart(thing: object) -> Markup:
        calls.append(thing)
        return Markup("<svg/>")

    marker = object()
    chart(marker)
    chart(marker)
    assert len(calls) == 2
    assert chart_cache_info()["uncacheable"] == 2


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_cache, "MAX_ENTRIES", 3)

    @cached_chart
    def chart(n: int) -> Markup:
        return Markup(f"<svg>{n}</svg>")

    for n in range(5):
        chart(n)
    assert chart_cache_info()["size"] == 3
    chart(4)  # the newest is held
    chart(0)  # the oldest was dropped
    assert chart_cache_info()["hits"] == 1


def test_a_report_rendered_again_reuses_every_chart_and_is_identical() -> None:
    result = make_result()
    first = render_html(result)
    drawn = chart_cache_info()["misses"]
    assert drawn >= 2  # the factory audit has rate/ratio and attribution charts
    assert render_html(result) == first
    assert chart_cache_info()["hits"] == drawn
    assert chart_cache_info()["misses"] == drawn


def test_column_split_balances_like_css_columns() -> None:
    assert column_split([1, 1, 1, 1]) == 2
    assert column_split([5, 1, 1, 1, 1, 1]) == 1  # the tall first block alone on the left
    assert column_split([1, 1, 1, 1, 5]) == 4
    assert column_split([1, 2, 1]) == 2  # tie: the left column is the longer one
    assert column_split([3]) == 1
    # the bench report: 4.1-4.6 and 5.5 on the left, 6.1 (wrapping) to 6.6 and 8.3 right
    assert toc_split([0, 0, 0, 6, 1, 7, 0, 1]) == 5
    # many attributes push section 5 to the right column
    assert toc_split([0, 0, 0, 12, 1, 3, 0, 1]) == 4
