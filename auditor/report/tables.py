"""Pivot the flat metric records into one results table per attribute.

Nothing here knows which metrics exist: tables are built from whatever records the result
holds, pivoted attribute → group → metric, in the order the records first appear. Known
metric names get a label and a format; unknown ones are shown as plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.report.charts import Figure
from auditor.result import AuditResult, GroupCount, MetricRecord

# metric name -> (column label, kind); kinds: rate (percent), ratio, diff (points), share
# (points, no reference group), plain
METRIC_INFO: dict[str, tuple[str, str]] = {
    "selection_rate": ("Selection rate", "rate"),
    "impact_ratio": ("Impact ratio", "ratio"),
    "adverse_impact_ratio": ("Adverse impact ratio", "ratio"),
    "scoring_rate": ("Scoring rate", "rate"),
    "scoring_impact_ratio": ("Scoring impact ratio", "ratio"),
    "stratified_impact_ratio": ("Impact ratio within segments", "ratio"),
    "slice_impact_ratio": ("Impact ratio within the slice", "ratio"),
    "adjusted_odds_ratio": ("Adjusted odds ratio", "ratio"),
    "adjusted_marginal_effect": ("Adjusted marginal effect", "diff"),
    "residual_smd": ("Score residual SMD", "plain"),
    "cdd": ("Conditional demographic disparity", "share"),
    "adjusted_mean_difference": ("Adjusted mean difference", "plain"),  # ":outcome" added
    "birdie_selection_rate": ("Bias-corrected selection rate", "rate"),
    "birdie_impact_ratio": ("Bias-corrected impact ratio", "ratio"),
    "statistical_parity_difference": ("Selection-rate difference", "diff"),
    "tpr": ("TPR", "rate"),
    "fpr": ("FPR", "rate"),
}
FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("selection", "Selection", ("selection_rate", "impact_ratio", "statistical_parity_difference")),
    ("control", "Adverse impact ratio against the control group", ("adverse_impact_ratio",)),
    (
        "scoring",
        "Scoring (share of each group scoring above the full-sample median)",
        ("scoring_rate", "scoring_impact_ratio"),
    ),
    ("errors", "Error rates against the outcome labels", ("tpr", "fpr")),
    (
        "segments",
        "Within segments (Mantel–Haenszel ratio; Cochran–Mantel–Haenszel test)",
        ("stratified_impact_ratio",),
    ),
    (
        "controls",
        "Given the legitimate factors in controls (logistic regression; score and outcome "
        "residuals)",
        (
            "adjusted_odds_ratio",
            "adjusted_marginal_effect",
            "residual_smd",
            "adjusted_mean_difference",
        ),
    ),
    (
        "cdd",
        "Conditional demographic disparity (share of refusals minus share of approvals, "
        "within strata)",
        ("cdd",),
    ),
    (
        "birdie",
        "Bias-corrected for inferred membership (BIRDiE, complete pooling; 95% percentile "
        "intervals from a seeded row bootstrap of the EM; the weighted estimates above "
        "decide the findings)",
        ("birdie_selection_rate", "birdie_impact_ratio"),
    ),
    (
        "slices",
        "Slices found by the slice search (each against the other groups in the same slice)",
        ("slice_impact_ratio",),
    ),
)
# point estimates without an interval: the heading must not announce one (none at present;
# the BIRDiE rates have had a row-bootstrap interval since issue 17 item 7)
NO_INTERVAL: frozenset[str] = frozenset()
RATE_FOR_RATIO = {"impact_ratio": "selection_rate", "scoring_impact_ratio": "scoring_rate"}
# Metrics whose denominator is the whole group: a small-sample flag on one of them marks the
# row; on the others (TPR/FNR/FPR count only positives/negatives) it marks just the cell.
CELL_ONLY_METRICS = frozenset({"tpr", "fpr", "fnr"})  # small denominators, not small groups
TEST_NAMES = {
    "z_test": "z-test",
    "fisher_exact": "Fisher exact",
    "chi2": "chi-square",
    "cmh": "CMH",
    "wald": "Wald",
    "wald_hc3": "Wald (HC3)",
    "t_test": "t-test",
}
# Per-bin records (one per score bin and group) are not table cells: the calibration chart
# shows them, and the group's ECE summarises them in the table.
NOT_IN_TABLES = frozenset({"reliability"})
# Families shown in full (value, interval, p-value) in the results section; the others go
# to one compact table per attribute in the appendix (value and p-value only).
KEY_FAMILIES = frozenset(
    {
        "selection",
        "control",
        "scoring",
        "errors",
        "segments",
        "controls",
        "cdd",
        "birdie",
        "slices",
    }
)
COMPACT_COLUMNS = 9
# Short headings for the compact appendix table, in the order of its columns.
SHORT_LABELS = {
    "fnr": "FNR",
    "ppv": "PPV",
    "accuracy": "Accuracy",
    "equal_opportunity_difference": "Eq.-opp. diff.",
    "equalized_odds_difference": "Eq.-odds diff.",
    "smd": "SMD",
    "ks": "KS",
    "ece": "ECE",
    "chi_square": "Chi-square",
}
# At most this many metric columns per table (p-values sit inside their metric's cell):
# more would not fit an A4 page, so a family with more columns is split into parts.
MAX_COLUMNS = 4


def test_name(record: MetricRecord) -> str | None:
    """The significance test named in a record's flags (``test:z_test`` -> ``z-test``)."""
    for flag in record.flags:
        if flag.startswith("test:"):
            name = flag.removeprefix("test:")
            return TEST_NAMES.get(name, name.replace("_", " "))
    return None


