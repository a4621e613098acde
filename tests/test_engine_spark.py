"""The Spark engine (local[2], two executor threads, several partitions) gives the
in-process result, with partitions returning counts and sums only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import auditor
from auditor.demo import DemoCase
from auditor.errors import DataValidationError
from tests._engine_compare import assert_same_result

pyspark = pytest.importorskip("pyspark", reason="the 'spark' extra (pyspark) is not installed")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from auditor.engine.spark import spark_session

    session = spark_session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    # small files still split into several partitions (one per few row groups)
    session.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    yield session
    session.stop()


def _partitions(spark: Any, path: Path) -> int:
    return int(spark.read.parquet(str(path)).rdd.getNumPartitions())


def test_spark_equals_in_process(spark: Any, tmp_path: Path, credit_case: DemoCase) -> None:
    spec = yaml.safe_load(credit_case.spec_path.read_text())
    base = credit_case.spec_path.parent
    frame = pd.read_csv(base / spec["data"]["path"])
    parquet = tmp_path / "credit.parquet"
    frame.to_parquet(parquet, row_group_size=250)  # several partitions
    assert _partitions(spark, parquet) > 2
    spec["data"] = {"path": str(parquet)}
    spec["model"]["path"] = str(base / spec["model"]["path"])
    # a seeded sample must pick the same rows, for the attributions and their quality
    spec["explain"] = {"max_rows": 400}
    local = auditor.run_audit(spec)
    distributed = auditor.run_audit({**spec, "engine": {"kind": "spark", "chunk_rows": 150}})
    assert distributed.attributions.n_explained == 400
    assert distributed.attributions.computed
    assert distributed.attributions.proxy_ranking
    assert distributed.explanation_quality["computed"] is True
    assert_same_result(local, distributed)


def _decisions(n: int, seed: int = 3) -> pd.DataFrame:
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
            "apr": rng.normal(12.0, 2.0, n) + 0.5 * (sex == "female"),  # a continuous outcome
        }
    )


def _decisions_spec(path: Path) -> dict[str, Any]:
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


def test_decisions_only_audit_equals_in_process(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "decisions.parquet"
    _decisions(2400).to_parquet(path, row_group_size=200)
    assert _partitions(spark, path) > 2
    spec = _decisions_spec(path)
    # controls (issue 17): a pass per Newton step on Spark, the same records
    spec["columns"] = {**spec["columns"], "outcomes": ["apr"]}
    spec.update(controls=["f_num", "product"], cdd_by="product", reference={"sex": "male"})
    local = auditor.run_audit(spec)
    distributed = auditor.run_audit({**spec, "engine": {"kind": "spark"}})
    metrics = {m.metric for m in local.metrics}
    assert {"scoring_rate", "stratified_impact_ratio", "impact_ratio"} <= metrics
    assert {"adjusted_odds_ratio", "residual_smd", "cdd", "adjusted_mean_difference:apr"} <= {
        m.metric for m in distributed.metrics if m.value is not None
    }
    assert any("weighted" in m.flags for m in local.metrics)
    assert local.attributions.proxies
    assert local.attributions.proxy_ranking
    # BIRDiE's EM needs every row at once: in-memory and streamed only, and said so
    assert any(m.metric == "birdie_impact_ratio" for m in local.metrics)
    note = "protected_probabilities: the bias-corrected (BIRDiE) rates"
    assert any(w.startswith(note) for w in distributed.warnings)
    inferred = distributed.verdict["inferred_membership"]
    assert inferred["bias_corrected"] is None
    local = replace(
        local,
        metrics=tuple(m for m in local.metrics if not m.metric.startswith("birdie_")),
        warnings=tuple(w for w in local.warnings if "(BIRDiE)" not in w),
        verdict={**local.verdict, "inferred_membership": inferred},
    )
    distributed = replace(
        distributed, warnings=tuple(w for w in distributed.warnings if not w.startswith(note))
    )
    assert_same_result(local, distributed)


def test_bad_rows_are_named_by_global_position(spark: Any, tmp_path: Path) -> None:
    frame = _decisions(2400)
    frame.loc[2000, "decision"] = np.nan  # in a late partition
    frame.loc[1500, "id"] = 7  # repeats an id of the first partition
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, row_group_size=200)
    spec = {**_decisions_spec(path), "engine": {"kind": "spark"}}
    with pytest.raises(DataValidationError) as err:
        auditor.run_audit(spec)
    text = "\n".join(err.value.problems)
    assert "column 'decision': 1 missing value(s) at row(s) 2001" in text
    assert "id column repeats 1 id(s), e.g. 7" in text


def test_a_folder_and_its_url_are_read_and_fingerprinted_alike(spark: Any, tmp_path: Path) -> None:
    from auditor.provenance import path_sha256

    folder = tmp_path / "decisions"
    folder.mkdir()
    frame = _decisions(1200)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(folder / f"part-{i:05d}.parquet", row_group_size=200)
    (folder / "_SUCCESS").write_text("")  # Spark's marker: not data, not fingerprinted
    (folder / ".DS_Store").write_text("x")  # hidden: left out too
    spec = {**_decisions_spec(folder), "engine": {"kind": "spark"}}
    local_path = auditor.run_audit(spec)
    url = auditor.run_audit({**spec, "data": {"path": folder.as_uri()}})
    assert local_path.dataset.rows == 1200
    assert local_path.provenance.data_sha256 == path_sha256(folder)
    assert url.provenance.data_sha256 == path_sha256(folder)
    assert_same_result(local_path, url)
    before = path_sha256(folder)
    (folder / "_SUCCESS").write_text("written again")
    assert path_sha256(folder) == before
    frame.iloc[:10].to_parquet(folder / "part-00001.parquet")
    assert path_sha256(folder) != before
