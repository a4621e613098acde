"""Log an audit to MLflow, next to the training runs model-risk teams already keep.

What goes in: the key ratios (each impact-ratio-like record and selection rate, with its
95% interval bounds as ``<key>.ci_low`` and ``<key>.ci_high``: siblings, not ``<key>/…``,
because MLflow's file store keeps a key as a file, which cannot also be a folder), the
count of findings per status, the JSON result, the spec and the PDF report as artifacts,
and the digests as tags (so a run can be matched to the stored audit and its inputs).
Tags, not params: params cannot change once set, and an audit logged into an active
training run must not collide with the run's own params. mlflow is optional
(``pip install 'auditor[mlflow]'``).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import AuditorError
from auditor.result import AuditResult

KEY_METRICS = (
    "selection_rate",
    "impact_ratio",
    "adverse_impact_ratio",
    "scoring_rate",
    "scoring_impact_ratio",
)
# MLflow keys allow letters, digits, _ - . / and spaces; group names may hold anything
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


class MlflowMissing(AuditorError):
    """The optional mlflow package is not installed."""


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise MlflowMissing(
            "--mlflow needs the mlflow package, which is not installed; install it with "
            "pip install 'auditor[mlflow]' (or pip install mlflow-skinny)."
        ) from None
    return mlflow


def require_mlflow() -> None:
    """Raise :class:`MlflowMissing` (exit 2 in the CLI) unless mlflow can be imported."""
    _mlflow()


def metric_key(*parts: str) -> str:
    """An MLflow metric key from parts, characters MLflow refuses replaced by ``_``."""
    return "/".join(_KEY_UNSAFE.sub("_", p).strip() or "_" for p in parts)


def audit_metrics(result: AuditResult) -> dict[str, float]:
    """The numbers logged as MLflow metrics (finite values only)."""
    out: dict[str, float] = {}
    for status, count in result.findings_by_status().items():
        out[metric_key("findings", status)] = float(count)
    for m in result.metrics:
        if m.metric not in KEY_METRICS or m.value is None:
            continue
        key = metric_key(m.metric, m.attribute, m.group)
        out[key] = float(m.value)
        if m.ci_low is not None and m.ci_high is not None:
            out[f"{key}.ci_low"] = float(m.ci_low)
            out[f"{key}.ci_high"] = float(m.ci_high)
    out["dataset/rows"] = float(result.dataset.rows)
    return {k: v for k, v in out.items() if v == v and abs(v) != float("inf")}


def audit_tags(result: AuditResult, report_sha256: str | None) -> dict[str, str]:
    """Identity and digests of the audit, as MLflow tags."""
    from auditor._version import __version__

    tags = {
        "auditor.audit_id": result.audit_id,
        "auditor.name": result.name,
        "auditor.domain": result.domain,
        "auditor.version": __version__,
        "auditor.spec_sha256": result.provenance.spec_sha256,
        "auditor.data_sha256": result.provenance.data_sha256,
        "auditor.model_sha256": result.provenance.model_sha256 or "",
    }
    if report_sha256:
        tags["auditor.report_sha256"] = report_sha256
    return {k: v for k, v in tags.items() if v}


def log_to_mlflow(
    result: AuditResult,
    *,
    pdf: bytes | Path | None = None,
    render_report: bool = True,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
) -> str:
    """Log ``result`` to the active MLflow run, or to a new run; return the run id.

    ``pdf``: the report (bytes or a file); left out, it is rendered from ``result``
    unless ``render_report`` is false. ``tracking_uri``/``experiment``: as
    ``mlflow.set_tracking_uri``/``set_experiment`` (default: MLflow's own settings, e.g.
    ``MLFLOW_TRACKING_URI``); a run that is already active is used as it is.
    """
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    try:
        return _log(mlflow, result, pdf, render_report, tracking_uri, experiment, run_name)
    except MlflowException as exc:
        raise AuditorError(f"MLflow refused the audit: {exc.message}") from None


def _log(
    mlflow: Any,
    result: AuditResult,
    pdf: bytes | Path | None,
    render_report: bool,
    tracking_uri: str | None,
    experiment: str | None,
    run_name: str | None,
) -> str:
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    pdf_bytes = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    if pdf_bytes is None and render_report:
        from auditor.report import build_report

        pdf_bytes = build_report(result).pdf
    report_sha = hashlib.sha256(pdf_bytes).hexdigest() if pdf_bytes else None
    active = mlflow.active_run()
    if active is None and experiment:
        mlflow.set_experiment(experiment)
    run = active or mlflow.start_run(run_name=run_name or result.name)
    try:
        mlflow.log_metrics(audit_metrics(result))
        mlflow.set_tags(audit_tags(result, report_sha))
        with tempfile.TemporaryDirectory(prefix="auditor-mlflow-") as tmp:
            folder = Path(tmp) / "auditor"
            folder.mkdir()
            (folder / "audit.json").write_text(result.to_json(), encoding="utf-8")
            (folder / "spec.yaml").write_text(
                yaml.safe_dump(result.spec, sort_keys=False, allow_unicode=True),
                encoding="utf-8",
            )
            if pdf_bytes:
                (folder / "report.pdf").write_bytes(pdf_bytes)
            mlflow.log_artifacts(str(folder), artifact_path="auditor")
    finally:
        if active is None:
            mlflow.end_run()
    return str(run.info.run_id)
