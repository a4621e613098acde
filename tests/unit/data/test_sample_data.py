"""Checks of the committed sample data sets against their generators and README."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tests._paths import REPO

REPO_ROOT = REPO
SAMPLE_DIR = REPO_ROOT / "sample_data"
GERMAN_CSV = SAMPLE_DIR / "german_credit.csv"
HIRING_CSV = SAMPLE_DIR / "hiring.csv"
README = SAMPLE_DIR / "README.md"
GERMAN_SOURCE = REPO.parent / "shared" / "datasets" / "german_credit"

LARGE_RACES = ["White", "Hispanic or Latino", "Black or African American", "Asian"]


def _load(name: str) -> ModuleType:
    """Import a script from sample_data/ (not a package) by file path."""
    module_name = f"_sample_data_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, SAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_german() -> ModuleType:
    return _load("make_german_credit")


@pytest.fixture(scope="module")
def make_hiring() -> ModuleType:
    return _load("make_hiring")


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CSV)


@pytest.fixture(scope="module")
def hiring() -> pd.DataFrame:
    return pd.read_csv(HIRING_CSV)


# --------------------------------------------------------------------------- German credit

GERMAN_COLUMNS = [
    "applicant_id",
    "checking_status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "personal_status",
    "other_debtors",
    "present_residence_since",
    "property",
    "age",
    "installment_plans",
    "housing",
    "number_of_existing_credits",
    "job",
    "number_of_people_liable_for",
    "telephone",
    "foreign_worker",
    "sex",
    "age_band",
    "good_credit",
]


def test_german_shape_ids_and_no_missing(german: pd.DataFrame) -> None:
    assert list(german.columns) == GERMAN_COLUMNS
    assert len(german) == 1000
    assert german["applicant_id"].is_unique
    assert german["applicant_id"].iloc[0] == "GC-0001"
    assert german["applicant_id"].iloc[-1] == "GC-1000"
    assert not german.isna().any().any()


def test_german_values(german: pd.DataFrame) -> None:
    assert german["good_credit"].mean() == pytest.approx(0.70)
    assert set(german["good_credit"]) == {0, 1}
    assert set(german["sex"]) == {"female", "male"}
    assert set(german["telephone"]) == {"yes", "no"}
    assert set(german["foreign_worker"]) == {"yes", "no"}
    for col in ("duration", "credit_amount", "age", "installment_rate"):
        assert pd.api.types.is_integer_dtype(german[col]), col
    # no undecoded codes such as "A43" left
    text = german.drop(columns=["applicant_id"]).select_dtypes(exclude="number")
    assert not text.apply(lambda s: s.str.fullmatch(r"A\d+")).any().any()
    # sex agrees with personal_status
    assert (german["personal_status"].str.split(" : ").str[0] == german["sex"]).all()
    # the data set has no "female : single" applicants
    assert "female : single" not in set(german["personal_status"])
    assert (german["sex"] == "female").sum() == 310


def test_german_age_band(german: pd.DataFrame) -> None:
    expected = np.select(
        [german["age"] < 25, german["age"] < 40, german["age"] < 62],
        ["under 25", "25-39", "40-61"],
        "62 and over",
    )
    assert (german["age_band"].to_numpy() == expected).all()
    counts = german["age_band"].value_counts()
    assert counts.to_dict() == {"25-39": 552, "40-61": 261, "under 25": 149, "62 and over": 38}


def test_german_matches_raw_source(
    german: pd.DataFrame, make_german: ModuleType, tmp_path: Path
) -> None:
    if not (GERMAN_SOURCE / "german.data").exists():
        pytest.skip(f"raw German credit data not found at {GERMAN_SOURCE}")
    raw = pd.read_csv(GERMAN_SOURCE / "german.data", sep=" ", header=None, dtype=str)
    sex = raw[8].map(
        {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"}
    )
    assert not sex.isna().any()
    assert german["sex"].value_counts().to_dict() == sex.value_counts().to_dict()
    assert (german["sex"].to_numpy() == sex.to_numpy()).all()
    assert (german["good_credit"].to_numpy() == (raw[20] == "1").to_numpy()).all()
    # the committed CSV is exactly what the script produces
    out = tmp_path / "german_credit.csv"
    assert make_german.main(["--source", str(GERMAN_SOURCE), "--out", str(out)]) == 0
    assert out.read_bytes() == GERMAN_CSV.read_bytes()


def test_german_unmapped_code_fails(make_german: ModuleType, tmp_path: Path) -> None:
    if not (GERMAN_SOURCE / "german.data").exists():
        pytest.skip(f"raw German credit data not found at {GERMAN_SOURCE}")
    lines = (GERMAN_SOURCE / "german.data").read_text().splitlines()
    lines[0] = lines[0].replace("A43", "A499", 1)
    (tmp_path / "german.data").write_text("\n".join(lines) + "\n")
    (tmp_path / "values_maps.json").write_bytes((GERMAN_SOURCE / "values_maps.json").read_bytes())
    with pytest.raises(KeyError, match="A499"):
        make_german.convert(tmp_path)


# --------------------------------------------------------------------------- hiring

HIRING_COLUMNS = [
    "applicant_id",
    "sex",
    "race_ethnicity",
    "area_code",
    "years_experience",
    "education_level",
    "skills_test",
    "interview_score",
    "certifications",
    "qualified",
    "hired",
]
RACES = {
    "Hispanic or Latino",
    "White",
    "Black or African American",
    "Native Hawaiian or Other Pacific Islander",
    "Asian",
    "American Indian or Alaska Native",
    "Two or More Races",
    "unknown",
}


def _rates(df: pd.DataFrame, group: str, outcome: str) -> pd.Series:
    return df.groupby(group)[outcome].mean()


def _impact_ratios(df: pd.DataFrame, group: str, outcome: str) -> pd.Series:
    rates = _rates(df, group, outcome)
    return rates / rates.drop("unknown").max()


def _cramers_v(x: pd.Series, y: pd.Series) -> float:
    table = pd.crosstab(x, y).to_numpy(dtype=float)
    n = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def test_hiring_shape_and_values(hiring: pd.DataFrame) -> None:
    assert list(hiring.columns) == HIRING_COLUMNS
    assert len(hiring) == 20_000
    assert hiring["applicant_id"].is_unique
    assert hiring["applicant_id"].iloc[0] == "H-00001"
    assert hiring["applicant_id"].iloc[-1] == "H-20000"
    assert not hiring.isna().any().any()
    assert set(hiring["sex"]) == {"Female", "Male", "unknown"}
    assert set(hiring["race_ethnicity"]) == RACES
    assert hiring["area_code"].between(10401, 10440).all()
    assert hiring["years_experience"].between(0, 30).all()
    assert hiring["skills_test"].between(0, 100).all()
    assert hiring["interview_score"].between(1, 5).all()
    assert set(hiring["education_level"]) <= set(range(5))
    assert set(hiring["certifications"]) <= set(range(7))
    assert 0.40 <= hiring["qualified"].mean() <= 0.50
    assert 0.25 <= hiring["hired"].mean() <= 0.35
    share = hiring["race_ethnicity"].value_counts(normalize=True)
    assert share["Native Hawaiian or Other Pacific Islander"] < 0.02
    assert share["American Indian or Alaska Native"] < 0.02


def test_hiring_regenerates_byte_identical(make_hiring: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "hiring.csv"
    make_hiring.write_csv(make_hiring.generate_hiring(), out)
    assert out.read_bytes() == HIRING_CSV.read_bytes()


def test_hiring_other_seed_differs(make_hiring: ModuleType) -> None:
    same = make_hiring.generate_hiring(rows=2_000, seed=144)
    again = make_hiring.generate_hiring(rows=2_000, seed=144)
    other = make_hiring.generate_hiring(rows=2_000, seed=145)
    pd.testing.assert_frame_equal(same, again)
    assert not other.equals(same)
    for col in ("race_ethnicity", "area_code", "skills_test", "hired"):
        assert (other[col].to_numpy() != same[col].to_numpy()).any(), col


def test_hiring_injected_disparity(hiring: pd.DataFrame) -> None:
    ir = _impact_ratios(hiring, "race_ethnicity", "hired")
    rates = _rates(hiring, "race_ethnicity", "hired").drop("unknown")
    assert rates.idxmax() in {"White", "Asian"}
    assert 0.55 <= ir["Black or African American"] <= 0.70
    assert ir["Black or African American"] < 0.8
    assert ir["Hispanic or Latino"] < 0.8
    assert ir["Asian"] > 0.9
    black_vs_white = rates["Black or African American"] / rates["White"]
    assert 0.55 <= black_vs_white <= 0.70
    sex = _rates(hiring, "sex", "hired")
    assert 0.95 <= sex["Female"] / sex["Male"] <= 1 / 0.95


def test_hiring_qualified_equal_across_races(hiring: pd.DataFrame) -> None:
    q = _rates(hiring, "race_ethnicity", "qualified")[LARGE_RACES]
    assert (q / q.max()).min() >= 0.93
    sex = _rates(hiring, "sex", "qualified")
    assert min(sex["Female"], sex["Male"]) / max(sex["Female"], sex["Male"]) >= 0.95


def test_hiring_job_features_independent_of_race(hiring: pd.DataFrame) -> None:
    overall = hiring[["skills_test", "years_experience", "interview_score"]].mean()
    means = hiring.groupby("race_ethnicity")[["skills_test", "years_experience"]].mean()
    for race in LARGE_RACES:
        assert abs(means.loc[race, "skills_test"] - overall["skills_test"]) <= 2.0, race
        assert abs(means.loc[race, "years_experience"] - overall["years_experience"]) <= 0.5
    edu = pd.crosstab(hiring["race_ethnicity"], hiring["education_level"], normalize="index")
    assert (edu.loc[LARGE_RACES].max() - edu.loc[LARGE_RACES].min()).max() < 0.03


def test_hiring_area_is_race_proxy(hiring: pd.DataFrame, make_hiring: ModuleType) -> None:
    v = _cramers_v(hiring["area_code"], hiring["race_ethnicity"])
    assert 0.4 <= v <= 0.6
    assert _cramers_v(hiring["area_code"], hiring["sex"]) < 0.1
    areas = make_hiring.area_table()
    assert list(areas["area_code"]) == list(range(10401, 10441))
    assert (np.diff(areas["minority_share"]) > 0).all()
    assert (np.diff(areas["latent_position"]) > 0).all()
    # not deterministic: every group appears in both low-code and high-code areas
    low = hiring[hiring["area_code"] <= 10420]["race_ethnicity"].value_counts()
    high = hiring[hiring["area_code"] > 10420]["race_ethnicity"].value_counts()
    for race in LARGE_RACES:
        assert low[race] >= 100
        assert high[race] >= 100


# --------------------------------------------------------------------------- README numbers


def _readme_tables() -> dict[str, dict[str, list[str]]]:
    """Parse the ground-truth tables (by race_ethnicity and by sex) from the README."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Ground truth", 1)[1]
    tables: dict[str, dict[str, list[str]]] = {}
    current: str | None = None
    for line in section.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("race_ethnicity", "sex") and cells[1] == "n":
            current = cells[0]
            tables[current] = {}
        elif current is not None and not cells[0].startswith("---"):
            tables[current][cells[0]] = cells[1:]
    return tables


