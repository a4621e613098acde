"""The worked examples of 6 RCNY 5-301 (NYC DCWP, Notice of Adoption of Final Rule, 2023).

Six tables: the selection-rate example of 5-301(b) (sex, race/ethnicity, intersectional)
and the "culture fit" scoring example of 5-301(c)/(d) (sex, race/ethnicity,
intersectional). Every table is reproduced cell by cell through the real audit path
(``run_audit`` with the nyc_ll144 pack, the LL144 summary rendered), with the example's
unknown-category individuals added as rows the audit must leave out and count.

Sources of the numbers (only cells read in these texts are used; none reconstructed):

- The scoring example's sex table and first five race/ethnicity rows: the DCWP notice
  quoted verbatim (chunk "Document 12") in the LL144 test set
  https://huggingface.co/datasets/rk68/LL144-giskard-239 (viewer, page 2; also
  holistic-ai/LL144-Test-Set), retrieved in session 16.
- Everything else, and the same cells again: the notice reproduced in Markdown at
  https://github.com/DenzilGreenwood/CIAF_Model_Creation/blob/2306714db0d7db48155c8f46240e40a59932b5ef/Docs/Regulatory_Bodies/US_State/New_York/NYC_Local_Law_144_Final_Rule.md
  (retrieved December 2026, task h17). A secondary copy, not the City Record: its
  scoring cells agree with the verbatim quote above wherever both exist, and every
  printed rate and ratio below recomputes from the printed counts (the tests check
  that), which a transcription error would break. Quoted cells, as printed there:

  5-301(b) Sex: "Male | 1390 | 667 | 48% | 1.00", "Female | 1181 | 555 | 47% | 0.979".
  5-301(b) Race/Ethnicity: "Hispanic or Latino | 408 | 204 | 50% | 0.97", "White (Not
  Hispanic or Latino) | 797 | 412 | 52% | 1.00", "Black or African American (Not Hispanic
  or Latino) | 390 | 170 | 44% | 0.84", "Native Hawaiian or Pacific Islander (Not
  Hispanic or Latino) | 119 | 52 | 44% | 0.85", "Asian (Not Hispanic or Latino) | 616 |
  302 | 49% | 0.95", "Native American or Alaska Native (Not Hispanic or Latino) | 41 |
  18 | 44% | 0.85", "Two or More Races (Not Hispanic or Latino) | 213 | 96 | 45% | 0.87".
  5-301(b) Intersectional: Hispanic or Latino "Male | 205 | 90 | 43.9% | 0.841",
  "Female | 190 | 82 | 43.2% | 0.827"; Non/Hispanic or Latino Male "White | 412 | 215 |
  52.2% | 1.000", "Black or African American | 226 | 95 | 42.0% | 0.806", "Native
  Hawaiian or Pacific Islander | 87 | 37 | 42.5% | 0.815", "Asian | 321 | 167 | 52.0% |
  0.997", "Native American or Alaska Native | 24 | 11 | 45.8% | 0.878", "Two or More
  Races | 115 | 52 | 45.2% | 0.866"; Female "White | 385 | 197 | 51.2% | 0.981", "Black
  or African American | 164 | 75 | 45.7% | 0.876", "Native Hawaiian or Pacific Islander
  | 32 | 15 | 46.9% | 0.898", "Asian | 295 | 135 | 45.8% | 0.877", "Native American or
  Alaska Native | 17 | 7 | 41.2% | 0.789", "Two or More Races | 98 | 44 | 44.9% | 0.860";
  "Note: The AEDT was also used to assess 250 individuals with an unknown sex or
  race/ethnicity category."
  5-301(c) Sex: "Male | 92 | 54.3% | 1.00", "Female | 76 | 44.7% | 0.82".
  5-301(c) Race/Ethnicity: "Hispanic or Latino | 28 | 64.2% | 1.00", "White ... | 40 |
  37.5% | 0.58", "Black or African American ... | 32 | 50.0% | 0.78", "Native Hawaiian or
  Pacific Islander ... | 8 | 62.5% | 0.97", "Asian ... | 24 | 41.7% | 0.65", "Native
  American or Alaska Native ... | 16 | 62.5% | 0.97", "Two or More Races ... | 20 | 50.0%
  | 0.78".
  5-301(c) Intersectional: Hispanic or Latino "Male | 16 | 75% | 1.00", "Female | 12 |
  50% | 0.67"; Non/Hispanic Male "White | 20 | 35% | 0.47", "Black or African American |
  20 | 50% | 0.67", "Native Hawaiian or Pacific Islander | 4 | 75% | 1.00", "Asian | 12 |
  58.3% | 0.78", "Native American or Alaska Native | 8 | 62.5% | 0.83", "Two or More Races
  | 12 | 50% | 0.67"; Female "White | 20 | 40% | 0.53", "Black or African American | 12
  | 50% | 0.67", "Native Hawaiian or Pacific Islander | 4 | 50% | 0.67", "Asian | 12 |
  25% | 0.33", "Native American or Alaska Native | 8 | 62.5% | 0.83", "Two or More Races
  | 8 | 50% | 0.67"; "Note: The AEDT was used to assess 15 individuals with an unknown
  sex or race/ethnicity category."

The scoring rule prints rates and ratios, not counts; the counts used are the only
integers that give the printed rates with the printed sizes (64.2% of 28 is 18/28 =
64.29%, printed truncated there, while 41.7% of 24 is 10/24 = 41.67%, rounded), and the
three scoring tables are one data set (the intersectional counts sum to the sex and race
rows). The 5-301(b) tables are not: the race row "Hispanic or Latino | 408 | 204" is not
the sum of its two intersectional rows (205 + 190 = 395 applicants, 90 + 82 = 172
selected), while the other six race rows and both sex rows are. So the sex and
intersectional tables are one audit and the race table another, each with the example's
own counts; no cell is changed to make them agree.

What the examples fix: the impact ratio divides by the most selected (scored) category
whatever its size: "Hispanic or Latino" (28 applicants) is the reference at 1.00 and the
8-person "Native Hawaiian or Pacific Islander" category gets 0.97; in the intersectional
scoring table a 4-person category shares the reference rate (1.00). Before December 2026
the audit took the reference among categories of at least ``min_group_size`` (30), so
Hispanic or Latino came out at 1.29 and every other ratio was off (issue 17). No category
of the examples is excluded under 5-301(d) (the auditor "may" exclude one under 2%; the
examples do not, e.g. 17 of 2,571 applicants keep their 0.789).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.batch import UNKNOWN
from auditor.metrics.counts import GroupCounts
from auditor.metrics.group_metrics import grouping_records
from auditor.report import render_html
from auditor.report.ll144 import build_ll144
from auditor.report.tables import build_tables
from auditor.result import AuditResult, MetricRecord
from tests.factories import LL144_PUBLICATION

HISPANIC = "Hispanic or Latino"
WHITE = "White (Not Hispanic or Latino)"
BLACK = "Black or African American (Not Hispanic or Latino)"
NHPI = "Native Hawaiian or Pacific Islander (Not Hispanic or Latino)"
ASIAN = "Asian (Not Hispanic or Latino)"
NAAN = "Native American or Alaska Native (Not Hispanic or Latino)"
TWO = "Two or More Races (Not Hispanic or Latino)"

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
    NAAN: ((16, 10), 0.625, 0.97),
    TWO: ((20, 10), 0.500, 0.78),
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


# ---------------------------------------------------------------------------------------
# 5-301(b): the selection-rate example, and the intersectional scoring table of 5-301(c)
# ---------------------------------------------------------------------------------------

SEX, RACE = "sex", "race_ethnicity"
INTERSECTION = f"{SEX} & {RACE}"

# group -> (# of applicants, # selected, selection rate as printed (%), impact ratio as printed)
SELECTION_SEX = {
    "Male": (1390, 667, "48", "1.00"),
    "Female": (1181, 555, "47", "0.979"),
}
SELECTION_RACE = {
    HISPANIC: (408, 204, "50", "0.97"),
    WHITE: (797, 412, "52", "1.00"),
    BLACK: (390, 170, "44", "0.84"),
    NHPI: (119, 52, "44", "0.85"),
    ASIAN: (616, 302, "49", "0.95"),
    NAAN: (41, 18, "44", "0.85"),
    TWO: (213, 96, "45", "0.87"),
}
# (sex, race/ethnicity) -> the same four cells (the rule prints the race without
# "(Not Hispanic or Latino)" under its "Non/Hispanic or Latino" heading)
SELECTION_INTERSECTIONAL = {
    ("Male", HISPANIC): (205, 90, "43.9", "0.841"),
    ("Female", HISPANIC): (190, 82, "43.2", "0.827"),
    ("Male", WHITE): (412, 215, "52.2", "1.000"),
    ("Male", BLACK): (226, 95, "42.0", "0.806"),
    ("Male", NHPI): (87, 37, "42.5", "0.815"),
    ("Male", ASIAN): (321, 167, "52.0", "0.997"),
    ("Male", NAAN): (24, 11, "45.8", "0.878"),
    ("Male", TWO): (115, 52, "45.2", "0.866"),
    ("Female", WHITE): (385, 197, "51.2", "0.981"),
    ("Female", BLACK): (164, 75, "45.7", "0.876"),
    ("Female", NHPI): (32, 15, "46.9", "0.898"),
    ("Female", ASIAN): (295, 135, "45.8", "0.877"),
    ("Female", NAAN): (17, 7, "41.2", "0.789"),
    ("Female", TWO): (98, 44, "44.9", "0.860"),
}
SELECTION_UNKNOWN = 250  # "... assess 250 individuals with an unknown sex or race/ethnicity"

# (sex, race/ethnicity) -> ((applicants, scoring above the median), rate, ratio as printed)
SCORING_INTERSECTIONAL = {
    ("Male", HISPANIC): ((16, 12), "75", "1.00"),
    ("Female", HISPANIC): ((12, 6), "50", "0.67"),
    ("Male", WHITE): ((20, 7), "35", "0.47"),
    ("Male", BLACK): ((20, 10), "50", "0.67"),
    ("Male", NHPI): ((4, 3), "75", "1.00"),
    ("Male", ASIAN): ((12, 7), "58.3", "0.78"),
    ("Male", NAAN): ((8, 5), "62.5", "0.83"),
    ("Male", TWO): ((12, 6), "50", "0.67"),
    ("Female", WHITE): ((20, 8), "40", "0.53"),
    ("Female", BLACK): ((12, 6), "50", "0.67"),
    ("Female", NHPI): ((4, 2), "50", "0.67"),
    ("Female", ASIAN): ((12, 3), "25", "0.33"),
    ("Female", NAAN): ((8, 5), "62.5", "0.83"),
    ("Female", TWO): ((8, 4), "50", "0.67"),
}
SCORING_UNKNOWN = 15  # "... used to assess 15 individuals with an unknown sex or race/ethnicity"


def _printed(value: float, printed: str, *, percent: bool = False, truncated: bool = False) -> bool:
    """Whether ``value`` shows as ``printed`` at the printed number of decimals.

    Rounded half up (the rule prints 15/32 = 46.875% as 46.9%, which Python's
    half-to-even ``round`` would not); ``truncated`` also accepts the digits cut off (the
    scoring example prints 18/28 = 64.29% as 64.2%).
    """
    exact = Decimal(value) * (100 if percent else 1)
    places = Decimal(1).scaleb(-len(printed.partition(".")[2]))
    shown = {exact.quantize(places, rounding=ROUND_HALF_UP)}
    if truncated:
        shown.add(exact.quantize(places, rounding=ROUND_DOWN))
    return Decimal(printed) in shown


def test_printed_cells_recompute_from_the_printed_counts() -> None:
    """The source's internal check: each rate and ratio follows from its own table's
    counts and that table's highest rate (a mistyped cell would break one of them)."""
    for table in (SELECTION_SEX, SELECTION_RACE, SELECTION_INTERSECTIONAL):
        best = max(k / n for n, k, _, _ in table.values())
        for n, k, rate, ratio in table.values():
            assert _printed(k / n, rate, percent=True), (n, k, rate)
            assert _printed(k / n / best, ratio), (n, k, ratio)
    best = max(k / n for (n, k), _, _ in SCORING_INTERSECTIONAL.values())
    for (n, k), rate, ratio in SCORING_INTERSECTIONAL.values():
        assert _printed(k / n, rate, percent=True)
        assert _printed(k / n / best, ratio)
    # the scoring tables are one data set: the intersectional rows sum to the others
    for sex, ((n, k), _, _) in SEX_TABLE.items():
        rows = [c for (s, _), (c, _, _) in SCORING_INTERSECTIONAL.items() if s == sex]
        assert (sum(r[0] for r in rows), sum(r[1] for r in rows)) == (n, k)
    for race, ((n, k), _, _) in RACE_TABLE.items():
        rows = [c for (_, r), (c, _, _) in SCORING_INTERSECTIONAL.items() if r == race]
        assert (sum(r[0] for r in rows), sum(r[1] for r in rows)) == (n, k)
    # the selection tables: sex agrees with the intersections, race does not for one row
    for sex, (n, k, _, _) in SELECTION_SEX.items():
        rows = [c[:2] for (s, _), c in SELECTION_INTERSECTIONAL.items() if s == sex]
        assert (sum(r[0] for r in rows), sum(r[1] for r in rows)) == (n, k)
    for race, (n, k, _, _) in SELECTION_RACE.items():
        rows = [c[:2] for (_, r), c in SELECTION_INTERSECTIONAL.items() if r == race]
        sums = (sum(r[0] for r in rows), sum(r[1] for r in rows))
        assert (sums == (n, k)) == (race != HISPANIC), race


