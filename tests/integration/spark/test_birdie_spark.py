"""BIRDiE and geography on the Spark engine (issue 17): the partitions' cell tables
merged on the driver give the in-memory bias-corrected rates, intervals and notes, and
the partitions' proxy statistics against the ``geography`` columns give the in-memory
associations (so Illinois' ZIP-proxy rule decides alike on every engine).

Small on purpose (Spark runs on two shared cores): one audit per engine of 1,200 rows in
six partitions, with row-specific BISG-style probabilities (one cell per row: the
table's worst case), rows of unknown membership, an intersection whose hard part is
missing from the first partitions (their cell tables lack those groups and are widened
on merge), a feature that tracks the ZIP code and one that does not.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auditor
from tests._engine_compare import assert_same_records

pytest.importorskip("pyspark", reason="the 'spark' extra (pyspark) is not installed")


def _frame(n: int = 1200, seed: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b"], n, p=[0.6, 0.4])
    # race moves the outcome; the proxy probabilities are noisy given race
    p_a = np.clip(np.where(race == "a", 0.75, 0.3) + rng.normal(0, 0.12, n), 0.02, 0.98)
    approved = (rng.uniform(size=n) < np.where(race == "a", 0.65, 0.4)).astype(int)
    sex = np.where(np.arange(n) < 400, "f", rng.choice(["f", "m"], n))  # no "m" early
    zips = rng.choice([f"606{i:02d}" for i in range(24)], n)
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "approved": approved,
            "sex": sex,
            "p_a": p_a,
            "p_b": 1 - p_a,
            "zip": zips,
            "area": [z[:4] for z in zips],  # a coarsened ZIP: a proxy for it
            "tenure": rng.normal(5, 2, n),  # unrelated to where applicants live
        }
    )
    frame.loc[rng.choice(n, 30, replace=False), ["p_a", "p_b"]] = np.nan
    frame.loc[rng.choice(n, 25, replace=False), "zip"] = None  # unknown: left out
    return frame


def test_spark_birdie_and_geography_equal_in_memory(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "bisg.parquet"
    _frame().to_parquet(path, row_group_size=200)
    assert spark.read.parquet(str(path)).rdd.getNumPartitions() > 2
    spec = {
        "name": "birdie-spark",
        "domain": "hiring",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "approved", "features": ["area", "tenure"]},
        "geography": ["zip"],
        "jurisdictions": ["US-IL"],
        "policies": ["illinois"],
        "protected": ["sex"],
        "protected_probabilities": {"race": {"a": "p_a", "b": "p_b"}},
        "intersections": [["sex", "race"]],
        "seed": 4,
    }
    memory = auditor.run_audit(spec)
    distributed = auditor.run_audit({**spec, "engine": {"kind": "spark"}})

    def corrected(result: Any) -> list[dict[str, Any]]:
        return [asdict(m) for m in result.metrics if m.metric.startswith("birdie_")]

    ours = corrected(memory)
    assert {(m["attribute"], m["group"]) for m in ours} >= {
        ("race", "a"),
        ("race", "b"),
        ("sex & race", "m & b"),
    }
    assert all(m["detail"]["ci_row_bootstrap_replicates"] == 200 for m in ours if m["ci_low"])
    assert_same_records(ours, corrected(distributed), tol=1e-9)
    notes = [w for w in memory.warnings if "BIRDiE" in w]
    assert notes == [w for w in distributed.warnings if "BIRDiE" in w]
    assert distributed.verdict["inferred_membership"] == memory.verdict["inferred_membership"]
    # geography: the coarsened ZIP fails Illinois' proxy rule on both engines, alike
    zip_rule = [
        (f.scope, f.status, f.message)
        for f in memory.findings
        if f.rule_id == "IL-HB3773-ZIP-PROXY"
    ]
    assert ("feature=area", "fail") in {(scope, status) for scope, status, _ in zip_rule}
    assert zip_rule == [
        (f.scope, f.status, f.message)
        for f in distributed.findings
        if f.rule_id == "IL-HB3773-ZIP-PROXY"
    ]
    assert not any(w.startswith("geography:") for w in distributed.warnings)
