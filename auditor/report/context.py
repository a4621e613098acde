"""Build the template context of the audit report from an :class:`AuditResult`.

The context holds plain data and plain-text sentences; the templates autoescape all of it.
Only the chart SVG (generated here, its text XML-escaped by the chart code) is marked safe.

Wording rule for every sentence here: say what was measured and how sure we are; never
call the model or the decisions "fair", "unbiased" or "compliant".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from auditor.report.aaa import build_aaa
from auditor.report.attachments import report_attachments
from auditor.report.attribution import AttributionView, build_attribution
from auditor.report.calibration import MIN_BIN_N, attach_calibration
from auditor.report.charts import Figure
from auditor.report.explanation_quality import build_explanation_quality
from auditor.report.figures import attach_figures
from auditor.report.findings import (
    CONDENSE_AT,
    build_by_scope,
    build_other_packs,
    build_packs,
)
from auditor.report.lda import build_lda_view
from auditor.report.lead import build_lead
from auditor.report.letter_lines import letter_lines
from auditor.report.ll144 import build_ll144
from auditor.report.presets import PRESETS, Preset
from auditor.report.summary import key_numbers, summary_sentences
from auditor.report.tables import AttributeTable, build_tables
from auditor.report.trend import build_trend_view
from auditor.result import AuditResult, GroupCount

if TYPE_CHECKING:
    from auditor.store.letter_batches import LetterBatchRow

STATUS_TEXT = {
    "fail": "rule not met",
    "warn": "needs attention",
    "insufficient_evidence": "too little data to decide",
    "needs_attestation": "needs a signed attestation or document",
    "pass": "rule met as checked",
    "not_applicable": "does not apply",
}
LIMITATIONS = (
    "The data are observational: the measurements describe the decisions in the audited "
    "data and do not by themselves establish the cause of any difference between groups.",
    "The four-fifths (0.80) convention from the US Uniform Guidelines (29 CFR 1607.4(D)) is a "
    "screen, not a legal threshold: NYC Local Law 144 sets no threshold at all and EU law has "
    "no numeric threshold. A ratio below 0.80 from a small group may mean little, and a ratio "
    "above 0.80 in a large sample can still reflect a significant disparity, so read the "
    "intervals and p-values alongside every ratio.",
    "Many groups and intersections are compared at once, so some small p-values are expected "
    "by chance alone.",
    "Confidence intervals and p-values assume that decisions are independent of each other; "
    "repeated applicants, batch decisions or quotas make the real uncertainty larger.",
    "Attribution methods explain how the model maps inputs to outputs, not how the world "
    "works: a feature with a large attribution gap is a lead for review, not proof of a "
    "cause, and features correlated with a protected attribute can carry its effect.",
    "Groups with few records give wide intervals; they are marked and their findings are "
    "reported as insufficient evidence rather than as met.",
    "Records with an unknown protected value are counted and shown but excluded from "
    "ratios; if unknowns are not missing at random, the ratios can be off in either "
    "direction.",
)


def build_context(
    result: AuditResult,
    preset: Preset | None = None,
    *,
    history: Sequence[AuditResult] = (),
    letters: Sequence[LetterBatchRow] = (),
    lda: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the report templates use, derived deterministically from ``result``,
    the earlier runs in ``history`` (for the trend; later runs are ignored) and the
    audit's stored letter batches ``letters`` (the summary's "Letters" lines), and the
    record of a stored search for less discriminatory alternatives made for this audit
    and model (``lda``; section 4 then ends with its summary and frontier chart).

    Charts are drawn only for presets that show them (``preset.charts``).
    """
    preset = preset or PRESETS["full"]
    spec = result.spec if isinstance(result.spec, dict) else {}
    min_size = spec.get("min_group_size")
    min_group_size = min_size if isinstance(min_size, int) else None
    tables = build_tables(result, min_group_size)
    if preset.charts:
        attach_figures(tables)
        attach_calibration(result, tables)
    keys = key_numbers(tables)
    attribution = build_attribution(result.attributions, tables, figures=preset.charts)
    quality = build_explanation_quality(result.explanation_quality, figures=preset.charts)
    lda_view = (
        build_lda_view(lda, chart=preset.charts)
        if lda is not None and "results" in preset.sections
        else None
    )
    _number_figures(tables, attribution, quality.figure, lda_view.figure if lda_view else None)
    calibration = calibration_figures(tables)
    trend = build_trend_view(result, history) if "results" in preset.sections else None
    audit_date = str(spec.get("audit_date") or result.run.started_at[:10])
    return {
        "preset": preset,
        "sections": preset.templates(),
        "cover_kicker": preset.kicker.format(domain=result.domain.capitalize()),
        "ll144": (
            build_ll144(result, tables, audit_date, public=preset.key == "ll144")
            if "ll144" in preset.sections
            else None
        ),
        "aaa": (
            build_aaa(result, tables, attribution, audit_date) if "aaa" in preset.sections else None
        ),
        "lead": build_lead(result, quality) if "lead" in preset.sections else None,
        "r": result,
        "spec": spec,
        "min_group_size": min_group_size,
        "audit_date": audit_date,
        "statuses": [(s, n, STATUS_TEXT[s]) for s, n in result.findings_by_status().items()],
        "key_numbers": keys,
        "summary": summary_sentences(
            result, tables, keys, key_sentences="lead" not in preset.sections
        ),
        "group_sizes": _group_sizes(result.dataset.groups),
        "letter_lines": letter_lines(letters),
        "tables": tables,
        "reference_rule": _reference_rule(spec),
        "attribution": attribution,
        "explanation_quality": quality,
        "packs": build_packs(result),
        # the full report's section 6: action findings once per group, then the rest by pack
        "by_scope": build_by_scope(result),
        "other_packs": build_other_packs(result),
        "action_counts": _action_counts(result),
        "condense_at": CONDENSE_AT,
        "limitations": LIMITATIONS,
        "attachments": report_attachments(result) if "appendix" in preset.sections else [],
        "trend": trend,
        "lda": lda_view,
        "calibration_figures": calibration,
        "calibration_min_bin_n": MIN_BIN_N,
        # section 4's numbered subsections after the per-attribute tables
        "results_subsections": results_subsections(
            len(tables),
            calibration=bool(calibration),
            trend=trend is not None,
            lda=lda_view is not None,
            screener=result.screener is not None,
        ),
        # a recorded sign-off fills the sign-off block (render_html sets it; issue 21)
        "signoff": None,
    }


