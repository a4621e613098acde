"""Context of the report section "How far the explanations can be trusted" (issue 10).

Built from ``AuditResult.explanation_quality`` only (the report never needs the model).
Two renderings of the same measurements: ``sentences`` for the officer (plain language,
what was measured and how sure we are) and ``rows`` / ``agreement`` for the technical
appendix. The letters code draws on the same block for its human-review flag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from auditor.quality_block import ExplanationQuality, MethodQualityRecord
from auditor.report.chart_cache import cached_chart
from auditor.report.charts import Figure
from auditor.report.plot import (
    BLACK,
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    SKY,
    VERMILLION,
    WIDTH_IN,
)
from auditor.report.svgaxes import (
    LABEL_PAD,
    TICK_PAD,
    Axes,
    Handle,
    draw_legend,
    legend,
    spines,
    tick_labels,
    x_axis,
    x_label,
    y_axis,
    y_label,
)
from auditor.report.svgdraw import (
    LABEL_SIZE,
    TICK_SIZE,
    Canvas,
    Stroke,
    line_d,
    polyline_d,
    text_width,
)

METHOD_LABELS = {
    "tree_shap": "Tree SHAP",
    "tree_shap_interactions": "Tree SHAP (with interactions)",
    "integrated_gradients": "Integrated gradients",
    "permutation_shap": "Permutation SHAP",
    "deeplift": "DeepLIFT (rescale)",
    "lrp": "LRP (epsilon rule)",
    "gradient_x_input": "Gradient × input",
    "saliency": "Saliency",
    "lime": "LIME-style surrogate",
}
NO_BACKGROUND = {"tree_shap", "tree_shap_interactions", "lrp", "saliency"}
# colour and dash pattern in line widths (matplotlib's "-", "--", "-." and ":")
_SOLID: tuple[float, ...] = ()
_DASHED = (3.7, 1.6)
_DASH_DOT = (6.4, 1.6, 1.0, 1.6)
_DOTTED = (1.0, 1.65)
_STYLES: list[tuple[str, tuple[float, ...]]] = [
    (BLUE, _SOLID),
    (VERMILLION, _DASHED),
    (GREEN, _DASH_DOT),
    (ORANGE, _DOTTED),
    (SKY, _SOLID),
    (BLACK, _DASHED),
    ("#CC79A7", _DASH_DOT),
]
RANDOM = Stroke(GREY, 1.4, (1.4, 1.4), join="round")
ZERO = Stroke(BLACK, 0.6)
PT = 72.0


@dataclass
class MethodRow:
    """One method's figures, formatted for the technical table."""

    method: str
    label: str
    primary: bool
    additive: bool
    completeness: str
    completeness_note: str
    deletion_auc: float | None
    insertion_auc: float | None
    infidelity: float | None
    max_sensitivity: float | None
    changed_perturbation: float
    changed_background: float


@dataclass
class QualityView:
    """Everything the section template shows."""

    computed: bool
    reason: str | None = None
    primary: str | None = None
    primary_label: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    rows: list[MethodRow] = field(default_factory=list)
    random_deletion_auc: float | None = None
    sentences: list[str] = field(default_factory=list)
    agreement: list[dict[str, Any]] = field(default_factory=list)
    figure: Figure | None = None


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _completeness(m: MethodQualityRecord) -> tuple[str, str]:
    err, rel = m["completeness_max"], m["completeness_relative"]
    if err is None or rel is None:  # not finite (the method's attributions were not)
        return "n/a", "not measured"
    if not m["additive"]:
        return f"{err:.2g}", "not by design"
    if err < 1e-3:  # float32 networks round at about 1e-5
        return f"{err:.1e}", "exactly"
    if rel < 0.01:
        return f"{err:.2g}", "within 1%"
    return f"{err:.2g}", f"{rel:.0%} off"


