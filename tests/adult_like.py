"""An Adult-like credit data set and LightGBM model, for held-out letter checks.

Shaped like the UCI Adult census data (age, education, hours, capital gains, occupation,
marital status, relationship, native country), relabelled as credit decisions whose
outcome leans on marital status, relationship, age and country as Adult's income does:
the case where a model's strongest reasons are prohibited bases (issue 18). Synthetic
and seeded: no download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

FEATURES = [
    "age",
    "education_num",
    "hours_per_week",
    "capital_gain",
    "capital_loss",
    "occupation",
    "marital_status",
    "relationship",
    "native_country",
    "debt_to_income",
]
PROHIBITED = {
    "age": "age",
    "marital_status": "marital_status",
    "relationship": "marital_status",
    "native_country": "national_origin",
}
_MARITAL = ["Married-civ-spouse", "Never-married", "Divorced", "Separated", "Widowed"]
_COUNTRY = ["United-States", "Mexico", "Philippines", "Germany", "India", "Canada"]
_OCCUPATION = ["Exec-managerial", "Prof-specialty", "Craft-repair", "Sales", "Other-service"]


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` applicants with Adult-like features, a protected sex/race, and an outcome."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    marital = rng.choice(_MARITAL, n, p=[0.46, 0.33, 0.14, 0.04, 0.03])
    married = marital == "Married-civ-spouse"
    sex = rng.choice(["Male", "Female"], n, p=[0.67, 0.33])
    relationship = np.where(
        married,
        np.where(sex == "Male", "Husband", "Wife"),
        rng.choice(["Not-in-family", "Own-child", "Unmarried"], n, p=[0.5, 0.3, 0.2]),
    )
    country = rng.choice(_COUNTRY, n, p=[0.9, 0.03, 0.02, 0.02, 0.02, 0.01])
    education = np.clip(np.round(rng.normal(10, 2.6, n)), 1, 16).astype(int)
    hours = np.clip(np.round(rng.normal(40, 12, n)), 1, 99).astype(int)
    gain = np.where(rng.random(n) < 0.08, np.round(rng.lognormal(8.5, 1.0, n)), 0).astype(int)
    loss = np.where(rng.random(n) < 0.05, np.round(rng.normal(1900, 300, n)), 0).astype(int)
    occupation = rng.choice(_OCCUPATION, n)
    dti = np.round(np.clip(rng.normal(0.32, 0.12, n), 0.0, 0.9), 3)
    logit = (
        -2.2
        + 1.6 * married
        + 0.03 * np.minimum(age - 18, 30)
        + 0.28 * (education - 10)
        + 0.03 * (hours - 40)
        + 0.00025 * gain
        - 0.0004 * loss
        - 5.0 * (dti - 0.32)
        + 0.5 * (occupation == "Exec-managerial")
        - 0.6 * (country != "United-States")
        - 0.4 * (relationship == "Own-child")
    )
    good = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "applicant_id": [f"AD-{i:05d}" for i in range(n)],
            "age": age,
            "education_num": education,
            "hours_per_week": hours,
            "capital_gain": gain,
            "capital_loss": loss,
            "occupation": occupation,
            "marital_status": marital,
            "relationship": relationship,
            "native_country": country,
            "debt_to_income": dti,
            "sex": sex,
            "race": rng.choice(
                ["White", "Black", "Asian-Pac-Islander", "Other"], n, p=[0.85, 0.09, 0.04, 0.02]
            ),
            "good_credit": good,
        }
    )


def prepare(folder: Path, n: int = 1500, seed: int = 0, **letters: Any) -> Path:
    """Write the data, train the model, write the audit spec; returns the spec's path."""
    import lightgbm as lgb

    frame = make_frame(n, seed)
    frame.to_csv(folder / "adult_like.csv", index=False)
    x = frame[FEATURES].copy()
    for col in x.columns:
        if x[col].dtype == object or pd.api.types.is_string_dtype(x[col]):
            x[col] = x[col].astype("category")
    params = {
        "objective": "binary",
        "learning_rate": 0.08,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(x, frame["good_credit"]), num_boost_round=120)
    booster.save_model(str(folder / "adult_lgbm.txt"))
    codes = {
        "education_num": ("Years of education", "Level of education"),
        "hours_per_week": ("Hours worked per week", "Hours worked per week"),
        "capital_gain": ("Capital gains", "Income from capital gains"),
        "capital_loss": ("Capital losses", "Losses on capital"),
        "occupation": ("Occupation", "Type of occupation"),
        "debt_to_income": ("Debt-to-income ratio", "Debt payments compared with income"),
    }
    spec: dict[str, Any] = {
        "name": "adult-like-credit",
        "domain": "credit",
        "model": {"path": "adult_lgbm.txt", "kind": "lightgbm"},
        "data": {"path": "adult_like.csv"},
        "columns": {"id": "applicant_id", "label": "good_credit", "features": FEATURES},
        "favorable": 1,
        "threshold": 0.5,
        "protected": ["sex", "race"],
        "reference": {"sex": "Male", "race": "White"},
        "policies": ["ecoa_reg_b"],
        "min_group_size": 30,
        "seed": seed,
        "explain": {"quality": {"enabled": False}},
        "letters": {
            "kinds": ["reg_b"],
            "organisation": {"name": "Held-out Credit Union", "address": "1 Test Road\nTown"},
            "agency": {"name": "National Credit Union Administration", "address": "Alexandria, VA"},
            "contact": "Write to Credit Review, 1 Test Road, Town.",
            "reason_codes": {
                f: {"code": f"H{i + 1:02d}", "label": label, "adverse": text}
                for i, (f, (label, text)) in enumerate(codes.items())
            },
            "prohibited_bases": dict(PROHIBITED),
            # measurement noise: age and years of education are recorded exactly; hours,
            # gains, losses and the ratio get the default 5% of their value
            "review": {"measurement": {"age": 0, "education_num": 0}},
            **letters,
        },
    }
    path = folder / "adult_audit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
