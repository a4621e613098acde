"""The view of a search for less discriminatory alternatives, built from its record.

The record is the plain JSON ``auditor lda`` writes (``lda_record.json``, or the payload
of a stored ``lda_search`` event); this module reads it as data and never imports the
search itself, so the audit report, the standalone search document and the web page all
show the same figures from the same record. Wording rule: a higher ratio is a measured
reduction of one disparity on these data, never a finding that a model is "fair".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.report.charts import Figure
from auditor.report.charts_lda import FrontierPoint, PointKind, Split, frontier_chart

PROTECTED_NOT_INPUTS = (
    "Protected attributes are never inputs to any candidate's decisions: no candidate "
    "treats applicants differently by a protected attribute when it decides."
)
REWEIGHT_NOTE = (
    "Candidates marked 'reweighted' used a protected attribute during training only, to "
    "weight the training rows; it is not an input when they decide. Whether using it in "
    "training is permitted is a legal question for the instrument and the jurisdiction "
    "(see the caveat below)."
)
OUTCOME_TEXT = {
    "alternative_found": "alternative found within tolerance",
    "alternative_unconfirmed": "alternative chosen, not confirmed on the held-out split",
    "none_within_tolerance": "no alternative within tolerance",
}


@dataclass(frozen=True)
class Ratio:
    """One group's impact ratio on one split."""

    label: str  # "race=B vs A"
    value: float | None
    low: float | None
    high: float | None
    n: int
    small: bool


@dataclass(frozen=True)
class Figures:
    """A candidate's figures on one split (the record's ``search`` or ``holdout``)."""

    n: int
    auc: float
    auc_low: float
    auc_high: float
    auc_change: float | None
    change_low: float | None
    change_high: float | None
    approval: float
    approval_low: float | None
    approval_high: float | None
    worst: Ratio | None
    ratios: tuple[Ratio, ...]


@dataclass(frozen=True)
class CandidateRow:
    """One candidate tried, as the table shows it."""

    id: str
    method: str
    description: str
    threshold: float
    reweighted_by: str | None
    on_frontier: bool
    recommended: bool
    baseline: bool
    search: Figures
    holdout: Figures | None
    model_sha256: str | None


@dataclass
class LdaView:
    """Everything the report section, the standalone document and the web page show."""

    name: str
    created_at: str
    finished_at: str
    run_by: str
    host: str
    auditor_version: str
    record_sha256: str
    spec_sha256: str
    data_sha256: str
    data_path: str
    audited_model_sha256: str | None
    model_source: str
    label: str
    performance_label: str
    split: dict[str, Any]
    tolerance_auc: float
    tolerance_approval: float | None
    budget: int
    stopped: str
    aimed_at: list[dict[str, Any]]
    method_note: str
    rows: list[CandidateRow]
    outcome: str
    outcome_text: str
    recommended: dict[str, Any] | None
    reason: str
    caveats: list[str]
    reweight_caveat: str | None
    figure: Figure | None = None
    baseline: CandidateRow | None = None
    chosen: CandidateRow | None = None
    frontier_ids: list[str] = field(default_factory=list)

    @property
    def tried(self) -> int:
        """Candidates tried, the baseline not counted."""
        return max(0, len(self.rows) - 1)

    @property
    def held_out(self) -> list[CandidateRow]:
        """The candidates judged on the held-out split (baseline, frontier, chosen)."""
        return [r for r in self.rows if r.holdout is not None]


def build_lda_view(record: Mapping[str, Any], *, chart: bool = True) -> LdaView:
    """The view of ``record``; with ``chart`` the frontier chart is drawn (SVG)."""
    rec = record.get("recommended")
    rec = dict(rec) if isinstance(rec, Mapping) else None
    chosen_id = rec.get("id") if rec else None
    rows = [_row(c, chosen_id) for c in record.get("candidates") or []]
    training = record.get("training") or {}
    tolerance = record.get("tolerance") or {}
    audited = record.get("audited_model")
    run_by = record.get("run_by") or {}
    reweight = next(
        (str(c["caveat"]) for c in record.get("candidates") or [] if c.get("caveat")), None
    )
    outcome = _outcome(rec)
    view = LdaView(
        name=str(record.get("name", "")),
        created_at=str(record.get("created_at", "")),
        finished_at=str(record.get("finished_at", "")),
        run_by=str(run_by.get("user", "unknown")),
        host=str(run_by.get("host", "")),
        auditor_version=str(record.get("auditor_version", "")),
        record_sha256=str(record.get("record_sha256", "")),
        spec_sha256=str(record.get("spec_sha256", "")),
        data_sha256=str(training.get("data_sha256", "")),
        data_path=str(training.get("data", "")),
        audited_model_sha256=audited.get("sha256") if isinstance(audited, Mapping) else None,
        model_source=str((training.get("model") or {}).get("source", "")),
        label=str(training.get("label", "")),
        performance_label=str(training.get("performance_label", "")),
        split=dict(training.get("split") or {}),
        tolerance_auc=float(tolerance.get("auc", 0.0)),
        tolerance_approval=tolerance.get("approval_rate"),
        budget=int(record.get("budget", 0)),
        stopped=str(record.get("stopped", "")),
        aimed_at=[dict(t) for t in record.get("aimed_at") or []],
        method_note=str(record.get("method_note", "")),
        rows=rows,
        outcome=outcome,
        outcome_text=OUTCOME_TEXT[outcome],
        recommended=rec,
        reason=str(rec.get("why") if rec else record.get("no_recommendation_reason") or ""),
        caveats=[PROTECTED_NOT_INPUTS, *([REWEIGHT_NOTE] if reweight else [])],
        reweight_caveat=reweight,
        frontier_ids=[str(i) for i in record.get("frontier") or []],
    )
    view.baseline = next((r for r in rows if r.baseline), None)
    view.chosen = next((r for r in rows if r.recommended), None)
    if chart and rows:
        view.figure = Figure(
            frontier_chart(_points(rows), chart_id="lda-frontier"),
            "Performance (AUC against the performance label) against the worst judged "
            "group's impact ratio, with 95% intervals both ways: left, every candidate on "
            "the search split; right, the candidates judged on the held-out split. Square: "
            "the audited model as refit (baseline); star: the recommended alternative.",
            number=1,  # the audit report renumbers it among its own figures
        )
    return view


def _outcome(rec: Mapping[str, Any] | None) -> str:
    if rec is None:
        return "none_within_tolerance"
    return "alternative_found" if rec.get("holdout_confirms") else "alternative_unconfirmed"


def _row(c: Mapping[str, Any], chosen: str | None) -> CandidateRow:
    model = c.get("model")
    holdout = c.get("holdout")
    return CandidateRow(
        id=str(c.get("id", "")),
        method=str(c.get("method", "")),
        description=str(c.get("description", "")),
        threshold=float(c.get("threshold", 0.5)),
        reweighted_by=c.get("protected_used_in_training"),
        on_frontier=bool(c.get("on_frontier")),
        recommended=c.get("id") == chosen,
        baseline=c.get("method") == "baseline",
        search=_figures(c.get("search") or {}),
        holdout=_figures(holdout) if isinstance(holdout, Mapping) else None,
        model_sha256=model.get("sha256") if isinstance(model, Mapping) else None,
    )


def _figures(e: Mapping[str, Any]) -> Figures:
    auc_ci = _pair(e.get("auc_ci"))
    change_ci = _pair(e.get("auc_change_ci"))
    approval_ci = _pair(e.get("approval_ci"))
    worst = e.get("worst")
    ratios = tuple(
        _ratio(r)
        for r in e.get("ratios") or []
        if "reference" not in (r.get("flags") or []) and r.get("value") is not None
    )
    return Figures(
        n=int(e.get("n", 0)),
        auc=float(e.get("auc", float("nan"))),
        auc_low=_num(auc_ci[0]),
        auc_high=_num(auc_ci[1]),
        auc_change=e.get("auc_change"),
        change_low=change_ci[0],
        change_high=change_ci[1],
        approval=float(e.get("approval_rate", float("nan"))),
        approval_low=approval_ci[0],
        approval_high=approval_ci[1],
        worst=_ratio(worst) if isinstance(worst, Mapping) else None,
        ratios=ratios,
    )


def _ratio(r: Mapping[str, Any]) -> Ratio:
    ref = r.get("reference")
    return Ratio(
        label=f"{r.get('attribute')}={r.get('group')}" + (f" vs {ref}" if ref else ""),
        value=r.get("value"),
        low=r.get("ci_low"),
        high=r.get("ci_high"),
        n=int(r.get("n", 0)),
        small="small_sample" in (r.get("flags") or []),
    )


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return value[0], value[1]
    return None, None


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _points(rows: list[CandidateRow]) -> list[FrontierPoint]:
    out = []
    for r in rows:
        kind: PointKind = (
            "baseline" if r.baseline else "recommended" if r.recommended else "candidate"
        )
        splits: tuple[tuple[Split, Figures | None], ...] = (
            ("search", r.search),
            ("holdout", r.holdout),
        )
        for split, f in splits:
            if f is None or f.worst is None or f.worst.value is None:
                continue
            out.append(
                FrontierPoint(
                    split=split,
                    label=r.id,
                    kind=kind,
                    on_frontier=r.on_frontier,
                    ratio=f.worst.value,
                    ratio_low=f.worst.low,
                    ratio_high=f.worst.high,
                    auc=f.auc,
                    auc_low=f.auc_low,
                    auc_high=f.auc_high,
                )
            )
    return out
