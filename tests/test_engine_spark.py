"""The Spark engine (local[2], two executor threads, several partitions) gives the
in-process result, with partitions returning counts and sums only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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
