"""The worked examples of 6 RCNY 5-301 (NYC DCWP, Notice of Adoption of Final Rule, 2023).

Source of the numbers: the "culture fit" scoring example of 6 RCNY 5-301 (DCWP Notice of
Adoption, April 2023), as published at codelibrary.amlegal.com (The Rules of the City of
New York, Title 6, 5-301) and reproduced verbatim in the LL144 test sets built from the
DCWP rule text (huggingface.co datasets rk68/LL144-giskard-239, holistic-ai/LL144-Test-Set).
The rule prints rates and ratios, not counts; the counts below are the only integers that
give the printed rates with the printed group sizes (e.g. 64.2% of 28 is 18/28 = 64.29%,
printed truncated). Only the rows retrieved and checked are used: the sex table and five
race/ethnicity rows. The selection-rate example of 5-301(b) and the intersectional tables
could not be retrieved in full from a primary text here, so they are not reproduced.

What the example fixes: the impact ratio divides by the most scored category whatever its
size: "Hispanic or Latino" (28 applicants) is the reference at 1.00 and the 8-person
"Native Hawaiian or Pacific Islander" category gets 0.97. Before December 2026 the audit
took the reference among categories of at least ``min_group_size`` (30), so Hispanic or
Latino came out at 1.29 and every other ratio was off (issue 17).
"""

from __future__ import annotations

import pytest

from auditor.metrics.counts import GroupCounts
from auditor.metrics.group_metrics import grouping_records
from auditor.result import MetricRecord

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