@dataclass(frozen=True)
class Column:
    """One metric column of a results table."""

    metric: str
    label: str
    kind: str
    reference: str | None
    has_p: bool
    # The test behind every p-value of the column, when they all name the same one (shown
    # once in the heading instead of in each cell).
    test: str | None = None
    # whether the heading promises an interval (BIRDiE's corrected values have none)
    has_ci: bool = True


@dataclass
class Row:
    """One group of one attribute, with its metric records by metric name."""

    group: str
    n: int | None
    count: int | None
    cells: dict[str, MetricRecord] = field(default_factory=dict)
    unknown: bool = False
    small: bool = False
    excluded: bool = False
    reference_in: set[str] = field(default_factory=set)

    @property
    def css(self) -> str:
        """CSS classes marking unknown, small-sample and excluded rows."""
        names = [
            ("row-unknown", self.unknown),
            ("row-small", self.small),
            ("row-excluded", self.excluded),
        ]
        return " ".join(name for name, on in names if on)

    @property
    def caution(self) -> bool:
        """Whether a reader should treat this row's numbers with care."""
        return self.unknown or self.small or self.excluded


@dataclass(frozen=True)
class Family:
    """A group of related metric columns shown as one table."""

    key: str
    title: str
    columns: list[Column]
    # Set when every number of this table is already in another table of the attribute
    # (the adverse impact ratio against a control group that is also the highest-rate
    # group equals the impact ratio): the table is not printed, a note names the other.
    same_as: str | None = None

    @property
    def reference(self) -> str | None:
        """The one group this table's ratios and differences are taken against."""
        return next((c.reference for c in self.columns if c.reference), None)

    @property
    def references(self) -> set[str]:
        """The groups that this table's ratios are taken against."""
        return {c.reference for c in self.columns if c.reference}

    def is_reference(self, row: Row) -> bool:
        """Whether ``row`` is the reference group of a ratio in this table."""
        return row.group in self.references or bool(
            row.reference_in & {c.metric for c in self.columns}
        )

    def shows(self, row: Row) -> bool:
        """Whether the table lists ``row``: every group with a value here, and groups that
        have no metric at all (so a group is never silently missing)."""
        return not row.cells or any(c.metric in row.cells for c in self.columns)


