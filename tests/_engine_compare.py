"""Compare two AuditResults field by field: numbers to a tolerance, everything else exactly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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


def decisions_frame(n: int, seed: int = 3) -> pd.DataFrame:
    """Recorded decisions with every kind of column the statistics read."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c"], n)
    probs = np.where(race[:, None] == np.array(["a", "b", "c"]), 0.8, 0.1)
    probs[rng.uniform(size=n) < 0.05] = np.nan  # unknown membership
    sex = rng.choice(["female", "male", None], n, p=[0.48, 0.48, 0.04])
    f_num = rng.normal(size=n) + 0.5 * (race == "b")
    f_num[rng.uniform(size=n) < 0.03] = np.nan
    score = 1 / (1 + np.exp(-(f_num + rng.normal(size=n))))
    score = np.where(np.isnan(score), 0.5, score).round(3)  # ties in the scores
    decision = (score > 0.55).astype(int)
    decision[: n // 8] = 0  # the first partitions never hold the favourable value
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "decision": decision,
            "score": score,
            "label": rng.integers(0, 2, n),
            "sex": sex,
            "p_a": probs[:, 0],
            "p_b": probs[:, 1],
            "p_c": probs[:, 2],
            "product": rng.choice(["card", "loan", "auto"], n),
            "f_num": f_num,
            "f_int": rng.integers(0, 5, n),  # few values: categories
            "f_many": rng.integers(0, 300, n),  # many values: ranks and quantiles
            "f_cat": rng.choice([f"k{i}" for i in range(12)], n),
        }
    )


def decisions_spec(path: Path) -> dict[str, Any]:
    return {
        "name": "spark-decisions",
        "domain": "credit",
        "data": {"path": str(path)},
        "columns": {
            "id": "id",
            "decision": "decision",
            "score": "score",
            "label": "label",
            "features": ["f_num", "f_int", "f_many", "f_cat"],
        },
        "protected": ["sex"],
        "protected_probabilities": {"race": {"a": "p_a", "b": "p_b", "c": "p_c"}},
        "intersections": [["sex", "race"]],
        "strata": ["product"],
        "missing_protected": "unknown",
        "min_group_size": 20,
        "policies": ["ecoa_reg_b"],
        "seed": 0,
    }


def assert_same_records(a: list[Any], b: list[Any], tol: float = 1e-9) -> None:
    """Equal lists of records (dicts): numbers within ``tol``, the rest exact."""
    _same(a, b, "records", tol)