def build_explanation_quality(
    quality: ExplanationQuality | Mapping[str, Any], *, figures: bool
) -> QualityView:
    """The section's view of a stored quality block (empty or old results included)."""
    block = ExplanationQuality.from_json(quality)
    if not block.computed:
        reason = block.reason or "this audit did not measure explanation quality"
        return QualityView(computed=False, reason=reason)
    primary = block.primary
    # the audit's own first
    methods = sorted(block.methods or (), key=lambda m: m["method"] != primary)
    rows = []
    for m in methods:
        value, note = _completeness(m)
        rows.append(
            MethodRow(
                method=m["method"],
                label=_label(m["method"]),
                primary=m["method"] == primary,
                additive=m["additive"],
                completeness=value,
                completeness_note=note,
                deletion_auc=m["deletion_auc"],
                insertion_auc=m["insertion_auc"],
                infidelity=m["infidelity"],
                max_sensitivity=m["max_sensitivity"],
                changed_perturbation=m["reasons_changed_perturbation"],
                changed_background=m["reasons_changed_background"],
            )
        )
    view = QualityView(
        computed=True,
        primary=primary,
        primary_label=_label(primary) if primary else None,
        settings=dict(block.settings or {}),
        rows=rows,
        random_deletion_auc=block.random_order["deletion_auc"] if block.random_order else None,
        agreement=[
            {**p, "a_label": _label(p["a"]), "b_label": _label(p["b"])}
            for p in block.agreement or ()
        ],
    )
    view.sentences = _sentences(block, view)
    if figures:
        view.figure = Figure(
            deletion_chart(block, chart_id="explanation-deletion"),
            "Deletion curves. Features are set to the average applicant's value one at a time, "
            "in the order each method ranks them, and the share of the output's distance from "
            "the average that is still present is tracked. A curve that falls faster means the "
            "method put the features that matter first; the grey line is a random order.",
        )
    return view


def _sentences(block: ExplanationQuality, view: QualityView) -> list[str]:
    s = view.settings
    by = {r.method: r for r in view.rows}
    p = by.get(view.primary or "")
    if p is None:  # the audit's own method was not re-run (too slow): compare the rest
        skipped = ", ".join(_label(m) for m in block.skipped or {})
        return [
            f"The audit's own method ({skipped or view.primary}) was not re-run here because "
            "repeating it on every perturbed decision is too slow; the figures below describe "
            "the other methods on the same decisions and do not vouch for the audit's own."
        ]
    others = len(view.rows) - 1
    out = [
        f"{p.label}, the method behind this audit's explanations, was measured on "
        f"{s['rows']} decisions drawn at random (seed {s['seed']})"
        + (
            f", side by side with {others} other method{'s' if others > 1 else ''}."
            if others
            else "."
        )
    ]
    if p.additive and p.completeness_note in ("exactly", "within 1%"):
        out.append(
            f"{p.label} reproduces the model's output for each decision: the reasons add up "
            f"to the score (largest gap {p.completeness})."
        )
    elif p.additive:
        out.append(
            f"{p.label} does not reproduce the model's output exactly (the reasons miss the "
            f"score by {p.completeness_note.replace(' off', '')} of the typical change, median); "
            "its reasons are an approximation."
        )
    else:  # the method makes no additivity claim (a surrogate, a first-order expansion)
        out.append(
            f"{p.label} is not meant to reproduce the model's output (largest gap "
            f"{p.completeness}); its reasons rank features rather than apportion the score."
        )
    rnd = view.random_deletion_auc
    if rnd is None or p.deletion_auc is None:
        return out  # no output moved away from the baseline: nothing to rank against
    gain = rnd - p.deletion_auc
    out.append(
        f"Removing the features {p.label} ranks first moves the model's output towards the "
        f"average applicant's much faster than a random order does (area under the deletion "
        f"curve {p.deletion_auc:.2f} against {rnd:.2f} for a random order; lower is better)."
        if gain >= 0.1
        else f"Removing the features {p.label} ranks first is not clearly better than a random "
        f"order (deletion area {p.deletion_auc:.2f} against {rnd:.2f}); treat its ranking "
        "with care."
    )
    k, draws = s["top_k"], s["draws"]
    steady = p.changed_perturbation == 0 and p.changed_background == 0
    out.append(
        (
            f"The top {k} reasons of the {s['stability_rows']} decisions re-explained did not "
            f"change under {draws} small changes to the inputs (noise of {s['noise']:g} "
            "standard deviations on continuous features) nor when the sample of applicants "
            "the explanations compare against was redrawn."
        )
        if steady
        else f"Reasons are not always stable: for {p.changed_perturbation:.0%} of the "
        f"{s['stability_rows']} decisions re-explained, the top {k} reasons changed under at "
        f"least one of {draws} small changes to the inputs (noise of {s['noise']:g} standard "
        "deviations on continuous features), and for "
        f"{p.changed_background:.0%} when the sample of applicants the explanations compare "
        "against was redrawn"
        + (" (this method does not use that sample)" if p.method in NO_BACKGROUND else "")
        + ". Letters for such decisions should go to human review."
    )
    overlaps = [a["top_k_overlap"] for a in view.agreement if p.method in (a["a"], a["b"])]
    if overlaps:
        low, high = min(overlaps) * k, max(overlaps) * k
        span = f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f} to {high:.1f}"
        who = "The other method agrees" if len(overlaps) == 1 else "The other methods agree"
        out.append(
            f"{who} with {p.label} on {span} of the top {k} reasons on average; where methods "
            "disagree, no single ranking should be read as the definitive one."
        )
    return out