@dataclass
class AttributeTable:
    """Everything the results section shows for one attribute or intersection."""

    name: str
    anchor: str
    intersection: bool
    rows: list[Row]
    columns: list[Column]
    figures: list[Figure] = field(default_factory=list)
    # Set (to the earlier table) when this table repeats an earlier one number for number
    # (an ADEA grouping of an age attribute that is already split at 40): the report then
    # names the earlier table instead of printing the same tables and charts again.
    same_as: AttributeTable | None = None

    @property
    def families(self) -> list[Family]:
        """The metric columns split into small tables (selection, scoring, error rates, other),
        each with one reference group: a column measured against another group than the
        rest of its family moves to the family with that reference (the selection-rate
        difference against a control group joins the control group's table), or to a
        table of its own, so no table marks two rows as its reference."""
        out: list[Family] = []
        placed: set[str] = set()
        for key, title, metrics in FAMILIES:
            cols = [c for c in self.columns if _base(c.metric) in metrics]
            if cols:
                out += _split(key, title, cols)
                placed.update(c.metric for c in cols)
        rest = [c for c in self.columns if c.metric not in placed]
        if rest:
            out += _split("other", "Other metrics", rest)
        return _mark_duplicates(self, _merge_scoring_and_errors(_one_reference_each(out)))

    @property
    def key_families(self) -> list[Family]:
        """The families the results section shows in full (duplicates left out)."""
        return [f for f in self.families if f.key in KEY_FAMILIES and f.same_as is None]

    @property
    def duplicate_families(self) -> list[Family]:
        """Families not printed because another table holds the same numbers."""
        return [f for f in self.families if f.same_as is not None]

    @property
    def other_columns(self) -> list[Column]:
        """Columns outside the key families (for the compact appendix table)."""
        key = {c.metric for f in self.families if f.key in KEY_FAMILIES for c in f.columns}
        order = list(SHORT_LABELS)
        rest = [c for c in self.columns if c.metric not in key]
        return sorted(
            rest, key=lambda c: order.index(c.metric) if c.metric in order else len(order)
        )

    @property
    def other_families(self) -> list[Family]:
        """:attr:`other_columns` in parts of at most :data:`COMPACT_COLUMNS` columns."""
        cols = self.other_columns
        if not cols:
            return []
        chunks = [cols[i : i + COMPACT_COLUMNS] for i in range(0, len(cols), COMPACT_COLUMNS)]
        if len(chunks) == 1:
            return [Family("other", "Further measures", cols)]
        return [
            Family("other", f"Further measures (part {i} of {len(chunks)})", chunk)
            for i, chunk in enumerate(chunks, start=1)
        ]

    @property
    def any_caution(self) -> bool:
        """Whether any row is marked (so the legend is needed)."""
        return any(r.caution for r in self.rows)

    def reference_for(self, metric: str) -> str | None:
        """The reference group the ratios of ``metric`` are taken against."""
        return next((c.reference for c in self.columns if c.metric == metric), None)

    def lowest(self, metric: str) -> tuple[Row, MetricRecord] | None:
        """The non-reference, non-excluded row with the lowest value of ``metric``."""
        best: tuple[Row, MetricRecord] | None = None
        reference = self.reference_for(metric)
        for row in self.rows:
            rec = row.cells.get(metric)
            if (
                rec is None
                or rec.value is None
                or row.unknown
                or row.excluded
                or metric in row.reference_in
                or row.group == reference
            ):
                continue
            if best is None or rec.value < (best[1].value or 0.0):
                best = (row, rec)
        return best


def _one_reference_each(families: list[Family]) -> list[Family]:
    """Move each column whose reference differs from its family's to a family with that
    reference (the first such), or to a new family titled with the reference."""
    out = [Family(f.key, f.title, list(f.columns)) for f in families]
    for fam in list(out):
        main = fam.reference
        strays = [c for c in fam.columns if c.reference and c.reference != main]
        for col in strays:
            fam.columns.remove(col)
            home = next((f for f in out if f is not fam and f.reference == col.reference), None)
            if home is None:
                home = Family(fam.key, f"{fam.title}, against {col.reference}", [])
                out.insert(out.index(fam) + 1, home)
            home.columns.append(col)
    return [f for f in out if f.columns]