@pytest.mark.parametrize("group", ["race_ethnicity", "sex"])
def test_readme_ground_truth_matches_csv(hiring: pd.DataFrame, group: str) -> None:
    table = _readme_tables()[group]
    counts = hiring[group].value_counts()
    hired = _rates(hiring, group, "hired")
    qualified = _rates(hiring, group, "qualified")
    hired_ir = _impact_ratios(hiring, group, "hired")
    qualified_ir = _impact_ratios(hiring, group, "qualified")
    assert set(table) == set(counts.index)
    for name, cells in table.items():
        n, share, h, h_ir, q, q_ir = cells
        assert int(n) == counts[name], name
        assert share == f"{counts[name] / len(hiring):.2%}", name
        assert h == f"{hired[name]:.3f}", name
        assert h_ir == f"{hired_ir[name]:.3f}", name
        assert q == f"{qualified[name]:.3f}", name
        assert q_ir == f"{qualified_ir[name]:.3f}", name


def test_readme_cramers_v_and_coefficient(hiring: pd.DataFrame, make_hiring: ModuleType) -> None:
    text = README.read_text(encoding="utf-8")
    v = _cramers_v(hiring["area_code"], hiring["race_ethnicity"])
    match = re.search(r"`area_code` vs `race_ethnicity`[^:]*: \*\*([0-9.]+)\*\*", text)
    assert match is not None
    assert match.group(1) == f"{v:.3f}"
    assert make_hiring.HIRE_AREA_PENALTY == -1.0
    assert "injected coefficient: **−1.0**" in text
