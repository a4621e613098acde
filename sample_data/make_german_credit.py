"""Convert the UCI Statlog German Credit data into a readable CSV.

Usage::

    python sample_data/make_german_credit.py [--source DIR] [--out FILE]

``--source`` defaults to ``../shared/datasets/german_credit`` relative to the
repository root and must contain ``german.data`` (space-separated, 21 columns,
no header) and ``values_maps.json`` (code -> meaning for every categorical
column).  ``--out`` defaults to ``sample_data/german_credit.csv``.

Every categorical code is decoded with ``values_maps.json``; a code without a
meaning stops the conversion with an error instead of leaving a gap.

Source: UCI Machine Learning Repository, "Statlog (German Credit Data)",
donated by Prof. Hans Hofmann, University of Hamburg, 1994. Licence: CC BY 4.0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "datasets" / "german_credit"
DEFAULT_OUT = REPO_ROOT / "sample_data" / "german_credit.csv"

# Column order of german.data, as documented in the dataset README.
RAW_COLUMNS = [
    "status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "status_sex",
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
    "credit",
]

NUMERIC_COLUMNS = [
    "duration",
    "credit_amount",
    "installment_rate",
    "present_residence_since",
    "age",
    "number_of_existing_credits",
    "number_of_people_liable_for",
]

CATEGORICAL_COLUMNS = [c for c in RAW_COLUMNS if c not in NUMERIC_COLUMNS and c != "credit"]

RENAMES = {"status": "checking_status", "status_sex": "personal_status"}

SEX_BY_CODE = {
    "A91": "male",
    "A92": "female",
    "A93": "male",
    "A94": "male",
    "A95": "female",
}

AGE_BANDS = ["under 25", "25-39", "40-61", "62 and over"]

OUTPUT_COLUMNS = (
    ["applicant_id"]
    + [RENAMES.get(c, c) for c in RAW_COLUMNS if c != "credit"]
    + ["sex", "age_band", "good_credit"]
)


def age_band(age: int) -> str:
    """Map an age in years to its band (62 and over matters for ECOA)."""
    if age < 25:
        return "under 25"
    if age < 40:
        return "25-39"
    if age < 62:
        return "40-61"
    return "62 and over"


def _meaning(value: object) -> str:
    """Return a decoded meaning as text ('yes'/'no' for JSON booleans)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


def read_raw(source: Path) -> pd.DataFrame:
    """Read german.data as strings, checking its shape."""
    path = source / "german.data"
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="python")
    if raw.shape != (1000, len(RAW_COLUMNS)):
        raise ValueError(
            f"{path}: expected 1000 rows x {len(RAW_COLUMNS)} columns, got {raw.shape}"
        )
    raw.columns = RAW_COLUMNS
    return raw


def convert(source: Path) -> pd.DataFrame:
    """Return the decoded data set (columns as in OUTPUT_COLUMNS)."""
    raw = read_raw(source)
    maps = json.loads((source / "values_maps.json").read_text(encoding="utf-8"))

    out = pd.DataFrame(index=raw.index)
    out["applicant_id"] = [f"GC-{i:04d}" for i in range(1, len(raw) + 1)]
    for col in NUMERIC_COLUMNS:
        values = pd.to_numeric(raw[col], errors="raise")
        if not (values == values.round()).all():
            raise ValueError(f"column {col}: non-integer values")
        out[RENAMES.get(col, col)] = values.astype("int64")
    for col in CATEGORICAL_COLUMNS:
        name = RENAMES.get(col, col)
        if col not in maps:
            raise KeyError(f"values_maps.json has no map for column {col!r}")
        mapping = {code: _meaning(v) for code, v in maps[col].items()}
        unmapped = sorted(set(raw[col]) - set(mapping))
        if unmapped:
            raise KeyError(f"column {col!r}: unmapped codes {unmapped}")
        out[name] = raw[col].map(mapping).astype(object)

    unknown_sex = sorted(set(raw["status_sex"]) - set(SEX_BY_CODE))
    if unknown_sex:
        raise KeyError(f"status_sex: no sex for codes {unknown_sex}")
    out["sex"] = raw["status_sex"].map(SEX_BY_CODE).astype(object)
    out["age_band"] = out["age"].map(age_band).astype(object)

    bad_labels = sorted(set(raw["credit"]) - {"1", "2"})
    if bad_labels:
        raise ValueError(f"credit: unexpected outcome codes {bad_labels}")
    out["good_credit"] = (raw["credit"] == "1").astype("int64")

    out = out[OUTPUT_COLUMNS]  # restore the dataset's column order
    if out.isna().any().any():
        raise ValueError("conversion produced missing values")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    df = convert(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, lineterminator="\n")
    print(f"wrote {len(df)} rows x {df.shape[1]} columns to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
