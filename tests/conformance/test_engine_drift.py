"""The drift check (issue 20): every engine gives the same audit, explanation quality on.

Six specs (credit with LightGBM, hiring with a torch MLP by integrated gradients and by the
registry's interventional mode, a scikit-learn model with probabilistic membership by
permutation SHAP and by LIME, recorded decisions only), each audited in memory and streamed
in chunks; two of them (a model explained and quality measured, and recorded decisions
with probabilistic membership) on Spark too (local[2], several partitions, the shared
session of conftest). Findings and warnings must be identical and every other field of
the result equal (numbers to ``TOL``), apart from the fields that describe the run.

Kept fast (the suite runs on two cores): a few hundred rows per spec, small explained and
quality samples, and Spark only where it adds a path the streamed engine does not have
(the cluster's kernel and merge for a model; the partition passes without one). Every
other Spark path is held to the in-memory result in
``tests/integration/spark/test_engine_spark.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import auditor
from auditor.demo import DemoCase
from auditor.result import AuditResult
from tests._engine_compare import assert_same_result, decisions_frame, decisions_spec

pytest.importorskip("pyspark", reason="the 'spark' extra (pyspark) is not installed")

QUALITY = {"rows": 30, "stability_rows": 8, "perturbations": 2, "lime_samples": 100}
ROWS = 480  # per spec: four row groups of 120, several Spark partitions
CHUNK_ROWS = 97  # streamed chunks and Spark's Arrow batches split the partitions again
TOL = 1e-9
TORCH_TOL = 1e-6  # float32 autograd batches differ by batch composition (last bits)

Case = Callable[[Path, Any], tuple[dict[str, Any], float]]


def _parquet(frame: pd.DataFrame, tmp: Path, name: str) -> str:
    path = tmp / f"{name}.parquet"
    frame.to_parquet(path, row_group_size=120)  # several Spark partitions
    return str(path)


def _demo(case: DemoCase, tmp: Path, rows: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(case.spec_path.read_text())
    base = case.spec_path.parent
    frame = pd.read_csv(base / spec["data"]["path"])
    if rows is not None:
        frame = frame.head(rows)
    spec["data"] = {"path": _parquet(frame, tmp, spec["name"])}
    spec["model"]["path"] = str(base / spec["model"]["path"])
    spec.pop("letters", None)
    return spec


def credit_lightgbm(tmp: Path, request: Any) -> tuple[dict[str, Any], float]:
    spec = _demo(request.getfixturevalue("credit_case"), tmp, ROWS)
    spec["explain"] = {"max_rows": 150, "quality": QUALITY}
    spec["min_group_size"] = 20
    return spec, TOL


def hiring_torch(tmp: Path, request: Any) -> tuple[dict[str, Any], float]:
    spec = _demo(request.getfixturevalue("hiring_case"), tmp, ROWS)
    spec["explain"] = {
        "method": "integrated_gradients",
        "steps": 16,
        "max_rows": 80,
        "quality": {**QUALITY, "methods": ["integrated_gradients", "gradient_x_input"]},
    }
    spec["min_group_size"] = 20
    return spec, TORCH_TOL


def sklearn_probabilistic(tmp: Path, request: Any) -> tuple[dict[str, Any], float]:
    """A scikit-learn model deciding (no recorded decisions), race as BISG-style
    probabilities, strata, intersections and slices over four kinds of feature."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    frame = decisions_frame(ROWS, seed=5).drop(columns=["decision", "score"])
    frame["f_num"] = frame["f_num"].fillna(0.0)
    numeric = ["f_num", "f_int", "f_many"]
    model = LogisticRegression(max_iter=500).fit(frame[numeric], frame["label"])
    sio.dump(model, tmp / "model.skops")
    spec = decisions_spec(Path(_parquet(frame, tmp, "sk")))
    spec["name"] = "drift-sklearn"
    spec["columns"] = {"id": "id", "label": "label", "features": numeric}
    spec["model"] = {"path": str(tmp / "model.skops"), "kind": "sklearn"}
    spec["threshold"] = 0.5
    spec["explain"] = {"method": "permutation_shap", "max_rows": 40, "quality": QUALITY}
    return spec, TOL


def sklearn_lime(tmp: Path, request: Any) -> tuple[dict[str, Any], float]:
    """The sklearn case explained by LIME, a method without steps and without an
    additivity claim: its additivity warning must read the same on every engine."""
    spec, tol = sklearn_probabilistic(tmp, request)
    spec["name"] = "drift-sklearn-lime"
    quality = {**QUALITY, "methods": ["lime"]}
    spec["explain"] = {"method": "lime", "max_rows": 40, "quality": quality}
    return spec, tol


def hiring_interventional(tmp: Path, request: Any) -> tuple[dict[str, Any], float]:
    """The torch case through the registry's interventional mode (integrated gradients
    from the background mean), whose rows are refined with more steps on every engine."""
    spec, tol = hiring_torch(tmp, request)
    quality = {**QUALITY, "methods": ["interventional", "deeplift"]}
    spec["explain"] = {"method": "interventional", "steps": 16, "max_rows": 40, "quality": quality}
    return spec, tol


def decisions_only(tmp: Path, request: Any) -> tuple[dict[str, Any], float]:
    """No model: recorded decisions and scores, probabilistic membership, slices on."""
    spec = decisions_spec(Path(_parquet(decisions_frame(ROWS), tmp, "decisions")))
    spec["name"] = "drift-decisions"
    return spec, TOL


CASES: dict[str, Case] = {
    "credit_lightgbm": credit_lightgbm,
    "hiring_torch": hiring_torch,
    "sklearn_probabilistic": sklearn_probabilistic,
    "sklearn_lime": sklearn_lime,
    "hiring_interventional": hiring_interventional,
    "decisions_only": decisions_only,
}
ENGINES: dict[str, dict[str, Any]] = {
    "streamed": {"chunk_rows": CHUNK_ROWS},
    "spark": {"kind": "spark", "chunk_rows": CHUNK_ROWS},
}
# Spark for a model explained (kernel, merge, quality on the cluster's rows) and for
# recorded decisions with probabilistic membership (the partition passes without a model)
ON_SPARK = {"credit_lightgbm", "decisions_only"}


def _findings(result: AuditResult) -> list[tuple[str, str, str, str]]:
    return [(f.rule_id, f.scope, f.status, f.message) for f in result.findings]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_engine_gives_the_same_audit(case: str, tmp_path: Path, request: Any) -> None:
    spec, tol = CASES[case](tmp_path, request)
    engines = [e for e in ENGINES if e != "spark" or case in ON_SPARK]
    if "spark" in engines:
        spark = request.getfixturevalue("spark")  # the one session of conftest
        assert spark.read.parquet(spec["data"]["path"]).rdd.getNumPartitions() > 2
    memory = auditor.run_audit(spec)
    # the check is not vacuous: the measures that drifted before are there
    assert memory.findings
    assert memory.metrics
    if "model" in spec:
        assert memory.attributions.computed
        assert memory.explanation_quality["computed"] is True
    for name in engines:
        other = auditor.run_audit({**spec, "engine": ENGINES[name]})
        expected = memory
        assert _findings(other) == _findings(expected), f"{case}: {name} findings drift"
        assert other.warnings == expected.warnings, f"{case}: {name} warnings drift"
        assert_same_result(expected, other, tol=tol)
