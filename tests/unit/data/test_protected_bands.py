"""Continuous protected attributes: refused with advice, or cut by ``bands:`` (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import auditor
from auditor.bands import MAX_NUMERIC_GROUPS, Bands, band_values
from auditor.cli import app
from auditor.errors import DataValidationError, SpecError
from auditor.spec import load_spec

AGE_BANDS = {"edges": [40], "labels": ["under 40", "40 and over"]}


@pytest.fixture
def ages(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.uniform(18, 80, n).round(2),
            "sex": rng.choice(["F", "M"], n),
            "hired": rng.integers(0, 2, n),
        }
    )
    frame.loc[[3, 9], "age"] = np.nan
    frame.to_csv(tmp_path / "ages.csv", index=False)
    return {
        "name": "ages",
        "domain": "hiring",
        "data": {"path": str(tmp_path / "ages.csv")},
        "columns": {"id": "id", "decision": "hired"},
        "protected": ["sex", "age"],
    }


def test_a_continuous_protected_attribute_exits_2_with_advice(
    ages: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(ages), encoding="utf-8")
    res = CliRunner().invoke(app, ["audit", str(path), "--no-store", "-q"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "column 'age': a continuous protected attribute" in res.output
    assert "bands:" in res.output


def test_few_numeric_codes_are_still_groups(ages: dict[str, Any], tmp_path: Path) -> None:
    frame = pd.read_csv(tmp_path / "ages.csv")
    frame["age"] = np.arange(len(frame)) % MAX_NUMERIC_GROUPS  # e.g. coded categories
    frame.to_csv(tmp_path / "ages.csv", index=False)
    result = auditor.run_audit(ages)
    assert sum(g.attribute == "age" for g in result.dataset.groups) == MAX_NUMERIC_GROUPS


def test_bands_cut_at_the_edges_and_keep_missing_unknown(ages: dict[str, Any]) -> None:
    spec = {**ages, "protected": ["sex", {"column": "age", "bands": AGE_BANDS}]}
    result = auditor.run_audit(spec)
    frame = pd.read_csv(ages["data"]["path"])
    sizes = {g.group: g.n for g in result.dataset.groups if g.attribute == "age"}
    assert sizes == {
        "under 40": int((frame["age"] < 40).sum()),
        "40 and over": int((frame["age"] >= 40).sum()),
        "unknown": 2,
    }


def test_band_edges_include_their_lower_edge() -> None:
    bands = Bands(edges=[25, 40, 65], labels=["<25", "25-39", "40-64", "65+"])
    values = pd.Series([18, 25, 39.99, 40, 64, 65, 90, None, "x"], dtype=object)
    labels, bad = band_values(values, bands)
    assert labels.tolist() == ["<25", "25-39", "25-39", "40-64", "40-64", "65+", "65+", None, None]
    assert bad.tolist() == [False] * 8 + [True]


def test_text_in_a_banded_column_names_the_rows(ages: dict[str, Any], tmp_path: Path) -> None:
    frame = pd.read_csv(tmp_path / "ages.csv")
    frame["age"] = frame["age"].astype(object)
    frame.loc[5, "age"] = "forty"
    frame.to_csv(tmp_path / "ages.csv", index=False)
    spec = {**ages, "protected": ["sex", {"column": "age", "bands": AGE_BANDS}]}
    with pytest.raises(DataValidationError, match=r"'age'.*not numbers at row\(s\) 6"):
        auditor.run_audit(spec)


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ({"edges": [40, 30], "labels": ["a", "b", "c"]}, "strictly increasing"),
        ({"edges": [40], "labels": ["a"]}, "labels needs 2 names"),
        ({"edges": [40], "labels": ["a", "a"]}, "distinct"),
        ({"edges": [float("inf")], "labels": ["a", "b"]}, "finite"),
    ],
)
def test_bad_bands_are_spec_errors(ages: dict[str, Any], bands: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec({**ages, "protected": [{"column": "age", "bands": bands}]})


def test_spec_round_trips_with_bands_on_the_entry(ages: dict[str, Any]) -> None:
    spec = load_spec({**ages, "protected": ["sex", {"column": "age", "bands": AGE_BANDS}]})
    assert spec.protected == ["sex", "age"]
    doc = spec.as_dict()
    assert doc["protected"][1] == {
        "column": "age",
        "bands": {"edges": [40.0], "labels": AGE_BANDS["labels"]},
    }
    assert "protected_bands" not in doc
    assert load_spec(doc).digest() == spec.digest()
    # a spec without bands has the same dict (and digest) as before bands existed
    assert "protected_bands" not in load_spec(ages).as_dict()
    with pytest.raises(SpecError, match="an entry is a column name"):
        load_spec({**ages, "protected": [{"column": "age", "bins": 3}]})