def _number_figures(
    tables: list[AttributeTable],
    attribution: AttributionView,
    quality: Figure | None,
    lda: Figure | None = None,
) -> None:
    # the per-attribute charts, then the calibration charts (one subsection after the
    # attribute tables, three to a row), in the order the report shows them
    figures = [f for t in tables for f in t.figures if f.width == "full"]
    figures += [f for t in tables for f in t.figures if f.width != "full"]
    if lda is not None:  # the last subsection of section 4, before the attributions
        figures.append(lda)
    if attribution.importance_figure is not None:
        figures.append(attribution.importance_figure)
    figures += [g.figure for g in attribution.gaps if g.figure is not None]
    figures += [w.figure for w in attribution.waterfalls if w.figure is not None]
    if quality is not None:
        figures.append(quality)
    for number, figure in enumerate(figures, start=1):
        figure.number = number


def calibration_figures(tables: list[AttributeTable]) -> list[tuple[str, int, Figure]]:
    """Each table's small (calibration) charts as ``(table anchor, 1-based index in the
    table's figures, figure)``: the index keeps the workspace's figure ids stable."""
    return [
        (t.anchor, i, f)
        for t in tables
        for i, f in enumerate(t.figures, start=1)
        if f.width != "full"
    ]


def results_subsections(
    n_tables: int, *, calibration: bool, trend: bool, lda: bool, screener: bool
) -> dict[str, str]:
    """The numbers (``"4.7"``) of section 4's subsections after its ``n_tables`` attribute
    tables, in their order: calibration, changes since earlier runs, the search for less
    discriminatory alternatives, the screener's paired probes. Only present ones get one."""
    out: dict[str, str] = {}
    number = n_tables
    for key, present in (
        ("calibration", calibration),
        ("trend", trend),
        ("lda", lda),
        ("screener", screener),
    ):
        if present:
            number += 1
            out[key] = f"4.{number}"
    return out


def action_counts(result: AuditResult) -> dict[str, int]:
    """Per pack, how many of its findings section 6.1 shows (the web's filtered view)."""
    return _action_counts(result)


def _action_counts(result: AuditResult) -> dict[str, int]:
    """Per pack, how many of its findings section 6.1 shows (failed, warned, too little data)."""
    out: dict[str, int] = {}
    for f in result.findings:
        if f.status in ("fail", "warn", "insufficient_evidence"):
            out[f.pack] = out.get(f.pack, 0) + 1
    return out


def _group_sizes(groups: tuple[GroupCount, ...]) -> list[tuple[str, list[GroupCount]]]:
    by_attr: dict[str, list[GroupCount]] = {}
    for g in groups:
        by_attr.setdefault(g.attribute, []).append(g)
    return list(by_attr.items())


def _reference_rule(spec: dict[str, Any]) -> list[tuple[str, str]] | None:
    ref = spec.get("reference", "highest")
    if isinstance(ref, dict):
        return [(str(k), str(v)) for k, v in ref.items()]
    return None
