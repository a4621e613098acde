"""The column values of an audit's ``metrics`` and ``findings`` rows, from its result.

The repository writes these values; ``auditor verify`` (:mod:`auditor.store.verification`)
compares the stored rows with them. Apart from both so that neither imports the other.
"""

from __future__ import annotations

import math
from typing import Any

from auditor.result import AuditResult


def finite(value: float | None) -> float | None:
    """A float as stored: NaN and infinities become NULL."""
    return value if value is None or math.isfinite(value) else None


def _text(value: float | str | None) -> str | None:
    return None if value is None else str(value)


def metric_values(result: AuditResult) -> list[dict[str, Any]]:
    """The ``metrics`` rows of ``result`` (column values; verify compares stored rows to them)."""
    return [
        {
            "seq": i,
            "attribute": m.attribute,
            "group": m.group,
            "metric": m.metric,
            "value": finite(m.value),
            "n": m.n,
            "count": m.count,
            "ci_low": finite(m.ci_low),
            "ci_high": finite(m.ci_high),
            "p_value": finite(m.p_value),
            "reference": m.reference,
            "flags": list(m.flags),
        }
        for i, m in enumerate(result.metrics)
    ]


def finding_values(result: AuditResult) -> list[dict[str, Any]]:
    """The ``findings`` rows of ``result`` (column values; verify compares stored rows to them)."""
    return [
        {
            "seq": i,
            "rule_id": f.rule_id,
            "pack": f.pack,
            "title": f.title,
            "scope": f.scope,
            "status": f.status,
            "severity": f.severity,
            "observed": _text(f.observed),
            "threshold": _text(f.threshold),
            "citation": f.citation,
            "message": f.message,
        }
        for i, f in enumerate(result.findings)
    ]
