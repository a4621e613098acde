"""Compare two AuditResults field by field: numbers to a tolerance, everything else exactly."""

from __future__ import annotations

import math
from typing import Any

from auditor.result import AuditResult

# fields that describe the run, not the measurement
RUN_FIELDS = ("run", "spec", "provenance")


def assert_same_result(a: AuditResult, b: AuditResult, tol: float = 1e-9) -> None:
    """Equal measurements: every number within ``tol`` (relative above 1), the rest exact."""
    da, db = a.to_dict(), b.to_dict()
    for key in RUN_FIELDS:
        da.pop(key, None)
        db.pop(key, None)
    _same(da, db, "result", tol)


def _same(x: Any, y: Any, path: str, tol: float) -> None:
    if isinstance(x, dict) and isinstance(y, dict):
        assert sorted(x) == sorted(y), f"{path}: keys {sorted(x)} != {sorted(y)}"
        for k in x:
            _same(x[k], y[k], f"{path}.{k}", tol)
    elif isinstance(x, list | tuple) and isinstance(y, list | tuple):
        assert len(x) == len(y), f"{path}: length {len(x)} != {len(y)}"
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _same(u, v, f"{path}[{i}]", tol)
    elif isinstance(x, float) and isinstance(y, float | int) and not isinstance(y, bool):
        if math.isnan(x):
            assert math.isnan(y), f"{path}: nan != {y}"
        else:
            assert abs(x - y) <= tol * max(1.0, abs(x)), f"{path}: {x} != {y}"
    else:
        assert x == y, f"{path}: {x!r} != {y!r}"
