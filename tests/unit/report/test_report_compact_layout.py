"""The compact report layout (issue 25): what it folds together must keep every number."""

from __future__ import annotations

import dataclasses
import re

from auditor.report.context import results_subsections
from auditor.report.filters import breakable, percent_number, points_number
from auditor.report.render import render_html
from auditor.report.tables import build_tables
from auditor.result import AuditResult, GroupCount, MetricRecord, ProxyScore
from tests.factories import make_result


def _with_adea_twin(ratio_p: float | None = None) -> AuditResult:
    """The factory audit plus an ``age (ADEA)`` grouping and an ``age`` grouping holding the
    same groups and numbers (the adverse impact ratio standing for the impact ratio)."""
    base = make_result()
    age: list[MetricRecord] = []
    for attr, ratio_metric in (("age", "impact_ratio"), ("age (ADEA)", "adverse_impact_ratio")):
        age += [
            MetricRecord(attr, "40 and over", "selection_rate", 0.30, 400, 120, 0.26, 0.35),
            MetricRecord(attr, "under 40", "selection_rate", 0.36, 600, 216, 0.32, 0.40),
            MetricRecord(
                attr,
                "40 and over",
                ratio_metric,
                0.833,
                400,
                120,
                0.70,
                0.99,
                p_value=ratio_p if ratio_p is not None and attr == "age (ADEA)" else 0.04,
                reference="under 40",
                flags=("test:z_test",),
            ),
            MetricRecord(
                attr,
                "under 40",
                ratio_metric,
                1.0,
                600,
                216,
                reference="under 40",
                flags=("reference",),
            ),
        ]
    groups = [
        GroupCount(attr, g, n, n / 1000)
        for attr in ("age", "age (ADEA)")
        for g, n in (("40 and over", 400), ("under 40", 600))
    ]
    return dataclasses.replace(
        base,
        metrics=(*base.metrics, *age),
        dataset=dataclasses.replace(base.dataset, groups=(*base.dataset.groups, *groups)),
    )


def test_a_grouping_that_repeats_another_number_for_number_is_named_not_printed() -> None:
    result = _with_adea_twin()
    tables = {t.name: t for t in build_tables(result, None)}
    assert tables["age (ADEA)"].same_as is tables["age"]
    assert tables["age"].same_as is None
    html = render_html(result)
    section = html[html.index("<h2>4.3 age (ADEA)</h2>") :]
    section = section[: section.index("</section>")]
    assert "The same groups and numbers as" in section
    assert "4.2 age" in section
    assert "<table" not in section  # no table repeated in the PDF


def test_one_differing_p_value_keeps_the_grouping_printed() -> None:
    result = _with_adea_twin(ratio_p=0.05)
    tables = {t.name: t for t in build_tables(result, None)}
    assert tables["age (ADEA)"].same_as is None
    html = render_html(result)
    section = html[html.index("<h2>4.3 age (ADEA)</h2>") :]
    assert "<table" in section[: section.index("</section>")]


def test_proxy_scores_run_down_the_left_half_then_the_right() -> None:
    base = make_result()
    features = [f"feature_{i:02d}" for i in range(15)]
    proxies = tuple(
        ProxyScore(f, "sex", "correlation_ratio", round(0.5 - i / 100, 3))
        for i, f in enumerate(features)
    )
    result = dataclasses.replace(
        base, attributions=dataclasses.replace(base.attributions, proxies=proxies)
    )
    html = render_html(result)
    table = html[html.index('<table class="data proxies paired">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]  # after the heading row
    assert len(rows) == 8  # 15 features, 8 + 7
    firsts = [re.findall(r'<span class="mono">([^<]+)</span>', r) for r in rows]
    assert [f[0] for f in firsts] == features[:8]  # largest scores down the left
    assert [f[1] for f in firsts[:7]] == features[8:]  # then down the right
    assert len(firsts[7]) == 1  # the odd row's right half is empty
    assert table.count(">0.500<") == 1  # every score once


def test_results_subsections_are_numbered_in_order_after_the_tables() -> None:
    assert results_subsections(6, calibration=True, trend=False, lda=True, screener=True) == {
        "calibration": "4.7",
        "lda": "4.8",
        "screener": "4.9",
    }
    assert results_subsections(2, calibration=False, trend=True, lda=False, screener=False) == {
        "trend": "4.3"
    }


def test_interval_bounds_drop_the_unit_their_value_carries() -> None:
    assert percent_number(0.4681) == "46.8"
    assert points_number(-0.0671) == "−6.7"
    assert points_number(0.044) == "+4.4"
    assert percent_number(None) == "—"
    assert breakable("race_ethnicity") == "race_\u200bethnicity"


def test_results_rows_carry_their_marks_under_the_group_name() -> None:
    html = render_html(make_result())
    assert '<th class="notes">' not in html[html.index('id="sec-results"') :]
    assert re.search(r'<td class="group">Male<span class="tags"><span class="tag tag-ref">', html)
    # a rate and its interval share a line; the value is kept whole by no-break spaces,
    # not by a span (one box less per cell)
    assert '<td class="num">25.0% <span class="ci">[21.4–29.0]</span>' in html


def test_values_and_gap_items_stay_whole_without_wrapper_spans() -> None:
    from auditor.report.filters import nobreak

    # a points value and a feature name with a space keep to one line
    assert nobreak("−2.8 pp") == "−2.8\u00a0pp"
    assert nobreak("credit limit") == "credit\u00a0limit"
