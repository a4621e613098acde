"""The impact-assessment document after the proposed Algorithmic Accountability Act.

The AAA (2022 S.3572 / H.R.6580; 2023 and 2025 versions near-identical) was never enacted:
this is an advisory template. Each element of the impact assessment its §4(a) lists is one
row, with the evidence this audit holds for it or "not evidenced by this audit". Only
facts stored in the :class:`AuditResult` are used (metrics, attributions, dataset summary,
provenance, the spec's evidence block); an element the audit cannot speak to is said to be
missing, never filled in. Element wording follows the shared regulation notes (section
numbers of the 2022/2023 text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from auditor.report.attribution import AttributionView
from auditor.report.filters import percent, sci
from auditor.report.findings import FindingRow, condense
from auditor.report.tables import AttributeTable
from auditor.result import AuditResult, Finding

AAA_PACK = "aaa"
Status = Literal["held", "partial", "missing"]
STATUS_TEXT: dict[Status, str] = {
    "held": "evidence held",
    "partial": "partly evidenced",
    "missing": "not evidenced by this audit",
}
MISSING = "Not evidenced by this audit."
CHARACTERISTICS = (
    "race",
    "color",
    "sex",
    "gender",
    "age",
    "disability",
    "religion",
    "family status",
    "socioeconomic status",
    "veteran status",
)

# (citation, element, what the element asks for)
ELEMENTS: tuple[tuple[str, str, str], ...] = (
    (
        "§4(a)(1)",
        "Pre-existing decision process",
        "Baseline description of the process being replaced or augmented, known harms and "
        "failure cases, intended benefits and need, intended purpose.",
    ),
    (
        "§4(a)(2)",
        "Stakeholder consultation",
        "Who was consulted (points of contact), when, on what terms, the materials shown, "
        "recommendations adopted and rejected with rationale.",
    ),
    (
        "§4(a)(3)",
        "Privacy",
        "Privacy testing: data minimisation and retention of identifying information and "
        "decisions; security and privacy-enhancing technologies; positive and negative "
        "privacy impacts.",
    ),
    (
        "§4(a)(4)(A)",
        "Performance: definition of success and metrics",
        "Definition of success and the technical and business metrics used.",
    ),
    (
        "§4(a)(4)(B)",
        "Performance under test conditions",
        "Performance under test conditions, or why it was not assessed.",
    ),
    (
        "§4(a)(4)(C)",
        "Performance under deployed conditions",
        "Performance under deployed conditions, or why it was not assessed.",
    ),
    (
        "§4(a)(4)(D)",
        "Test versus deployed performance",
        "Comparison of performance under test and under deployed conditions.",
    ),
    (
        "§4(a)(4)(E)",
        "Differential performance by protected characteristic",
        "Differential performance by race, color, sex, gender, age, disability, religion, "
        "family status, socioeconomic status, veteran status (and combinations) for which "
        "the entity has information, with the methodology and how characteristics were "
        "identified.",
    ),
    (
        "§4(a)(4)(F)",
        "Subpopulations evaluated",
        "Which subpopulations were used for the evaluation, and why.",
    ),
    (
        "§4(a)(5)",
        "Training and education",
        "Ongoing training and education of staff on documented negative impacts and on "
        "better assessment methods.",
    ),
    (
        "§4(a)(6)",
        "Guardrails and limits on use",
        "Need for guardrails or limits on uses (prohibited uses, licence terms).",
    ),
    (
        "§4(a)(7)",
        "Data documentation",
        "Data sourcing and licensing, metadata, collection, inference and labelling "
        "methodology, consent, why the data were used and alternatives explored, "
        "representativeness, data quality and cleaning.",
    ),
    (
        "§4(a)(8)",
        "Consumer rights and explainability",
        "Notice, opt-out, transparency and explainability (including which contributing "
        "factors, if changed, would lead to a different decision), contest, correction and "
        "appeal, complaint logs, remediation, third-party recipients.",
    ),
    (
        "§4(a)(9)",
        "Likely material negative impacts",
        "Identify and measure likely material negative impacts; mitigation steps; impacts "
        "left unmitigated with rationale; protocols and staff training.",
    ),
    (
        "§4(a)(10)",
        "Development and deployment documentation",
        "Dates of testing, deployment, licensing and milestones; internal points of contact.",
    ),
    (
        "§4(a)(11)",
        "Capabilities and resources",
        "Capabilities and resources needed (performance, fairness, transparency and "
        "contestability, privacy and security, safety, efficiency, cost).",
    ),
    (
        "§4(a)(12)",
        "Infeasible requirements",
        "Requirements attempted but found infeasible, with rationale.",
    ),
    (
        "§4(a)(13)",
        "Other evaluations specified by the FTC",
        "Any other evaluation the Federal Trade Commission specifies.",
    ),
)


@dataclass
class Element:
    """One §4(a) element with the evidence the audit holds for it."""

    citation: str
    title: str
    asks: str
    status: Status
    evidence: list[str]
    missing: list[str]

    @property
    def status_text(self) -> str:
        """The status in words."""
        return STATUS_TEXT[self.status]


@dataclass
class AAAView:
    """What the impact-assessment document shows."""

    elements: list[Element]
    counts: list[tuple[str, int]]
    reference: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def finding_rows(self) -> list[FindingRow]:
        """The pack's findings as table rows (long runs of one rule condensed)."""
        return condense(self.findings)


