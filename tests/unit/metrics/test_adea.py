"""The ADEA comparison (issue 17): 40 and over against under 40, as its own grouping.

A hiring audit with a protected attribute of category age gets the grouping
``<attribute> (ADEA)``, formed from the age groups' counts (ages, spec bands, or text
bands in the data), judged by the adea pack against under 40 as a named control group;
UGESP's four-fifths rule never judges age (29 CFR 1607.2(D)); a group spanning 40 stops
the audit with exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import auditor
from auditor.cli import app
from auditor.errors import DataValidationError, SpecError
from auditor.metrics import adea
from auditor.result import AuditResult, MetricRecord


def _frame(n: int, ages: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    numeric = pd.to_numeric(pd.Series(ages), errors="coerce").to_numpy()
    older = np.nan_to_num(numeric, nan=0) >= 40
    # those 40 and over are hired at about half the rate of those under 40
    hired = (rng.uniform(size=n) < np.where(older, 0.25, 0.5)).astype(int)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "sex": rng.choice(["Male", "Female"], n),
            "age": ages,
            "hired": hired,
            "skills": rng.normal(size=n),
        }
    )


def _spec(path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": "adea",
        "domain": "hiring",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "hired", "features": ["skills"]},
        "protected": ["sex", {"column": "age", "category": "age"}],
        "policies": ["eeoc_ugesp", "adea"],
        "audit_date": "2026-12-06",
        "explain": {"method": "none", "quality": {"enabled": False}},
        **extra,
    }


def _by(result: AuditResult, attribute: str, metric: str) -> dict[str, MetricRecord]:
    return {m.group: m for m in result.metrics if m.attribute == attribute and m.metric == metric}


@pytest.fixture
def whole_ages(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(4)
    n = 1600
    frame = _frame(n, rng.choice([22, 28, 35, 39, 40, 47, 55, 63], n), rng)
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_ages_give_the_adea_grouping_judged_by_the_adea_pack_never_by_ugesp(
    whole_ages: tuple[Path, pd.DataFrame],
) -> None:
    path, frame = whole_ages
    result = auditor.run_audit(_spec(path))
    older = frame["age"] >= 40
    ratio = _by(result, "age (ADEA)", "adverse_impact_ratio")
    rate = _by(result, "age (ADEA)", "selection_rate")
    assert set(rate) == {"40 and over", "under 40"}
    assert rate["40 and over"].n == int(older.sum())
    assert rate["40 and over"].count == int(frame.loc[older, "hired"].sum())
    want = frame.loc[older, "hired"].mean() / frame.loc[~older, "hired"].mean()
    assert ratio["40 and over"].value == pytest.approx(want, rel=1e-12)
    assert ratio["40 and over"].reference == "under 40"
    assert "reference" in ratio["under 40"].flags
    adea_findings = {
        f.scope: f.status for f in result.findings if f.rule_id == "ADEA-40-PLUS-IMPACT"
    }
    # about half the rate, n=1600: below the screen and significant, but ADEA disparate
    # impact for outside applicants is contested since Kleber (2019), so it warns
    assert adea_findings == {"age (ADEA)=40 and over": "warn"}
    (adea,) = [f for f in result.findings if f.rule_id == "ADEA-40-PLUS-IMPACT"]
    assert adea.rule_status == "contested"
    ugesp = [f for f in result.findings if f.rule_id == "EEOC-UGESP-4D-FOUR-FIFTHS"]
    assert ugesp
    assert not [f for f in ugesp if f.scope.startswith("age")]
    groups = {(g.attribute, g.group): g.n for g in result.dataset.groups}
    assert groups[("age (ADEA)", "40 and over")] == int(older.sum())
    assert result.verdict["family_groupings"].count("age (ADEA)") == 1


def test_the_streamed_engine_gives_the_same_adea_records(
    whole_ages: tuple[Path, pd.DataFrame],
) -> None:
    path, _ = whole_ages
    memory = auditor.run_audit(_spec(path))
    streamed = auditor.run_audit(_spec(path, engine={"chunk_rows": 300}))
    for metric in ("selection_rate", "adverse_impact_ratio", "impact_ratio"):
        a, b = _by(memory, "age (ADEA)", metric), _by(streamed, "age (ADEA)", metric)
        assert {g: (r.value, r.n, r.p_value) for g, r in a.items()} == {
            g: (r.value, r.n, r.p_value) for g, r in b.items()
        }


def test_spec_bands_with_an_edge_at_40_are_summed_by_side(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 900
    frame = _frame(n, rng.uniform(18, 70, n).round(1), rng)
    frame.to_csv(tmp_path / "d.csv", index=False)
    bands = {"edges": [25, 40, 62], "labels": ["under 25", "25-39", "40-61", "62 and over"]}
    spec = _spec(
        tmp_path / "d.csv", protected=["sex", {"column": "age", "category": "age", "bands": bands}]
    )
    result = auditor.run_audit(spec)
    rate = _by(result, "age (ADEA)", "selection_rate")
    older = frame["age"] >= 40
    assert rate["40 and over"].n == int(older.sum())
    assert rate["under 40"].count == int(frame.loc[~older, "hired"].sum())
    assert set(_by(result, "age", "selection_rate")) == set(bands["labels"])  # bands kept too


def test_spec_bands_that_span_40_are_a_spec_error_in_hiring_only(tmp_path: Path) -> None:
    bands = {"edges": [30, 50], "labels": ["under 30", "30-49", "50 and over"]}
    protected = ["sex", {"column": "age", "category": "age", "bands": bands}]
    spec = _spec(tmp_path / "d.csv", protected=protected)
    with pytest.raises(
        SpecError, match=r"protected\.age\.bands: .*'30-49' has ages on both sides of 40"
    ):
        auditor.load_spec(spec)
    auditor.load_spec({**spec, "domain": "credit"})  # the ADEA is an employment statute


def test_text_bands_in_the_data_that_span_40_exit_2_naming_the_group(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 300
    frame = _frame(n, rng.choice(["18-29", "30-49", "50+"], n), rng)
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataValidationError, match=r"group '30-49' has ages on both sides of 40"):
        auditor.run_audit(_spec(tmp_path / "d.csv"))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(_spec(tmp_path / "d.csv")))
    res = CliRunner().invoke(app, ["audit", str(spec_path)])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    assert res.output.startswith("error: ")
    assert "'30-49' has ages on both sides of 40" in res.output


def test_age_groups_without_years_leave_the_comparison_out_with_a_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 300
    frame = _frame(n, rng.choice(["young", "old"], n), rng)
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = auditor.run_audit(_spec(tmp_path / "d.csv"))
    assert not [m for m in result.metrics if m.attribute == "age (ADEA)"]
    assert any("ADEA comparison" in w and "'old'" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("label", "side"),
    [
        ("39", adea.UNDER),
        ("39.9", adea.UNDER),
        ("40", adea.OVER),
        ("25-39", adea.UNDER),
        ("40–61", adea.OVER),
        ("62 and over", adea.OVER),
        ("40+", adea.OVER),
        ("under 25", adea.UNDER),
        ("<40", adea.UNDER),
        ("young", None),
    ],
)
def test_text_bands_are_read_as_ages_in_completed_years(label: str, side: str | None) -> None:
    assert adea.side_of(label, None) == side


@pytest.mark.parametrize("label", ["30-49", "35+", "under 45", "39.5-40.5"])
def test_a_band_spanning_40_is_refused(label: str) -> None:
    with pytest.raises(adea.StraddlesForty):
        adea.side_of(label, None)
