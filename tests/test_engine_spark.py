"""The Spark engine (local[2], two executor threads) gives the in-process result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import auditor
from auditor.demo import DemoCase
from tests._engine_compare import assert_same_result

pyspark = pytest.importorskip("pyspark", reason="the 'spark' extra (pyspark) is not installed")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from auditor.engine.spark import spark_session

    session = spark_session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


def test_spark_equals_in_process(spark: Any, tmp_path: Path, credit_case: DemoCase) -> None:
    spec = yaml.safe_load(credit_case.spec_path.read_text())
    base = credit_case.spec_path.parent
    frame = pd.read_csv(base / spec["data"]["path"])
    parquet = tmp_path / "credit.parquet"
    frame.to_parquet(parquet, row_group_size=250)  # several partitions
    spec["data"] = {"path": str(parquet)}
    spec["model"]["path"] = str(base / spec["model"]["path"])
    # a seeded sample must pick the same rows; quality is measured in memory only
    spec["explain"] = {"max_rows": 400, "quality": {"enabled": False}}
    local = auditor.run_audit(spec)
    distributed = auditor.run_audit({**spec, "engine": {"kind": "spark", "chunk_rows": 150}})
    assert distributed.attributions.n_explained == 400
    assert distributed.attributions.computed
    assert_same_result(local, distributed)