def _audit(
    tmp_path: Path, frame: pd.DataFrame, protected: list[str], *, score: bool
) -> AuditResult:
    frame.to_csv(tmp_path / "applicants.csv", index=False)
    columns = {"id": "id", "decision": "advanced"} | ({"score": "score"} if score else {})
    return auditor.run_audit(
        {
            "name": "rcny-5-301-example",
            "domain": "hiring",
            "data": {"path": str(tmp_path / "applicants.csv")},
            "columns": columns,
            "protected": [{"column": a, "category": a} for a in protected],
            "intersections": [protected] if len(protected) > 1 else [],
            "policies": ["nyc_ll144"],
            "audit_date": "2026-12-06",
            "evidence": {"data_source": "the 6 RCNY 5-301 examples", **LL144_PUBLICATION},
        }
    )


def _records(result: AuditResult, metric: str, attribute: str) -> dict[str, MetricRecord]:
    return {m.group: m for m in result.metrics if m.metric == metric and m.attribute == attribute}


def _selection_applicants(
    cells: Mapping[tuple[str, ...], tuple[int, int]], columns: tuple[str, ...], unknown: int
) -> pd.DataFrame:
    """One row per applicant: exactly the table's counts selected, plus ``unknown``
    applicants whose sex and race/ethnicity are both missing (half of them selected)."""
    rows: list[tuple[object, ...]] = []
    for key, (n, k) in cells.items():
        rows += [(*key, 1)] * k + [(*key, 0)] * (n - k)
    rows += [(*(None,) * len(columns), i % 2) for i in range(unknown)]
    frame = pd.DataFrame(rows, columns=[*columns, "advanced"])
    frame.insert(0, "id", np.arange(len(frame)))
    return frame


