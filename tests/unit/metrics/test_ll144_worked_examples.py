"""The worked examples of 6 RCNY 5-301 (NYC DCWP, Notice of Adoption of Final Rule, 2023).

Source of the numbers: the "culture fit" scoring example of 6 RCNY 5-301 (DCWP Notice of
Adoption, April 2023), as published at codelibrary.amlegal.com (The Rules of the City of
New York, Title 6, 5-301) and reproduced verbatim in the LL144 test sets built from the
DCWP rule text (huggingface.co datasets rk68/LL144-giskard-239, holistic-ai/LL144-Test-Set).
The rule prints rates and ratios, not counts; the counts below are the only integers that
give the printed rates with the printed group sizes (e.g. 64.2% of 28 is 18/28 = 64.29%,
printed truncated). Only the rows retrieved and checked are used: the sex table and five
race/ethnicity rows.

Not reproduced, because their numbers could not be read (searched again in December 2026,
session 16, v17a): the selection-rate example of 5-301(b) (sex, race/ethnicity and
intersectional tables) and the intersectional scoring table of 5-301(c). The stored copy
of the primary text (codelibrary.amlegal.com/codes/newyorkcity/latest/NYCrules/
0-0-0-138530, 6 RCNY 5-301) gives 5-301(b) verbatim up to the example's opening ("... to
an independent auditor who will conduct a bias audit as follows: Sex Categories"), but
the table cells are not in the stored text, and no other stored source (the DCWP notice
of adoption as reproduced in the LL144 test sets, code repositories, pages) reproduces
them. No number of those tables is used or guessed here.

Besides the record-level checks, the two tables reproduced go through a whole audit
(``run_audit`` with the nyc_ll144 pack and the LL144 summary rendered): scores built so
that exactly the printed counts lie strictly above the full sample's median.

What the example fixes: the impact ratio divides by the most scored category whatever its
size: "Hispanic or Latino" (28 applicants) is the reference at 1.00 and the 8-person
"Native Hawaiian or Pacific Islander" category gets 0.97. Before December 2026 the audit
took the reference among categories of at least ``min_group_size`` (30), so Hispanic or
Latino came out at 1.29 and every other ratio was off (issue 17).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.metrics.counts import GroupCounts
from auditor.metrics.group_metrics import grouping_records
from auditor.report import render_html
from auditor.result import MetricRecord
from tests.factories import LL144_PUBLICATION

HISPANIC = "Hispanic or Latino"
WHITE = "White (Not Hispanic or Latino)"
BLACK = "Black or African American (Not Hispanic or Latino)"
NHPI = "Native Hawaiian or Pacific Islander (Not Hispanic or Latino)"
ASIAN = "Asian (Not Hispanic or Latino)"

# (applicants, scoring above the median) -> printed scoring rate and impact ratio
SEX_TABLE = {
    "Male": ((92, 50), 0.543, 1.00),
    "Female": ((76, 34), 0.447, 0.82),
}
RACE_TABLE = {
    HISPANIC: ((28, 18), 0.642, 1.00),
    WHITE: ((40, 15), 0.375, 0.58),
    BLACK: ((32, 16), 0.500, 0.78),
    NHPI: ((8, 5), 0.625, 0.97),
    ASIAN: ((24, 10), 0.417, 0.65),
}


def scoring_records(
    table: dict[str, tuple[tuple[int, int], float, float]], attribute: str
) -> dict[str, dict[str, MetricRecord]]:
    counts = {
        g: GroupCounts(n=n, favorable=0, above_median=above)
        for g, ((n, above), _, _) in table.items()
    }
    recs, _ = grouping_records(attribute, counts, min_group_size=30)
    out: dict[str, dict[str, MetricRecord]] = {}
    for r in recs:
        out.setdefault(r.metric, {})[r.group] = r
    return out


@pytest.mark.parametrize(
    ("attribute", "table", "reference"),
    [("sex", SEX_TABLE, "Male"), ("race_ethnicity", RACE_TABLE, HISPANIC)],
)
def test_scoring_example_reproduced(
    attribute: str, table: dict[str, tuple[tuple[int, int], float, float]], reference: str
) -> None:
    recs = scoring_records(table, attribute)
    for group, ((n, _), rate, ratio) in table.items():
        shown_rate = recs["scoring_rate"][group]
        assert shown_rate.n == n
        # the rule prints rates to one decimal of a percent, truncated
        assert shown_rate.value == pytest.approx(rate, abs=0.001)
        r = recs["scoring_impact_ratio"][group]
        assert r.reference == reference
        assert round(r.value or 0.0, 2) == ratio, group


def test_small_categories_stay_in_the_reference_and_are_flagged() -> None:
    ratios = scoring_records(RACE_TABLE, "race_ethnicity")["scoring_impact_ratio"]
    hispanic = ratios[HISPANIC]
    # the most scored category is the reference although below min_group_size (28 < 30)
    assert hispanic.value == 1.0
    assert {"reference", "small_sample"} <= set(hispanic.flags)
    assert "small_sample" in ratios[NHPI].flags  # 8 applicants: flagged, ratio reported
    assert ratios[NHPI].value == pytest.approx((5 / 8) / (18 / 28))


def test_only_the_under_2_percent_exclusion_removes_a_category_from_the_reference() -> None:
    """5-301(d): a category under 2% of the data may be excluded; then the next most
    scored category is the reference and the excluded one keeps its size and rate."""
    counts = {
        g: GroupCounts(n=n, favorable=0, above_median=above)
        for g, ((n, above), _, _) in RACE_TABLE.items()
    }
    counts["Tiny"] = GroupCounts(n=2, favorable=0, above_median=2)  # 2 of 134: 1.5%
    recs, _ = grouping_records("race_ethnicity", counts, min_group_size=30)
    ratios = {r.group: r for r in recs if r.metric == "scoring_impact_ratio"}
    assert ratios["Tiny"].reference == "Tiny"  # kept: the most scored category
    recs, _ = grouping_records("race_ethnicity", counts, min_group_size=30, exclude_below=0.02)
    ratios = {r.group: r for r in recs if r.metric == "scoring_impact_ratio"}
    assert ratios["Tiny"].value is None
    assert "excluded" in ratios["Tiny"].flags
    assert ratios[WHITE].reference == HISPANIC
    assert round(ratios[WHITE].value or 0.0, 2) == 0.58


def _scored_applicants(table: dict[str, tuple[tuple[int, int], float, float]]) -> pd.DataFrame:
    """Applicants whose scores put exactly the table's counts strictly above the median.

    Above-median applicants get distinct high scores, the others distinct low ones; when
    fewer than half are above, the middle rows share the median score itself (a tie at
    the median is not above it, as 5-301(c) counts).
    """
    rows: list[tuple[str, bool]] = []
    for group, ((n, above), _, _) in table.items():
        rows += [(group, True)] * above + [(group, False)] * (n - above)
    total = len(rows)
    high = sum(1 for _, up in rows if up)
    low = total - high
    at_median = low - high  # rows at the median itself, so that the median sits among them
    assert at_median >= 0
    scores = np.empty(total)
    up_rows = [i for i, (_, up) in enumerate(rows) if up]
    down_rows = [i for i, (_, up) in enumerate(rows) if not up]
    scores[up_rows] = 80 + np.arange(high) * 0.01
    scores[down_rows[:at_median]] = 50.0
    scores[down_rows[at_median:]] = 20 + np.arange(low - at_median) * 0.01
    assert np.sum(scores > np.median(scores)) == high
    return pd.DataFrame(
        {
            "id": np.arange(total),
            "category": [g for g, _ in rows],
            "score": scores,
            "advanced": (scores > np.median(scores)).astype(int),
        }
    )


@pytest.mark.parametrize(
    ("attribute", "category", "table", "reference"),
    [("sex", "sex", SEX_TABLE, "Male"), ("race_ethnicity", "race_ethnicity", RACE_TABLE, HISPANIC)],
)
def test_scoring_example_through_a_whole_ll144_audit(
    tmp_path: Path,
    attribute: str,
    category: str,
    table: dict[str, tuple[tuple[int, int], float, float]],
    reference: str,
) -> None:
    frame = _scored_applicants(table).rename(columns={"category": attribute})
    frame.to_csv(tmp_path / "scores.csv", index=False)
    result = auditor.run_audit(
        {
            "name": "rcny-5-301c-example",
            "domain": "hiring",
            "data": {"path": str(tmp_path / "scores.csv")},
            "columns": {"id": "id", "decision": "advanced", "score": "score"},
            "protected": [{"column": attribute, "category": category}],
            "policies": ["nyc_ll144"],
            "audit_date": "2026-12-06",
            "evidence": {"data_source": "the 6 RCNY 5-301(c) example", **LL144_PUBLICATION},
        }
    )
    rates = {m.group: m for m in result.metrics if m.metric == "scoring_rate"}
    ratios = {m.group: m for m in result.metrics if m.metric == "scoring_impact_ratio"}
    for group, ((n, _), rate, ratio) in table.items():
        assert rates[group].n == n
        assert rates[group].value == pytest.approx(rate, abs=0.001)
        assert ratios[group].reference == reference
        assert round(ratios[group].value or 0.0, 2) == ratio, group
    html = render_html(result, "ll144")
    for group in table:
        # the summary prints ratios to three decimals (the rule's example: two)
        assert f"{ratios[group].value:.3f}</td>" in html, group