@cached_chart
def deletion_chart(quality: ExplanationQuality | Mapping[str, Any], *, chart_id: str) -> Markup:
    """Mean deletion curve per method plus the random-order curve."""
    block = ExplanationQuality.from_json(quality)
    xs = [100.0 * f for f in block.curve_fraction or ()]
    width, height = WIDTH_IN * PT, 3.6 * PT
    canvas = Canvas(width, height, chart_id, "Deletion curves per explanation method")
    curves: list[tuple[list[float | None], Stroke]] = []
    handles = []
    for i, m in enumerate(block.methods or ()):
        colour, dash = _STYLES[i % len(_STYLES)]
        line_width = 2.0 if m["method"] == block.primary else 1.2
        stroke = Stroke(colour, line_width, tuple(d * line_width for d in dash), join="round")
        curves.append((list(m["deletion_curve"]), stroke))
        handles.append(
            Handle(_label(m["method"]) + (" (audit)" if line_width > 1.5 else ""), "line", stroke)
        )
    rnd = list(block.random_order["deletion_curve"]) if block.random_order else []
    curves.append((rnd, RANDOM))
    handles.append(Handle("random order", "line", RANDOM))
    key = legend(handles, 3, size=7.5, room=width - 4.0)
    # the y range: every curve and the zero line, with 5% to spare (matplotlib's autoscale)
    seen = [v for curve, _ in curves for v in curve if v is not None and math.isfinite(v)]
    lo, hi = min([*seen, 0.0]), max([*seen, 0.0])
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    top, bottom = 0.04 * height, (0.16 + 0.055 * key.rows) * height
    probe = Axes(0.0, top, 1.0, height - top - bottom, 0.0, 100.0, lo, hi)
    y_ticks = probe.y_ticks()
    y_labels = tick_labels(y_ticks)
    widest = max((text_width(t, TICK_SIZE) for t in y_labels), default=0.0)
    # room for the rotated y label and the y tick labels (at least 11% of the width)
    left = max(0.11 * width, 4.0 + LABEL_SIZE + LABEL_PAD + widest + TICK_PAD)
    ax = Axes(left, top, 0.97 * width - left, height - top - bottom, 0.0, 100.0, lo, hi)
    x_ticks = ax.x_ticks()
    x_axis(canvas, ax, x_ticks, tick_labels(x_ticks))
    edge = y_axis(canvas, ax, y_ticks, y_labels)
    for curve, stroke in curves:
        points = [
            (ax.px(x), ax.py(math.nan if y is None else y)) for x, y in zip(xs, curve, strict=False)
        ]
        canvas.path(polyline_d(points), stroke=stroke)
    canvas.path(line_d(ax.left, ax.py(0.0), ax.right, ax.py(0.0)), stroke=ZERO)
    spines(canvas, ax)
    x_label(canvas, ax, ["features set to the average value (% of all features)"])
    y_label(canvas, ax, "output change still present", edge)
    draw_legend(canvas, key)
    return canvas.markup()