def _merge_scoring_and_errors(families: list[Family]) -> list[Family]:
    """Scoring and error rates in one table when they fit (same rows, one reference: the
    error rates have none), which saves a caption, a header and a row per group."""
    scoring = [f for f in families if f.key == "scoring"]
    errors = [f for f in families if f.key == "errors"]
    if len(scoring) != 1 or len(errors) != 1:
        return families
    cols = scoring[0].columns + errors[0].columns
    if len(cols) > MAX_COLUMNS or errors[0].reference is not None:
        return families
    title = f"{scoring[0].title}; {errors[0].title[0].lower()}{errors[0].title[1:]}"
    merged = Family("scoring", title, cols)
    return [merged if f is scoring[0] else f for f in families if f is not errors[0]]


def _mark_duplicates(table: AttributeTable, families: list[Family]) -> list[Family]:
    """Mark the control-group family whose only column, the adverse impact ratio, repeats
    the impact ratio (same reference, same values in every row)."""
    out = []
    for fam in families:
        metrics = [c.metric for c in fam.columns]
        if metrics == ["adverse_impact_ratio"] and _same_numbers(
            table, "adverse_impact_ratio", "impact_ratio"
        ):
            fam = Family(fam.key, fam.title, fam.columns, same_as="impact_ratio")
        out.append(fam)
    return out


def _same_numbers(table: AttributeTable, metric: str, other: str) -> bool:
    if table.reference_for(metric) != table.reference_for(other):
        return False
    pairs = [(r.cells.get(metric), r.cells.get(other)) for r in table.rows]
    present = [(a, b) for a, b in pairs if a is not None or b is not None]
    return bool(present) and all(
        a is not None
        and b is not None
        and a.value == b.value
        and a.ci_low == b.ci_low
        and a.ci_high == b.ci_high
        and a.p_value == b.p_value
        for a, b in present
    )


def _split(key: str, title: str, columns: list[Column]) -> list[Family]:
    """``columns`` as one family, or as parts of at most :data:`MAX_COLUMNS` columns."""
    if len(columns) <= MAX_COLUMNS:
        return [Family(key, title, columns)]
    chunks = [columns[i : i + MAX_COLUMNS] for i in range(0, len(columns), MAX_COLUMNS)]
    return [
        Family(key, f"{title} (part {i} of {len(chunks)})", chunk)
        for i, chunk in enumerate(chunks, start=1)
    ]


def _base(metric: str) -> str:
    """The metric without its column (``adjusted_mean_difference:apr`` -> the first)."""
    return metric.partition(":")[0]


def _info(metric: str) -> tuple[str, str]:
    """Label and kind; a per-column metric (``name:column``) names its column."""
    base, _, column = metric.partition(":")
    label, kind = METRIC_INFO.get(base, (base.replace("_", " ").capitalize(), "plain"))
    if column and base == "residual_smd":
        label = "Residual SMD"  # an outcome's residuals (APR, limit), not the score's
    return (f"{label} ({column})" if column else label), kind


def metric_label(metric: str) -> str:
    """A readable column label for a metric name."""
    return _info(metric)[0]


def short_label(metric: str) -> str:
    """A short column heading for the compact table."""
    return SHORT_LABELS.get(metric) or metric_label(metric)


