"""The record of a search: every candidate with its figures, the frontier's models saved
with SHA-256, the held-out rows, and an audit spec that reproduces the recommendation."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import yaml

from auditor._version import __version__
from auditor.lda import learners
from auditor.lda.aim import Target
from auditor.lda.candidates import Candidate, apply_bins
from auditor.lda.evaluate import Evaluation
from auditor.lda.frontier import measure, within_tolerance
from auditor.lda.learners import Learner
from auditor.lda.options import SearchResult, Tolerance
from auditor.lda.split import Splits
from auditor.models.allowed_code import BUILTIN_MODULES, is_allowed
from auditor.provenance import current_user
from auditor.spec import AuditSpec

if TYPE_CHECKING:
    from auditor.lda.options import SearchOptions

SCHEMA = "auditor.lda/1"
REWEIGHT_CAVEAT = (
    "Reweighting uses the protected attribute to weight training rows only; it is never an "
    "input to a decision. Whether using it in training is permitted is a legal question for "
    "the instrument and jurisdiction: in US employment, Title VII section 703(l) "
    "(42 U.S.C. 2000e-2(l), added by the Civil Rights Act of 1991, section 106) makes it "
    "unlawful to adjust the scores of, use different cutoff scores for, or otherwise alter "
    "the results of employment-related tests on the basis of race, color, religion, sex or "
    "national origin. Obtain legal review before adopting such an alternative."
)
HONESTY_NOTE = (
    "Candidates were fitted on the fit split and compared on the search split; the "
    "recommendation was chosen there. The baseline, the frontier and the recommendation were "
    "then judged on the held-out split, which no step of the search used. Intervals: DeLong "
    "for AUC and its paired change against the baseline; impact ratios with the audit's own "
    "intervals and reference rule. A higher ratio is a measured reduction of one disparity on "
    "these data, not a finding that the alternative is free of disparate impact."
)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _safe(cid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", cid)


def write_outputs(
    *,
    spec: AuditSpec,
    out_dir: Path,
    splits: Splits,
    options: SearchOptions,
    tolerance: Tolerance,
    learner: Learner,
    performance_label: str,
    targets: list[Target],
    aimed_by: str,
    notes: list[str],
    candidates: list[Candidate],
    search: dict[str, Evaluation],
    errors: dict[str, str],
    holdout: dict[str, Evaluation],
    frontier_ids: list[str],
    recommended: str | None,
    why: str,
    stopped: str,
    models: dict[str, Any],
    started: datetime,
    timings: dict[str, float],
) -> SearchResult:
    """Save models, held-out rows and the reproduction spec; write and return the record."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "models").mkdir(exist_ok=True)
    holdout_csv = out_dir / "holdout.csv"
    splits.part("holdout").to_csv(holdout_csv, index=False)
    files: dict[str, Path] = {"holdout": holdout_csv}
    by_id = {c.id: c for c in candidates}
    model_files: dict[str, dict[str, Any]] = {}
    sections: dict[str, dict[str, Any]] = {}
    for cid, model in sorted(models.items()):
        features = list(by_id[cid].features)
        path, sections[cid] = learners.save(
            learner, model, out_dir / "models" / _safe(cid), features
        )
        model_files[cid] = {"path": str(path.relative_to(out_dir)), "sha256": sha256_of(path)}
        if learners.untrusted_types(path):
            model_files[cid]["skops_untrusted_types"] = learners.untrusted_types(path)
    rows = []
    for c in candidates:
        rows.append(
            {
                "id": c.id,
                "method": c.method,
                "description": c.description,
                "features": list(c.features),
                "params": c.params,
                "threshold": c.threshold,
                "protected_used_in_training": c.reweight_by,
                "caveat": REWEIGHT_CAVEAT if c.reweight_by else None,
                "bins": [
                    {"feature": f, "edges": list(edges), "values": list(values)}
                    for f, edges, values in c.bins
                ],
                "on_frontier": c.id in frontier_ids,
                "error": errors.get(c.id),
                "search": search[c.id].as_dict() if c.id in search else None,
                "holdout": holdout[c.id].as_dict() if c.id in holdout else None,
                "model": model_files.get(c.id),
            }
        )
    rec: dict[str, Any] | None = None
    if recommended is not None:
        chosen = by_id[recommended]
        data_file = holdout_csv.name
        if chosen.bins:  # the binning is part of this candidate's pipeline: its own rows
            binned = out_dir / f"holdout_{_safe(chosen.id)}.csv"
            apply_bins(splits.part("holdout"), chosen).to_csv(binned, index=False)
            data_file = binned.name
        spec_path = _write_audit_spec(
            spec,
            out_dir,
            chosen,
            {"path": model_files[recommended]["path"], **sections[recommended]},
            data_file,
            performance_label,
        )
        files["recommended_spec"] = spec_path
        allow = ""
        module = sections[recommended].get("module")
        if module and not is_allowed(str(module), BUILTIN_MODULES):
            allow = f" --allow-module {str(module).partition(':')[0]}"
        h = holdout[recommended]
        b = holdout[by_id["baseline"].id]
        rec = {
            "id": recommended,
            "why": why,
            "audit_spec": spec_path.name,
            "reproduce": f"auditor audit {spec_path}{allow}",
            "holdout_worst_ratio": asdict(h.worst) if h.worst else None,
            "holdout_baseline_worst_ratio": asdict(b.worst) if b.worst else None,
            "holdout_worst_smd": asdict(h.worst_smd) if h.worst_smd else None,
            "holdout_baseline_worst_smd": asdict(b.worst_smd) if b.worst_smd else None,
            "holdout_verdicts": h.verdicts,
            "holdout_baseline_verdicts": b.verdicts,
            "holdout_auc_change": h.auc_change,
            "holdout_auc_change_ci": h.auc_change_ci,
            "holdout_business": asdict(h.business) if h.business else None,
            "holdout_baseline_business": asdict(b.business) if b.business else None,
            "holdout_confirms": bool(
                within_tolerance(
                    h, b, tolerance.value, tolerance.max_approval_change, measure(tolerance.on)
                )
                and h.worst is not None
                and b.worst is not None
                and (h.worst.value or 0) > (b.worst.value or 0)
            ),
        }
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "name": spec.name,
        "created_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_by": {"user": current_user(), "host": socket.gethostname()},
        "auditor_version": __version__,
        "lightgbm_version": lgb.__version__,
        "spec_sha256": spec.digest(),
        # the model the audit examines: an audit of the same file finds this record
        "audited_model": _audited_model(spec),
        "training": {
            "data": str(splits.path),
            "data_sha256": sha256_of(splits.path),
            "label": spec.training.label if spec.training else None,
            "performance_label": performance_label,
            "split": {
                "seed": spec.training.split.seed if spec.training else None,
                "fit": len(splits.fit),
                "search": len(splits.search),
                "holdout": len(splits.holdout),
            },
            "model": learner.describe(),
        },
        # "auc" holds the tolerance when it is on AUC (null otherwise); "on" and "value" say
        # which measure it bounds (training.tolerance_on) and by how much
        "tolerance": {
            "auc": tolerance.value if tolerance.on == "auc" else None,
            "approval_rate": tolerance.max_approval_change,
            "on": tolerance.on,
            "value": tolerance.value,
        },
        "business": {
            "performance_label": performance_label,
            "rate_name": _rate_name(search),
            "loss_per_bad_approval": spec.training.loss_per_bad_approval if spec.training else None,
            "gain_per_good_approval": spec.training.gain_per_good_approval
            if spec.training
            else None,
        },
        "budget": options.budget,
        "patience": options.patience,
        "stopped": stopped,
        "aimed_at": [asdict(t) for t in targets],
        "aimed_by": aimed_by,
        "not_tried": notes,
        "method_note": HONESTY_NOTE,
        "candidates": rows,
        "frontier": frontier_ids,
        "recommended": rec,
        "no_recommendation_reason": None if rec else why,
        "timings": timings,
    }
    body = json.dumps(record, sort_keys=True, default=str).encode("utf-8")
    record["record_sha256"] = hashlib.sha256(body).hexdigest()
    json_path = out_dir / "lda_record.json"
    json_path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    files["record"] = json_path
    return SearchResult(record=record, out_dir=out_dir, recommended=recommended, files=files)


