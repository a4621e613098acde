"""The NYC Local Law 144 bias-audit summary (6 RCNY 5-301 calculations, 5-303 contents).

Everything comes from the stored :class:`AuditResult`: the selection/scoring rate and
impact-ratio records per grouping, the group sizes, the spec's evidence block and the run.
Groupings map to the LL144 categories (sex, race/ethnicity, intersectional) by the legal
category their columns carry (see :mod:`auditor.policy.roles`); every other grouping is
shown too, marked as not an LL144 category. Nothing here judges the numbers: LL144 sets
no pass/fail threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.policy.roles import INTERSECTION_SEP, categories_by_name, grouping_categories
from auditor.report.findings import FindingRow, condense
from auditor.report.ll144_publication import Publication, publication
from auditor.report.tables import AttributeTable
from auditor.result import AuditResult, Finding, MetricRecord

SMALL_SHARE = 0.02
CATEGORY_ORDER = ("sex", "race", "intersection", "other")
CATEGORY_TITLES = {
    "sex": "Sex categories",
    "race": "Race/ethnicity categories",
    "intersection": "Intersectional categories (sex × race/ethnicity)",
    "other": "Other grouping (not an LL144 category; shown for completeness)",
}
LL144_PACK = "nyc_ll144"
RATIOS = frozenset({"impact_ratio", "scoring_impact_ratio"})
RATES = frozenset({"selection_rate", "scoring_rate"})


@dataclass
class LL144Row:
    """One category of one grouping."""

    group: str
    n: int | None
    share: float | None
    selected: int | None
    selection_rate: MetricRecord | None
    impact_ratio: MetricRecord | None
    scoring_rate: MetricRecord | None
    scoring_impact_ratio: MetricRecord | None
    unknown: bool
    under_share: bool
    reference: bool
    excluded: bool
    # the category every impact ratio of its table is taken against: one per table
    selection_highest: bool = False
    scoring_highest: bool = False


@dataclass
class LL144Grouping:
    """The rate and impact-ratio table of one grouping (attribute or intersection)."""

    name: str
    category: str
    title: str
    anchor: str
    rows: list[LL144Row]
    unknown_n: int
    has_selection: bool
    has_scoring: bool

    @property
    def kinds(self) -> list[str]:
        """The tables this grouping gets: ``selection`` and/or ``scoring`` (each with its
        own highest category, so one table never marks two)."""
        kinds = (("selection", self.has_selection), ("scoring", self.has_scoring))
        return [kind for kind, present in kinds if present]

    @property
    def small(self) -> list[LL144Row]:
        """Categories under 2% of the data (unknowns aside)."""
        return [r for r in self.rows if r.under_share]


@dataclass
class LL144View:
    """What the LL144 summary shows."""

    audit_date: str
    data_source: str | None
    distribution_date: str | None
    independent_auditor: str | None
    applicants: int
    selected: int
    groupings: list[LL144Grouping]
    missing_categories: list[str]
    tool_kind: str
    publication: Publication | None = None
    exclusion_share: float | None = None
    exclusion_justification: str | None = None
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def finding_rows(self) -> list[FindingRow]:
        """The pack's findings as table rows (long runs of one rule condensed)."""
        return condense(self.findings)

    @property
    def small_rows(self) -> list[tuple[LL144Grouping, LL144Row]]:
        """Every category under 2% of the data, with its grouping."""
        return [(g, r) for g in self.groupings for r in g.small]


def category_of(name: str, categories: Mapping[str, frozenset[str]] | None = None) -> str:
    """The LL144 category a grouping maps to: sex, race, intersection or other.

    By the legal categories the grouping carries (declared in the spec's ``protected``
    entries, else implied by the column name as a whole word), never by a substring: a
    ``gender`` column declared as sex is sex, ``sex & age_band`` is not a sex category.
    """
    cats = (categories or {}).get(name)
    if cats is None:
        cats = categories_by_name([name])[name]
    parts = len(name.split(INTERSECTION_SEP))
    if parts == 1 and cats == {"sex"}:
        return "sex"
    if parts == 1 and cats == {"race_ethnicity"}:
        return "race"
    if parts == 2 and cats == {"sex", "race_ethnicity"}:
        return "intersection"
    return "other"


