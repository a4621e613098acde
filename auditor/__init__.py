"""auditor: fairness and compliance audits of automated credit and hiring decisions.

Public API::

    result = auditor.run_audit("audit.yaml")        # or a dict
    result.to_json()
    attr = auditor.explain(model, X)                # .values, .base_values, .feature_names
    result.metrics_frame(); result.findings_frame()  # tidy pandas frames (and HTML in Jupyter)
    auditor.log_to_mlflow(result)                   # the active MLflow run, or a new one
    found = auditor.search_alternatives("audit.yaml")  # less discriminatory alternatives
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor._version import __version__

if TYPE_CHECKING:
    from auditor.errors import AuditorError
    from auditor.explain import AttributionSet, explain
    from auditor.lda import search_alternatives
    from auditor.mlflow_logging import log_to_mlflow
    from auditor.pipeline import run_audit
    from auditor.result import AuditResult
    from auditor.spec import AuditSpec, load_spec

__all__ = [
    "AttributionSet",
    "AuditResult",
    "AuditSpec",
    "AuditorError",
    "__version__",
    "explain",
    "load_spec",
    "log_to_mlflow",
    "run_audit",
    "search_alternatives",
]

_LAZY = {
    "AttributionSet": "auditor.explain",
    "explain": "auditor.explain",
    "run_audit": "auditor.pipeline",
    "search_alternatives": "auditor.lda",
    "AuditResult": "auditor.result",
    "AuditSpec": "auditor.spec",
    "load_spec": "auditor.spec",
    "log_to_mlflow": "auditor.mlflow_logging",
    "AuditorError": "auditor.errors",
}


def __getattr__(name: str) -> Any:
    # imported on first use so that `import auditor` (and the CLI's start) stays fast
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")
