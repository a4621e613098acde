"""Probabilistic (BISG-style) protected attributes, end to end through the spec and loader.

Checks: 0/1 probabilities reproduce the ordinary group metrics exactly; an intersection
with a probabilistic part equals the hard intersection for 0/1 probabilities; estimated
probabilities (race given the area code, as BISG's geography part does) attenuate the
measured disparity towards 1 without reversing it; bad probability data is reported
precisely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auditor
from auditor._resources import sample_data_dir
from auditor.errors import DataValidationError, SpecError
from auditor.result import AuditResult, MetricRecord
from auditor.spec import load_spec

RACE = "race_ethnicity"


@pytest.fixture(scope="module")
def hiring() -> pd.DataFrame:
    return pd.read_csv(sample_data_dir() / "hiring.csv").head(6000)


def _groups(frame: pd.DataFrame) -> list[str]:
    return sorted(g for g in frame[RACE].dropna().unique() if g != "unknown")


def _prob_columns(groups: list[str]) -> dict[str, str]:
    return {g: f"p_{i}" for i, g in enumerate(groups)}


def _spec(path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "bisg",
        "domain": "hiring",
        "data": {"path": str(path)},
        "columns": {"id": "applicant_id", "decision": "hired"},
        "protected": ["sex"],
        "policies": ["eeoc_ugesp"],
    }
    spec.update(overrides)
    return spec


def _one_hot(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = frame.copy()
    known = out[RACE].notna() & (out[RACE] != "unknown")
    for group, col in columns.items():
        out[col] = np.where(known, (out[RACE] == group).astype(float), np.nan)
    return out


def _records(result: AuditResult, metric: str, attribute: str) -> dict[str, MetricRecord]:
    return {m.group: m for m in result.metrics if m.metric == metric and m.attribute == attribute}


def test_one_hot_probabilities_equal_hard_groups(hiring: pd.DataFrame, tmp_path: Path) -> None:
    columns = _prob_columns(_groups(hiring))
    path = tmp_path / "hiring.csv"
    _one_hot(hiring, columns).to_csv(path, index=False)
    hard = auditor.run_audit(_spec(path, protected=["sex", RACE]))
    soft = auditor.run_audit(_spec(path, protected_probabilities={RACE: columns}))
    for metric in ("selection_rate", "impact_ratio"):
        h, s = _records(hard, metric, RACE), _records(soft, metric, RACE)
        assert h.keys() == s.keys()
        for group, rec in h.items():
            assert s[group].n == rec.n
            assert s[group].value == pytest.approx(rec.value, abs=1e-12)
            assert s[group].reference == rec.reference
    rates = _records(soft, "selection_rate", RACE)
    assert "weighted" in rates["White"].flags
    # the unknown rows are counted in their own row, as for a hard attribute
    assert rates["unknown"].n == int((hiring[RACE] == "unknown").sum())
    assert "unknown" in rates["unknown"].flags
    sizes = {g.group: g.n for g in soft.dataset.groups if g.attribute == RACE}
    assert sizes["unknown"] == rates["unknown"].n
    assert sizes["White"] == int((hiring[RACE] == "White").sum())
    # four-fifths findings exist for the probabilistic attribute too
    assert any(f.scope.startswith(f"{RACE}=") for f in soft.findings)


def test_intersection_with_probabilistic_part(hiring: pd.DataFrame, tmp_path: Path) -> None:
    columns = _prob_columns(_groups(hiring))
    path = tmp_path / "hiring.csv"
    _one_hot(hiring, columns).to_csv(path, index=False)
    inter = [["sex", RACE]]
    hard = auditor.run_audit(_spec(path, protected=["sex", RACE], intersections=inter))
    soft = auditor.run_audit(
        _spec(path, protected_probabilities={RACE: columns}, intersections=inter)
    )
    name = f"sex & {RACE}"
    h, s = _records(hard, "impact_ratio", name), _records(soft, "impact_ratio", name)
    assert set(h) == set(s)
    for group, rec in h.items():
        assert s[group].value == pytest.approx(rec.value, abs=1e-12), group
    assert _records(soft, "selection_rate", name)["unknown"].n == (
        _records(hard, "selection_rate", name)["unknown"].n
    )


def test_estimated_probabilities_attenuate_towards_one(
    hiring: pd.DataFrame, tmp_path: Path
) -> None:
    """p(race | area code) from the data: the weighted ratio lies between the true one and 1."""
    groups = _groups(hiring)
    columns = _prob_columns(groups)
    known = hiring[hiring[RACE].isin(groups)]
    table = pd.crosstab(known["area_code"], known[RACE], normalize="index")
    frame = hiring.copy()
    for group, col in columns.items():
        frame[col] = frame["area_code"].map(table[group]).fillna(0.0)
    path = tmp_path / "bisg.csv"
    frame.to_csv(path, index=False)
    black = "Black or African American"
    control = {RACE: "White"}
    soft = auditor.run_audit(
        _spec(path, protected_probabilities={RACE: columns}, reference=control)
    )
    hard = auditor.run_audit(_spec(path, protected=["sex", RACE], reference=control))
    true_air = _records(hard, "adverse_impact_ratio", RACE)[black]
    est_air = _records(soft, "adverse_impact_ratio", RACE)[black]
    assert true_air.value is not None
    assert est_air.value is not None
    assert true_air.value < est_air.value < 1.0
    assert est_air.reference == "White"
    # Kish's effective size: never more rows than carry weight
    assert 0 < est_air.detail["effective_n"] <= len(frame)
    assert est_air.ci_low is not None
    assert est_air.ci_low < est_air.value < est_air.ci_high
    assert est_air.p_value is not None
    assert est_air.p_value_adjusted is not None
    assert est_air.p_value_adjusted >= est_air.p_value


def test_probabilities_from_the_protected_file(hiring: pd.DataFrame, tmp_path: Path) -> None:
    columns = _prob_columns(_groups(hiring))
    probs = _one_hot(hiring, columns)[["applicant_id", *columns.values()]]
    probs.to_csv(tmp_path / "probs.csv", index=False)
    hiring.drop(columns=[RACE]).to_csv(tmp_path / "decisions.csv", index=False)
    spec = _spec(
        tmp_path / "decisions.csv",
        data={"path": str(tmp_path / "decisions.csv"), "protected_path": "probs.csv"},
        protected=[],
        protected_probabilities={RACE: columns},
    )
    spec["data"]["protected_path"] = str(tmp_path / "probs.csv")
    result = auditor.run_audit(spec)
    assert _records(result, "impact_ratio", RACE)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.assign(p_0=f["p_0"].astype(object).where(f.index != 3, "high")), "row(s) 4"),
        (lambda f: f.assign(p_1=f["p_1"].where(f.index != 0, 1.5)), "outside [0, 1] at row(s) 1"),
        (lambda f: f.assign(p_1=f["p_1"].where(f.index != 9, np.nan)), "some but not all"),
        (lambda f: f.assign(p_0=f["p_0"].where(f.index != 7, f["p_0"] + 0.3)), "sum to 1"),
        (lambda f: f.drop(columns=["p_2"]), "column 'p_2' (named in protected_probabilities"),
    ],
)
def test_bad_probability_data_is_named(
    hiring: pd.DataFrame, tmp_path: Path, change: Any, expected: str
) -> None:
    columns = _prob_columns(_groups(hiring))
    frame = _one_hot(hiring, columns)
    frame = frame[frame[RACE] != "unknown"].reset_index(drop=True)
    path = tmp_path / "bad.csv"
    change(frame).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        auditor.run_audit(_spec(path, protected_probabilities={RACE: columns}))
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_missing_probabilities_can_be_an_error(hiring: pd.DataFrame, tmp_path: Path) -> None:
    columns = _prob_columns(_groups(hiring))
    path = tmp_path / "h.csv"
    _one_hot(hiring, columns).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        auditor.run_audit(
            _spec(path, protected_probabilities={RACE: columns}, missing_protected="error")
        )
    assert any("row(s) without probabilities" in p for p in err.value.problems)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"protected": ["sex", RACE], "protected_probabilities": {RACE: {"a": "x", "b": "y"}}},
            "also listed under protected",
        ),
        ({"protected_probabilities": {RACE: {"a": "x"}}}, "needs at least two groups"),
        (
            {"protected_probabilities": {RACE: {"a": "x", "b": "x"}}},
            "column 'x' is already used",
        ),
        (
            {
                "protected_probabilities": {RACE: {"a": "x", "b": "y"}},
                "columns": {"id": "applicant_id", "decision": "hired", "features": ["x"]},
            },
            "holds probabilities for the protected attribute",
        ),
        (
            {
                "protected_probabilities": {
                    RACE: {"a": "x", "b": "y"},
                    "age": {"old": "u", "young": "v"},
                },
                "intersections": [[RACE, "age"]],
            },
            "at most one attribute may come from protected_probabilities",
        ),
        ({"protected": []}, "name at least one protected attribute"),
    ],
)
def test_spec_checks_of_probabilities(
    tmp_path: Path, overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_spec(tmp_path / "x.csv", **overrides))
    assert any(expected in p for p in err.value.problems), err.value.problems
