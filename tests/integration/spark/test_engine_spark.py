"""The Spark engine (local[2], two executor threads, several partitions) gives the
in-process result, with partitions returning counts and sums only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.errors import DataValidationError
from tests._engine_compare import assert_same_result, decisions_frame, decisions_spec

pyspark = pytest.importorskip("pyspark", reason="the 'spark' extra (pyspark) is not installed")


def test_bad_rows_are_named_by_global_position(spark: Any, tmp_path: Path) -> None:
    frame = decisions_frame(2400)
    frame.loc[2000, "decision"] = np.nan  # in a late partition
    frame.loc[1500, "id"] = 7  # repeats an id of the first partition
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, row_group_size=200)
    spec = {**decisions_spec(path), "engine": {"kind": "spark"}}
    with pytest.raises(DataValidationError) as err:
        auditor.run_audit(spec)
    text = "\n".join(err.value.problems)
    assert "column 'decision': 1 missing value(s) at row(s) 2001" in text
    assert "id column repeats 1 id(s), e.g. 7" in text


def test_csv_ids_are_read_as_written(spark: Any, tmp_path: Path) -> None:
    """"7", "07" and "007" are three applicants: read as numbers they were one id, repeated
    (the in-process engine reads ids as written too, so both engines agree)."""
    frame = decisions_frame(1200)
    frame["id"] = ["0" * (i % 3) + str(i // 3) for i in range(len(frame))]
    path = tmp_path / "decisions.csv"
    frame.to_csv(path, index=False)
    spec = decisions_spec(path)
    local = auditor.run_audit(spec)
    distributed = auditor.run_audit({**spec, "engine": {"kind": "spark"}})
    assert distributed.dataset.rows == 1200
    assert_same_result(local, distributed)


def test_a_folder_and_its_url_are_read_and_fingerprinted_alike(spark: Any, tmp_path: Path) -> None:
    from auditor.provenance import path_sha256

    folder = tmp_path / "decisions"
    folder.mkdir()
    frame = decisions_frame(1200)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(folder / f"part-{i:05d}.parquet", row_group_size=200)
    (folder / "_SUCCESS").write_text("")  # Spark's marker: not data, not fingerprinted
    (folder / ".DS_Store").write_text("x")  # hidden: left out too
    spec = {**decisions_spec(folder), "engine": {"kind": "spark"}}
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


def _with_outcome(frame: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """``frame`` with a continuous outcome (an APR) that differs by sex."""
    rng = np.random.default_rng(seed + 1)
    apr = rng.normal(12.0, 2.0, len(frame)) + 0.5 * (frame["sex"] == "female")
    return frame.assign(apr=apr)


def test_decisions_only_audit_equals_in_process(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "decisions.parquet"
    _with_outcome(decisions_frame(2400)).to_parquet(path, row_group_size=200)
    assert spark.read.parquet(str(path)).rdd.getNumPartitions() > 2
    spec = decisions_spec(path)
    # controls (issue 17): a pass per Newton step on Spark, the same records
    # with its direction (issue 17 item 6): flagged on the driver as in memory
    spec["columns"] = {**spec["columns"], "outcomes": [{"name": "apr", "unfavorable": "higher"}]}
    spec.update(controls=["f_num", "product"], cdd_by="product", reference={"sex": "male"})
    local = auditor.run_audit(spec)
    distributed = auditor.run_audit({**spec, "engine": {"kind": "spark"}})
    metrics = {m.metric for m in local.metrics}
    assert {"scoring_rate", "stratified_impact_ratio", "impact_ratio"} <= metrics
    assert {
        "adjusted_odds_ratio",
        "residual_smd",
        "cdd",
        "adjusted_mean_difference:apr",
        "residual_smd:apr",
    } <= {m.metric for m in distributed.metrics if m.value is not None}
    assert all(
        "unfavorable:higher" in m.flags for m in distributed.metrics if m.metric.endswith(":apr")
    )
    assert any("weighted" in m.flags for m in local.metrics)
    assert local.attributions.proxies
    assert local.attributions.proxy_ranking
    # BIRDiE (issue 17 item 7): the partitions' cell tables merged, the same EM and
    # bootstrap on the driver: the same bias-corrected rates and intervals
    corrected = [m for m in distributed.metrics if m.metric == "birdie_impact_ratio"]
    assert corrected
    assert any(m.ci_low is not None for m in corrected)
    assert distributed.verdict["inferred_membership"]["bias_corrected"] is not None
    assert not any("(BIRDiE)" in w and "Spark" in w for w in distributed.warnings)
    assert_same_result(local, distributed)


def test_a_local_session_started_here_runs_the_first_jit_tier_only(spark: Any) -> None:
    """The session auditor starts on a local master (conftest's, through spark_session)
    asks its JVM for the quick JIT tier, before any option of the operator's."""
    from auditor.engine.spark import LOCAL_JAVA_OPTIONS

    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.defaultJavaOptions") == LOCAL_JAVA_OPTIONS
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert LOCAL_JAVA_OPTIONS in list(runtime.getInputArguments())