def _check_selection(
    result: AuditResult,
    attribute: str,
    table: dict[str, tuple[int, int, str, str]],
    unknown: int,
) -> None:
    rates = _records(result, "selection_rate", attribute)
    ratios = _records(result, "impact_ratio", attribute)
    assert set(rates) == set(table) | ({UNKNOWN} if unknown else set())
    highest = max(table, key=lambda g: table[g][1] / table[g][0])
    for group, (n, k, rate, ratio) in table.items():
        assert (rates[group].n, rates[group].count) == (n, k), group
        assert _printed(rates[group].value or 0.0, rate, percent=True), group
        assert ratios[group].reference == highest, group
        assert _printed(ratios[group].value or 0.0, ratio), (group, ratios[group].value)
        assert "excluded" not in ratios[group].flags
    if unknown:  # counted apart: no ratio, never the reference
        assert rates[UNKNOWN].n == unknown
        assert ratios.get(UNKNOWN) is None or ratios[UNKNOWN].value is None


def _ll144_unknowns(result: AuditResult) -> dict[str, int]:
    view = build_ll144(result, build_tables(result, None), "2026-12-06", public=False)
    return {g.name: g.unknown_n for g in view.groupings}


def test_selection_example_sex_and_intersectional_tables_through_an_audit(
    tmp_path: Path,
) -> None:
    """5-301(b): one data set gives the sex and the intersectional tables (their counts
    agree), with the 250 unknown-category applicants left out of every calculation."""
    cells: dict[tuple[str, ...], tuple[int, int]] = {
        key: (n, k) for key, (n, k, _, _) in SELECTION_INTERSECTIONAL.items()
    }
    frame = _selection_applicants(cells, (SEX, RACE), SELECTION_UNKNOWN)
    result = _audit(tmp_path, frame, [SEX, RACE], score=False)
    _check_selection(result, SEX, SELECTION_SEX, SELECTION_UNKNOWN)
    crossed = {f"{s} & {r}": cells for (s, r), cells in SELECTION_INTERSECTIONAL.items()}
    _check_selection(result, INTERSECTION, crossed, SELECTION_UNKNOWN)
    assert _ll144_unknowns(result)[SEX] == SELECTION_UNKNOWN
    assert _ll144_unknowns(result)[INTERSECTION] == SELECTION_UNKNOWN
    html = render_html(result, "ll144")
    ratios = _records(result, "impact_ratio", INTERSECTION)
    for group in crossed:
        assert f"{ratios[group].value:.3f}</td>" in html, group


def test_selection_example_race_table_through_an_audit(tmp_path: Path) -> None:
    """5-301(b) race/ethnicity table, from its own counts (see the module docstring):
    White (Not Hispanic or Latino) is the most selected category and the reference."""
    cells: dict[tuple[str, ...], tuple[int, int]] = {
        (race,): (n, k) for race, (n, k, _, _) in SELECTION_RACE.items()
    }
    frame = _selection_applicants(cells, (RACE,), SELECTION_UNKNOWN)
    result = _audit(tmp_path, frame, [RACE], score=False)
    _check_selection(result, RACE, SELECTION_RACE, SELECTION_UNKNOWN)
    assert _ll144_unknowns(result)[RACE] == SELECTION_UNKNOWN


def _scored_applicants_crossed(unknown: int) -> pd.DataFrame:
    """The intersectional scoring table as applicants whose scores put exactly its counts
    strictly above the median of the full sample, unknown-category applicants included
    (7 of the 15 above, 8 below, so the median stays between the two sides)."""
    rows: list[tuple[object, object, bool]] = []
    for (sex, race), ((n, above), _, _) in SCORING_INTERSECTIONAL.items():
        rows += [(sex, race, True)] * above + [(sex, race, False)] * (n - above)
    high = sum(1 for *_, up in rows if up)
    assert 2 * high == len(rows)  # 84 of 168: the median falls between the two sides
    rows += [(None, None, i < unknown // 2) for i in range(unknown)]
    up = np.array([r[2] for r in rows])
    scores = np.where(up, 80.0, 20.0) + np.arange(len(rows)) * 1e-3
    median = float(np.median(scores))
    assert int(np.sum(scores[: len(rows) - unknown] > median)) == high
    return pd.DataFrame(
        {
            "id": np.arange(len(rows)),
            SEX: [r[0] for r in rows],
            RACE: [r[1] for r in rows],
            "score": scores,
            "advanced": (scores > median).astype(int),
        }
    )


def test_scoring_example_all_three_tables_through_one_audit(tmp_path: Path) -> None:
    """5-301(c): the sex, race/ethnicity and intersectional scoring tables from one data
    set of 168 applicants plus the 15 of unknown category. The intersectional table has
    two categories at the highest rate (Hispanic or Latino male, 12 of 16, and a 4-person
    category, 3 of 4): both print 1.00, and the small one is flagged, not dropped."""
    result = _audit(tmp_path, _scored_applicants_crossed(SCORING_UNKNOWN), [SEX, RACE], score=True)
    for attribute, table in ((SEX, SEX_TABLE), (RACE, RACE_TABLE)):
        rates = _records(result, "scoring_rate", attribute)
        ratios = _records(result, "scoring_impact_ratio", attribute)
        for group, ((n, _), rate, ratio) in table.items():
            assert rates[group].n == n
            assert rates[group].value == pytest.approx(rate, abs=0.001)
            assert round(ratios[group].value or 0.0, 2) == ratio, group
    rates = _records(result, "scoring_rate", INTERSECTION)
    ratios = _records(result, "scoring_impact_ratio", INTERSECTION)
    for (sex, race), ((n, above), shown_rate, shown_ratio) in SCORING_INTERSECTIONAL.items():
        group = f"{sex} & {race}"
        assert (rates[group].n, round((rates[group].value or 0.0) * n)) == (n, above)
        assert _printed(rates[group].value or 0.0, shown_rate, percent=True, truncated=True)
        assert _printed(ratios[group].value or 0.0, shown_ratio), (group, ratios[group].value)
        assert ratios[group].reference in (f"Male & {HISPANIC}", f"Male & {NHPI}")
    assert ratios[f"Male & {NHPI}"].value == 1.0
    assert "small_sample" in ratios[f"Male & {NHPI}"].flags
    assert rates[UNKNOWN].n == SCORING_UNKNOWN
    unknowns = _ll144_unknowns(result)
    assert unknowns[SEX] == unknowns[RACE] == unknowns[INTERSECTION] == SCORING_UNKNOWN