def build_tables(result: AuditResult, min_group_size: int | None) -> list[AttributeTable]:
    """One :class:`AttributeTable` per attribute, in the order attributes first appear."""
    by_attr: dict[str, dict[str, Row]] = {}
    metric_order: dict[str, list[str]] = {}
    counts = _group_counts(result.dataset.groups)
    for rec in result.metrics:
        if rec.metric in NOT_IN_TABLES:
            continue
        rows = by_attr.setdefault(rec.attribute, {})
        row = rows.get(rec.group)
        if row is None:
            size = counts.get((rec.attribute, rec.group))
            row = rows[rec.group] = Row(rec.group, None, None, unknown=bool(size and size.unknown))
        row.cells.setdefault(rec.metric, rec)
        order = metric_order.setdefault(rec.attribute, [])
        if rec.metric not in order:
            order.append(rec.metric)
        flags = set(rec.flags)
        row.unknown |= "unknown" in flags
        row.small |= "small_sample" in flags and rec.metric not in CELL_ONLY_METRICS
        if "reference" in flags or (rec.reference is not None and rec.reference == rec.group):
            row.reference_in.add(rec.metric)
        row.excluded |= "excluded" in flags
    for size in result.dataset.groups:
        rows = by_attr.setdefault(size.attribute, {})
        metric_order.setdefault(size.attribute, [])
        if size.group not in rows:
            rows[size.group] = Row(size.group, size.n, None, unknown=size.unknown)
    tables: list[AttributeTable] = []
    for index, (attr, rows) in enumerate(by_attr.items(), start=1):
        for row in rows.values():
            _fill_counts(row, counts.get((attr, row.group)))
            if min_group_size is not None and row.n is not None and row.n < min_group_size:
                row.small = True
        columns = _columns(metric_order[attr], list(rows.values()))
        table = AttributeTable(attr, f"attr-{index}", " & " in attr, list(rows.values()), columns)
        table.same_as = next((t for t in tables if _repeats(table, t)), None)
        tables.append(table)
    return tables


def _repeats(table: AttributeTable, earlier: AttributeTable) -> bool:
    """Whether every number of ``table`` is in ``earlier``: the same groups with the same
    counts, and each metric equal there (value, interval, p-value, reference group and
    test); its adverse impact ratio may stand for ``earlier``'s impact ratio."""
    if earlier.same_as is not None or len(table.rows) != len(earlier.rows):
        return False
    theirs = {r.group: r for r in earlier.rows}
    for row in table.rows:
        other = theirs.get(row.group)
        if other is None or (row.n, row.count, row.unknown) != (
            other.n,
            other.count,
            other.unknown,
        ):
            return False
        for metric, rec in row.cells.items():
            twin = other.cells.get(metric)
            if twin is None and metric == "adverse_impact_ratio":
                twin = other.cells.get("impact_ratio")
            if twin is None or not _same_record(rec, twin):
                return False
    return bool(table.rows)


def _same_record(a: MetricRecord, b: MetricRecord) -> bool:
    return (a.value, a.ci_low, a.ci_high, a.p_value, a.reference, a.n, a.count) == (
        b.value,
        b.ci_low,
        b.ci_high,
        b.p_value,
        b.reference,
        b.n,
        b.count,
    ) and test_name(a) == test_name(b)


def _group_counts(groups: tuple[GroupCount, ...]) -> dict[tuple[str, str], GroupCount]:
    return {(g.attribute, g.group): g for g in groups}


def _fill_counts(row: Row, size: GroupCount | None) -> None:
    rate = row.cells.get("selection_rate") or row.cells.get("scoring_rate")
    if rate is not None:
        row.n, row.count = rate.n, rate.count
    elif size is not None:
        row.n = size.n
    elif row.cells:
        row.n = max(rec.n for rec in row.cells.values())


def _sort_key(metric: str) -> tuple[int, str]:
    known = list(METRIC_INFO)
    base = _base(metric)
    return (known.index(base), metric) if base in known else (len(known), metric)


def _columns(metrics: list[str], rows: list[Row]) -> list[Column]:
    columns = []
    for metric in sorted(metrics, key=_sort_key):
        recs = [r.cells[metric] for r in rows if metric in r.cells]
        label, kind = _info(metric)
        # a column names its reference only when every record shares it; otherwise (slices,
        # each against the other groups of its own slice) each cell names its own
        references = {rec.reference for rec in recs if rec.reference}
        reference = references.pop() if len(references) == 1 else None
        tested = [rec for rec in recs if rec.p_value is not None]
        names = {test_name(rec) for rec in tested}
        test = names.pop() if len(names) == 1 else None
        has_ci = _base(metric) not in NO_INTERVAL
        columns.append(Column(metric, label, kind, reference, bool(tested), test, has_ci))
    return columns