def spec_categories(spec: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Grouping -> legal categories from a stored spec (declared roles, else by name)."""
    protected = [p for p in spec.get("protected") or [] if isinstance(p, str)]
    protected += [str(a) for a in spec.get("protected_probabilities") or {}]
    roles = spec.get("protected_roles") or {}
    declared = {
        str(c): str(r["category"])
        for c, r in roles.items()
        if isinstance(r, Mapping) and "category" in r
    }
    combos = [list(map(str, c)) for c in spec.get("intersections") or [] if isinstance(c, list)]
    return grouping_categories(protected, combos, declared)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def build_ll144(
    result: AuditResult, tables: list[AttributeTable], audit_date: str, *, public: bool = False
) -> LL144View:
    """The LL144 summary's context, from the result and its pivoted tables.

    ``public``: for the published summary, whose required facts
    (:mod:`auditor.report.ll144_publication`) must all be in the spec; a missing one is a
    :class:`RenderError` naming it.
    """
    facts = publication(result) if public else None
    spec = result.spec if isinstance(result.spec, dict) else {}
    raw = spec.get("evidence")
    evidence: dict[str, Any] = raw if isinstance(raw, dict) else {}
    rows_total = result.dataset.rows
    sizes = {(g.attribute, g.group): g for g in result.dataset.groups}
    categories = spec_categories(spec)
    groupings = []
    for table in tables:
        rows = []
        unknown_n = 0
        references = {table.reference_for(m) for m in RATIOS} - {None}
        selection_ref = table.reference_for("impact_ratio")
        scoring_ref = table.reference_for("scoring_impact_ratio")
        for row in table.rows:
            size = sizes.get((table.name, row.group))
            if size is None and not RATIOS.union(RATES) & row.cells.keys():
                continue  # e.g. an "all groups" test record: not an LL144 category
            n = row.n if row.n is not None else (size.n if size else None)
            share = (
                size.share
                if size is not None
                else (n / rows_total if n is not None and rows_total else None)
            )
            sel = row.cells.get("selection_rate")
            if row.unknown:
                unknown_n += n or 0
            rows.append(
                LL144Row(
                    group=row.group,
                    n=n,
                    share=share,
                    selected=row.count if sel is not None else None,
                    selection_rate=sel,
                    impact_ratio=row.cells.get("impact_ratio"),
                    scoring_rate=row.cells.get("scoring_rate"),
                    scoring_impact_ratio=row.cells.get("scoring_impact_ratio"),
                    unknown=row.unknown,
                    under_share=(not row.unknown and share is not None and share < SMALL_SHARE),
                    reference=bool(row.reference_in & RATIOS) or row.group in references,
                    excluded=row.excluded,
                    selection_highest=not row.unknown
                    and ("impact_ratio" in row.reference_in or row.group == selection_ref),
                    scoring_highest=not row.unknown
                    and ("scoring_impact_ratio" in row.reference_in or row.group == scoring_ref),
                )
            )
        metrics = {c.metric for c in table.columns}
        if not metrics & RATIOS.union(RATES):
            continue  # e.g. slice-search subgroups: findings, not LL144 categories
        category = category_of(table.name, categories)
        groupings.append(
            LL144Grouping(
                name=table.name,
                category=category,
                title=CATEGORY_TITLES[category],
                anchor=f"ll144-{table.anchor}",
                rows=rows,
                unknown_n=unknown_n,
                has_selection="selection_rate" in metrics or "impact_ratio" in metrics,
                has_scoring="scoring_rate" in metrics or "scoring_impact_ratio" in metrics,
            )
        )
    groupings.sort(key=lambda g: CATEGORY_ORDER.index(g.category))
    present = {g.category for g in groupings if g.has_selection or g.has_scoring}
    missing = [CATEGORY_TITLES[c] for c in ("sex", "race", "intersection") if c not in present]
    selection = any(g.has_selection for g in groupings)
    scoring = any(g.has_scoring for g in groupings)
    tool_kind = (
        "selection and scoring"
        if selection and scoring
        else "scoring"
        if scoring
        else "selection"
        if selection
        else "none"
    )
    view = LL144View(
        audit_date=audit_date,
        data_source=_text(evidence.get("data_source")),
        distribution_date=_text(evidence.get("distribution_date")),
        independent_auditor=_text(evidence.get("independent_auditor")),
        applicants=rows_total,
        selected=result.dataset.favorable,
        groupings=groupings,
        missing_categories=missing,
        tool_kind=tool_kind,
        publication=facts,
        findings=[f for f in result.findings if f.pack == LL144_PACK],
    )
    exclusion = spec.get("small_category_exclusion")
    if isinstance(exclusion, dict):
        view.exclusion_share = float(exclusion.get("below_share", SMALL_SHARE))
        view.exclusion_justification = _text(exclusion.get("justification"))
    view.warnings = _warnings(result, view)
    return view


def _warnings(result: AuditResult, view: LL144View) -> list[str]:
    out = []
    if view.data_source is None:
        out.append(
            "Data source: not stated. 6 RCNY 5-303 requires the summary to give the source "
            "and an explanation of the data; add it to the spec as evidence.data_source."
        )
    for title in view.missing_categories:
        out.append(
            f"{title}: not in this audit (no rates recorded). 6 RCNY 5-301 requires rates "
            "and impact ratios for "
            "sex, race/ethnicity and intersectional categories."
        )
    if result.domain != "hiring":
        out.append(
            f"This audit's domain is '{result.domain}'. NYC LL144 covers automated "
            "employment decision tools used for hiring or promotion."
        )
    if view.tool_kind == "none":
        out.append("No selection rate, scoring rate or impact ratio was recorded.")
    return out