def _evidence(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("evidence")
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if v is not None and str(v).strip()}


def build_aaa(
    result: AuditResult,
    tables: list[AttributeTable],
    attribution: AttributionView,
    audit_date: str,
) -> AAAView:
    """One :class:`Element` per §4(a) element, filled from what the result holds."""
    spec = result.spec if isinstance(result.spec, dict) else {}
    ev = _evidence(spec)
    filled = _fill(result, tables, attribution, audit_date, ev)
    elements = []
    for citation, title, asks in ELEMENTS:
        evidence, missing = filled.get(citation, ([], []))
        status: Status = "missing" if not evidence else "partial" if missing else "held"
        if not evidence:
            missing = [MISSING]
        elements.append(Element(citation, title, asks, status, evidence, missing))
    counts = [(STATUS_TEXT[s], sum(1 for e in elements if e.status == s)) for s in STATUS_TEXT]
    return AAAView(
        elements=elements,
        counts=counts,
        reference=ev.get("impact_assessment"),
        findings=[f for f in result.findings if f.pack == AAA_PACK],
    )


Filled = dict[str, tuple[list[str], list[str]]]


def _fill(
    result: AuditResult,
    tables: list[AttributeTable],
    at: AttributionView,
    audit_date: str,
    ev: dict[str, str],
) -> Filled:
    ds = result.dataset
    out: Filled = {}
    if "independent_auditor" in ev:
        out["§4(a)(2)"] = (
            [f"Independent auditor attested in the spec: {ev['independent_auditor']}."],
            ["Record of consultation (who, when, terms, materials, recommendations)."],
        )
    if "dpia_date" in ev:
        out["§4(a)(3)"] = (
            [f"A data-protection impact assessment dated {ev['dpia_date']} is attested."],
            ["Privacy testing results, retention periods and privacy-enhancing measures."],
        )
    metrics = sorted({m.metric for m in result.metrics})
    perf = [m for m in metrics if m in {"accuracy", "tpr", "fpr", "fnr", "ppv", "ece"}]
    if perf:
        out["§4(a)(4)(A)"] = (
            [
                "Performance metrics measured against outcome labels, per group: "
                + ", ".join(perf)
                + "."
            ],
            ["The definition of success and the business metrics."],
        )
    if "data_source" in ev:
        out["§4(a)(4)(B)"] = (
            [f"Data the audit ran on, as stated: {ev['data_source']}"],
            ["Performance measured under test conditions, or why it was not assessed."],
        )
    groupings = [t.name for t in tables]
    rates = [m for m in metrics if m in {"selection_rate", "impact_ratio", "scoring_rate"}]
    if groupings and rates:
        low = []
        for t in tables:
            hit = t.lowest("impact_ratio")
            if hit is not None and hit[1].value is not None:
                low.append(
                    f"{t.name}: lowest impact ratio {hit[1].value:.3f} "
                    f"({hit[0].group} vs {hit[1].reference or t.reference_for('impact_ratio')})"
                )
        evidence = [
            f"Group metrics for {len(groupings)} grouping(s): {', '.join(groupings)}.",
            f"{len(metrics)} metric kinds recorded ({len(result.metrics):,} records), "
            "with 95% intervals and significance tests where computed.",
            *low,
        ]
        protected = spec_list(result.spec, "protected")
        names = " ".join([*protected, *groupings]).lower()
        unmeasured = [c for c in CHARACTERISTICS if c.split()[0] not in names]
        missing = (
            ["Not measured by this audit: " + ", ".join(unmeasured) + "."] if unmeasured else []
        )
        if protected:
            evidence.append(
                "Characteristics identified from the data columns "
                + ", ".join(protected)
                + " (never model inputs)."
            )
        out["§4(a)(4)(E)"] = (evidence, missing)
        min_size = result.spec.get("min_group_size") if isinstance(result.spec, dict) else None
        small = sum(1 for t in tables for r in t.rows if r.small)
        out["§4(a)(4)(F)"] = (
            [
                f"Subpopulations: every group of {', '.join(groupings)}"
                + (f"; minimum group size {min_size}" if min_size is not None else "")
                + f"; {small} group(s) below it, reported as insufficient evidence."
            ],
            ["Why these subpopulations were chosen."],
        )
    data_ev = [
        f"{ds.rows:,} decisions ({ds.favorable:,} favourable), {len(ds.features)} model "
        f"feature(s); data SHA-256 {result.provenance.data_sha256[:16]}…",
        "Group sizes and shares per protected attribute (representativeness of the audited data).",
    ]
    if "data_source" in ev:
        data_ev.append(f"Data source: {ev['data_source']}")
    out["§4(a)(7)"] = (
        data_ev,
        [
            "Licensing, collection and labelling methodology, consent, alternatives explored, "
            "data quality and cleaning."
            + ("" if "data_source" in ev else " Data source not stated.")
        ],
    )
    rights_ev = []
    if at.computed:
        err = sci(at.additivity_error) if at.additivity_error is not None else "not measured"
        rights_ev.append(
            f"Feature attributions by {at.method_name or at.method} for "
            f"{at.n_explained:,} decisions; measured additivity error {err}"
            + (f" (tolerance {sci(at.tolerance)})" if at.tolerance is not None else "")
            + "."
        )
    if "human_review_process" in ev:
        rights_ev.append(f"Review on request, as attested: {ev['human_review_process']}")
    if rights_ev:
        out["§4(a)(8)"] = (
            rights_ev,
            [
                "Counterfactual explanations (§4(a)(8)(B)(i)): attributions are not "
                "counterfactuals.",
                "Notice, opt-out, complaint and appeal logs, third-party recipients.",
            ],
        )
    fails = [f for f in result.findings if f.status in ("fail", "warn")]
    if result.findings:
        below = sum(
            1
            for m in result.metrics
            if m.metric == "impact_ratio" and m.value is not None and m.value < 0.8
        )
        out["§4(a)(9)"] = (
            [
                f"{len(fails)} finding(s) not met or needing attention out of "
                f"{len(result.findings)}; {below} impact ratio(s) below the 0.80 convention "
                f"({percent(below / max(1, _count(result, 'impact_ratio')))} of those measured)."
            ],
            ["Mitigation steps and the rationale for impacts left unmitigated."],
        )
    out["§4(a)(10)"] = (
        [
            f"Audit date {audit_date}; run {result.run.started_at} to {result.run.finished_at}.",
            "Model SHA-256 "
            + (
                f"{result.provenance.model_sha256[:16]}…"
                if result.provenance.model_sha256
                else "none (decisions-only audit)"
            )
            + ".",
        ],
        ["Deployment, licensing and milestone dates; internal points of contact."],
    )
    return out


def _count(result: AuditResult, metric: str) -> int:
    return sum(1 for m in result.metrics if m.metric == metric and m.value is not None)


def spec_list(spec: Any, key: str) -> list[str]:
    """``spec[key]`` as a list of strings (empty when absent or not a list)."""
    if not isinstance(spec, dict):
        return []
    value = spec.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []
