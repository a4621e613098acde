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
    group: str = ""  # "race=B": the row of the tables of every group
    reference: str | None = None  # "A": it may differ between candidates ("highest")


@dataclass(frozen=True)
class Interval:
    """A figure with its 95% interval (either bound may be missing)."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class BusinessFigures:
    """The business measures at the threshold on one split (``Evaluation.business``)."""

    rate_name: str  # "default rate", "error rate", "bad rate"
    approved: int
    bad_approved: int
    bad_rate: Interval
    bad_rate_change: Interval | None  # Newcombe interval, against the audited model
    expected_loss: Interval | None  # per application; None without loss values
    expected_loss_change: Interval | None


@dataclass(frozen=True)
class Verdicts:
    """The packs' ratio rules on one candidate's decisions (``Evaluation.verdicts``)."""

    rule: str
    counts: dict[str, int]
    not_passing: tuple[str, ...]  # "pack/RULE (status): scope, scope"


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
    smd: tuple[Ratio, ...] = ()  # each group's score SMD against its reference
    worst_smd: Ratio | None = None
    verdicts: Verdicts | None = None
    business: BusinessFigures | None = None


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
    search: Figures | None  # None: the candidate failed to train (``error``)
    holdout: Figures | None
    model_sha256: str | None
    error: str | None = None


@dataclass(frozen=True)
class MatrixColumn:
    """One candidate on one split in a table of every group's figures."""

    id: str
    split: str  # "search" or "held-out"
    baseline: bool
    recommended: bool
    cells: dict[str, Ratio]  # group ("race=B") -> its figure


@dataclass(frozen=True)
class GroupMatrix:
    """Every group's figure (impact ratio or SMD), a row per group and a column per
    candidate and split, written once per group: a list per candidate repeats each long
    intersection label for every candidate (49 pages for the hiring demo)."""

    groups: list[str]
    columns: list[MatrixColumn]
    width: int = 5  # columns of the widest table of the set: the tables align

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
    # the learner refit (training.model): kind, source, params and the rest as recorded
    learner: dict[str, Any] = field(default_factory=dict)
    aimed_by: str = ""  # what explained the refit model (a surrogate's R² when one did)
    not_tried: list[str] = field(default_factory=list)  # methods the learner cannot take
    tolerance_on: str = "auc"
    tolerance_value: float = 0.0
    tolerance_text: str = ""
    rate_name: str | None = None  # the business rate's name ("default rate", "error rate")
    loss_values: tuple[float, float] | None = None  # per bad approval, per good approval

    @property
    def failed(self) -> list[CandidateRow]:
        """The candidates that failed to train, with their errors."""
        return [r for r in self.rows if r.error is not None or r.search is None]

    @property
    def learner_params(self) -> list[tuple[str, str]]:
        """The learner's settings as (name, value) text, parameters first."""
        params = self.learner.get("params") or {}
        out = (
            [(str(k), _plain(v)) for k, v in sorted(params.items())]
            if isinstance(params, Mapping)
            else []
        )
        for key in ("rounds", "estimator", "module", "init"):
            if self.learner.get(key) not in (None, "", {}):
                out.append((key, _plain(self.learner[key])))
        return out

    @property
    def learner_settings(self) -> list[tuple[str, str]]:
        """The settings that shape a fit most, for the short description (a refit
        ``as_audited`` LightGBM booster records every one of its many parameters)."""
        keep = _MAIN_SETTINGS
        short = [(k, val) for k, val in self.learner_params if k in keep]
        return short if len(self.learner_params) > 12 else self.learner_params

    def matrices(self, kind: str, per_table: int = 5) -> list[GroupMatrix]:
        """Every group's ``kind`` ("ratios" or "smd") for every candidate and split, in
        tables of ``per_table`` columns."""
        columns: list[MatrixColumn] = []
        groups: dict[str, None] = {}
        for row in self.rows:
            for split, f in (("search", row.search), ("held-out", row.holdout)):
                if f is None:
                    continue
                figures = f.ratios if kind == "ratios" else f.smd
                for q in figures:
                    groups.setdefault(q.group, None)
                columns.append(
                    MatrixColumn(
                        row.id, split, row.baseline, row.recommended, {q.group: q for q in figures}
                    )
                )
        # balanced tables (15 columns: 5, 5, 5; 11: 4, 4, 3), no table of one column
        tables = max(1, -(-len(columns) // per_table))
        per = max(1, -(-len(columns) // tables))
        return [
            GroupMatrix(list(groups), columns[k : k + per], per)
            for k in range(0, len(columns), per)
        ]

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
        tolerance_auc=float(tolerance.get("auc") or 0.0),
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
        learner=dict(training.get("model") or {}),
        aimed_by=str(record.get("aimed_by") or ""),
        not_tried=[str(n) for n in record.get("not_tried") or []],
        tolerance_on=str(tolerance.get("on") or "auc"),
        tolerance_value=float(tolerance.get("value", tolerance.get("auc")) or 0.0),
        tolerance_text=tolerance_words(tolerance),
        rate_name=(record.get("business") or {}).get("rate_name") or _rate_name(rows),
        loss_values=_loss_values(record.get("business") or {}),
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


_MAIN_SETTINGS = frozenset(
    {
        "objective",
        "learning_rate",
        "num_leaves",
        "max_depth",
        "min_data_in_leaf",
        "feature_fraction",
        "bagging_fraction",
        "lambda_l1",
        "lambda_l2",
        "rounds",
        "estimator",
        "module",
        "init",
        "epochs",
    }
)

MEASURE_WORDS = {
    "auc": "AUC",
    "approval_rate": "approval rate (change either way)",
    "default_rate": "rise of the default rate among approved",
    "error_rate": "rise of the error rate among approved",
    "expected_loss": "rise of the expected loss per application",
}


def tolerance_words(tolerance: Mapping[str, Any]) -> str:
    """The business-necessity tolerance in words, from the record's ``tolerance``."""
    on = str(tolerance.get("on") or "auc")
    value = tolerance.get("value", tolerance.get("auc"))
    band = tolerance.get("approval_rate")
    band_text = (
        f" and change the approval rate by at most {float(band) * 100:.1f} percentage points"
        if band is not None and on != "approval_rate"
        else ""
    )
    if on == "auc":
        return f"an alternative may lose at most {value} AUC against the audited model{band_text}"
    if on == "approval_rate":
        return (
            f"an alternative may change the approval rate by at most {value} against the "
            "audited model (AUC is not bounded: the spec chose the approval rate)"
        )
    return (
        f"the {MEASURE_WORDS.get(on, on)} may be at most {value} against the audited "
        f"model{band_text} (AUC is not bounded: the spec chose this business measure, "
        "training.tolerance_on)"
    )


def _rate_name(rows: list[CandidateRow]) -> str | None:
    return next((r.search.business.rate_name for r in rows if r.search and r.search.business), None)


def _loss_values(business: Mapping[str, Any]) -> tuple[float, float] | None:
    loss, gain = business.get("loss_per_bad_approval"), business.get("gain_per_good_approval")
    return None if loss is None or gain is None else (float(loss), float(gain))


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


def _outcome(rec: Mapping[str, Any] | None) -> str:
    if rec is None:
        return "none_within_tolerance"
    return "alternative_found" if rec.get("holdout_confirms") else "alternative_unconfirmed"


def _row(c: Mapping[str, Any], chosen: str | None) -> CandidateRow:
    model = c.get("model")
    holdout = c.get("holdout")
    search = c.get("search")
    return CandidateRow(
        id=str(c.get("id", "")),
        method=str(c.get("method", "")),
        description=str(c.get("description", "")),
        threshold=float(c.get("threshold", 0.5)),
        reweighted_by=c.get("protected_used_in_training"),
        on_frontier=bool(c.get("on_frontier")),
        recommended=c.get("id") == chosen,
        baseline=c.get("method") == "baseline",
        search=_figures(search) if isinstance(search, Mapping) else None,
        holdout=_figures(holdout) if isinstance(holdout, Mapping) else None,
        model_sha256=model.get("sha256") if isinstance(model, Mapping) else None,
        error=str(c["error"]) if c.get("error") else None,
    )


def _figures(e: Mapping[str, Any]) -> Figures:
    auc_ci = _pair(e.get("auc_ci"))
    change_ci = _pair(e.get("auc_change_ci"))
    approval_ci = _pair(e.get("approval_ci"))
    worst = e.get("worst")
    worst_smd = e.get("worst_smd")
    ratios = tuple(
        _ratio(r)
        for r in e.get("ratios") or []
        if "reference" not in (r.get("flags") or []) and r.get("value") is not None
    )
    smd = tuple(
        _ratio(r)
        for r in e.get("smd") or []
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
        smd=smd,
        worst_smd=_ratio(worst_smd) if isinstance(worst_smd, Mapping) else None,
        verdicts=_verdicts(e.get("verdicts")),
        business=_business(e.get("business")),
    )


def _verdicts(v: Any) -> Verdicts | None:
    if not isinstance(v, Mapping) or not v:
        return None
    # one line a rule and status, its scopes listed: shorter than one line a finding
    scopes: dict[str, list[str]] = {}
    for f in v.get("not_passing") or []:
        if isinstance(f, Mapping):
            key = f"{f.get('pack')}/{f.get('rule')} ({f.get('status')})"
            scopes.setdefault(key, []).append(str(f.get("scope")))
    failing = tuple(f"{key}: {', '.join(found)}" for key, found in scopes.items())
    counts = v.get("counts") or {}
    return Verdicts(
        rule=str(v.get("rule") or ""),
        counts={str(k): int(n) for k, n in counts.items()} if isinstance(counts, Mapping) else {},
        not_passing=failing,
    )


def _interval(value: Any, ci: Any) -> Interval:
    low, high = _pair(ci)
    return Interval(value, low, high)


def _business(b: Any) -> BusinessFigures | None:
    if not isinstance(b, Mapping):
        return None
    change = b.get("bad_rate_change")
    loss = b.get("expected_loss")
    loss_change = b.get("expected_loss_change")
    return BusinessFigures(
        rate_name=str(b.get("rate_name") or "bad rate"),
        approved=int(b.get("approved") or 0),
        bad_approved=int(b.get("bad_approved") or 0),
        bad_rate=_interval(b.get("bad_rate"), b.get("bad_rate_ci")),
        bad_rate_change=None if change is None else _interval(change, b.get("bad_rate_change_ci")),
        expected_loss=None if loss is None else _interval(loss, b.get("expected_loss_ci")),
        expected_loss_change=None
        if loss_change is None
        else _interval(loss_change, b.get("expected_loss_change_ci")),
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
        group=f"{r.get('attribute')}={r.get('group')}",
        reference=str(ref) if ref else None,
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