def _rate_name(evals: dict[str, Evaluation]) -> str | None:
    """What the rate of bad outcomes among approved is called for this domain."""
    return next((e.business.rate_name for e in evals.values() if e.business), None)


def _audited_model(spec: AuditSpec) -> dict[str, str] | None:
    """The audited model's file and SHA-256 (``None`` for a spec without a model file)."""
    if spec.model is None or not spec.model.path:
        return None
    path = spec.resolve(spec.model.path)
    if not path.is_file():
        return None
    return {"path": str(path), "sha256": sha256_of(path)}


def _write_audit_spec(
    spec: AuditSpec,
    out_dir: Path,
    c: Candidate,
    model: dict[str, Any],
    data_file: str,
    label: str,
) -> Path:
    """An audit spec of the alternative on the held-out rows (paths beside it)."""
    raw = spec.as_dict()
    raw.pop("training", None)
    raw["name"] = f"{spec.name}-lda-{_safe(c.id)}"[:120]
    raw["model"] = model
    raw["data"] = {"path": data_file}
    raw["columns"] = {"id": spec.columns.id, "label": label, "features": list(c.features)}
    raw["favorable"] = 1
    if spec.policy_paths:  # the spec is written elsewhere: keep custom packs findable
        raw["policy_paths"] = [str(spec.resolve(p)) for p in spec.policy_paths]
    raw["threshold"] = c.threshold
    explain = dict(raw.get("explain") or {})
    if explain.get("method") != "none" and model["kind"] != "torch":
        explain["method"] = "auto"  # tree SHAP for a LightGBM alternative
    raw["explain"] = explain
    for key in ("controls", "strata", "geography", "protected_probabilities"):
        raw.pop(key, None)
    raw.pop("cdd_by", None)
    raw.pop("letters", None)
    path = out_dir / f"audit_{_safe(c.id)}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
