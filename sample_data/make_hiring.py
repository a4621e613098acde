"""Generate the synthetic hiring data set with a known, injected proxy disparity.

Usage::

    python sample_data/make_hiring.py [--rows 20000] [--seed 144] [--out sample_data/hiring.csv]
    python sample_data/make_hiring.py --ground-truth   # print the README ground-truth tables

The data are SYNTHETIC.  Sex, race/ethnicity and the job-related features are
drawn independently of each other; ``area_code`` is drawn from a
race-dependent distribution (residential segregation) and is therefore a proxy
for race.  ``qualified`` depends on the job features only.  ``hired`` (the
historical decision) depends on the same job features plus a penalty of
``HIRE_AREA_PENALTY`` x (minority share of the applicant's area) in logit
units.  That penalty is the only route by which race affects ``hired``; sex has
no effect at all.  Every distribution and coefficient is a module constant
below and is documented in ``sample_data/README.md``.

Pure numpy/pandas and deterministic: the same ``--rows``/``--seed`` always
produce a byte-identical CSV.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_ROWS = 20_000
DEFAULT_SEED = 144
DEFAULT_OUT = Path(__file__).resolve().parent / "hiring.csv"

SEX_CATEGORIES = ["Female", "Male", "unknown"]
SEX_SHARES = [0.47, 0.50, 0.03]

# EEO-1 / NYC Local Law 144 race/ethnicity categories, with applicant-pool shares.
RACE_CATEGORIES = [
    "White",
    "Hispanic or Latino",
    "Black or African American",
    "Asian",
    "Two or More Races",
    "American Indian or Alaska Native",
    "Native Hawaiian or Other Pacific Islander",
    "unknown",
]
RACE_SHARES = [0.38, 0.22, 0.20, 0.11, 0.03, 0.012, 0.008, 0.04]
# Groups whose residents make up an area's "minority share".
MINORITY_GROUPS = ["Black or African American", "Hispanic or Latino"]

# Residential segregation: N_AREAS areas lie at latent positions 0 … 1 on a
# line; each race's residents are spread over that line as a discretised
# normal curve N(centre, AREA_SD) mixed with AREA_UNIFORM_MIX of a uniform
# spread (so that every group lives in every area).
N_AREAS = 40
FIRST_AREA_CODE = 10401
AREA_SD = 0.16
AREA_UNIFORM_MIX = 0.08
AREA_CENTRES = {
    "White": 0.0,
    "Hispanic or Latino": 0.72,
    "Black or African American": 1.0,
    "Asian": 0.30,
    "Two or More Races": 0.55,
    "American Indian or Alaska Native": 0.50,
    "Native Hawaiian or Other Pacific Islander": 0.42,
    "unknown": 0.50,
}

# Job-related features (independent of sex, race and area).
EXPERIENCE_GAMMA_SHAPE = 2.0
EXPERIENCE_GAMMA_SCALE = 3.5
EXPERIENCE_MAX = 30.0
EDUCATION_SHARES = [0.05, 0.30, 0.20, 0.30, 0.15]  # 0 none, 1 high school, 2 some college,
# 3 bachelor's, 4 graduate
SKILLS_MEAN, SKILLS_SD = 65.0, 15.0
INTERVIEW_MEAN, INTERVIEW_SD = 3.2, 0.8
CERTIFICATIONS_LAMBDA = 1.2
CERTIFICATIONS_MAX = 6

# Logit coefficients on the centred (published, rounded) features:
# (skills_test - 65), (interview_score - 3.2), (education_level - 2),
# (min(years_experience, 20) - 7), (certifications - 1.2).
QUALIFIED_INTERCEPT = -0.25
QUALIFIED_COEFS = {
    "skills_test": 0.05,
    "interview_score": 0.8,
    "education_level": 0.3,
    "years_experience": 0.06,
    "certifications": 0.15,
}
HIRE_INTERCEPT = -0.55
HIRE_COEFS = {
    "skills_test": 0.04,
    "interview_score": 1.0,
    "education_level": 0.4,
    "years_experience": 0.05,
    "certifications": 0.1,
}
HIRE_AREA_PENALTY = -1.0  # logit units per unit of the area's minority share
FEATURE_CENTRES = {
    "skills_test": 65.0,
    "interview_score": 3.2,
    "education_level": 2.0,
    "years_experience": 7.0,
    "certifications": 1.2,
}
EXPERIENCE_CAP_IN_LOGIT = 20.0

COLUMNS = [
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
FLOAT_COLUMNS = ["years_experience", "skills_test", "interview_score"]


def area_table() -> pd.DataFrame:
    """Design of the areas: code, minority share and P(area | race) per race.

    The minority share of an area is the expected share of Black or African
    American and Hispanic or Latino applicants among the area's applicants,
    computed exactly from the design (not from a sample).  Area codes are
    numbered in increasing order of minority share, so neighbouring codes have
    similar demographics; with the design constants above this is also the
    order of the latent positions (checked by the tests).
    """
    positions = np.linspace(0.0, 1.0, N_AREAS)
    centres = np.array([AREA_CENTRES[r] for r in RACE_CATEGORIES])
    dens = np.exp(-((positions[None, :] - centres[:, None]) ** 2) / (2 * AREA_SD**2))
    dens /= dens.sum(axis=1, keepdims=True)
    p_area_given_race = (1 - AREA_UNIFORM_MIX) * dens + AREA_UNIFORM_MIX / N_AREAS
    joint = np.asarray(RACE_SHARES)[:, None] * p_area_given_race
    minority_rows = [RACE_CATEGORIES.index(g) for g in MINORITY_GROUPS]
    share = joint[minority_rows].sum(axis=0) / joint.sum(axis=0)
    order = np.argsort(share, kind="stable")
    table = pd.DataFrame(
        {
            "area_code": FIRST_AREA_CODE + np.arange(N_AREAS),
            "latent_position": positions[order],
            "minority_share": share[order],
            "applicant_share": joint.sum(axis=0)[order],
        }
    )
    for i, race in enumerate(RACE_CATEGORIES):
        table[f"p_area|{race}"] = p_area_given_race[i, order]
    return table


def _logit(df: pd.DataFrame, intercept: float, coefs: dict[str, float]) -> np.ndarray:
    eta = np.full(len(df), intercept)
    for name, coef in coefs.items():
        values = df[name].to_numpy(dtype=float)
        if name == "years_experience":
            values = np.minimum(values, EXPERIENCE_CAP_IN_LOGIT)
        eta += coef * (values - FEATURE_CENTRES[name])
    return eta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_hiring(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Return the synthetic hiring data (columns as in COLUMNS)."""
    if rows < 1:
        raise ValueError("rows must be positive")
    rng = np.random.default_rng(seed)
    areas = area_table()

    sex = rng.choice(len(SEX_CATEGORIES), size=rows, p=SEX_SHARES)
    race = rng.choice(len(RACE_CATEGORIES), size=rows, p=RACE_SHARES)

    # area | race by inverse CDF of the race's area distribution
    p_area = areas[[f"p_area|{r}" for r in RACE_CATEGORIES]].to_numpy().T
    cdf = np.cumsum(p_area, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(rows)
    area_idx = (u[:, None] > cdf[race]).sum(axis=1)

    years = np.round(
        np.clip(rng.gamma(EXPERIENCE_GAMMA_SHAPE, EXPERIENCE_GAMMA_SCALE, rows), 0, EXPERIENCE_MAX),
        1,
    )
    education = rng.choice(len(EDUCATION_SHARES), size=rows, p=EDUCATION_SHARES)
    skills = np.round(np.clip(rng.normal(SKILLS_MEAN, SKILLS_SD, rows), 0, 100), 1)
    interview = np.round(np.clip(rng.normal(INTERVIEW_MEAN, INTERVIEW_SD, rows), 1, 5), 1)
    certs = np.minimum(rng.poisson(CERTIFICATIONS_LAMBDA, rows), CERTIFICATIONS_MAX)

    df = pd.DataFrame(
        {
            "applicant_id": [f"H-{i:05d}" for i in range(1, rows + 1)],
            "sex": np.asarray(SEX_CATEGORIES, dtype=object)[sex],
            "race_ethnicity": np.asarray(RACE_CATEGORIES, dtype=object)[race],
            "area_code": areas["area_code"].to_numpy()[area_idx].astype("int64"),
            "years_experience": years,
            "education_level": education.astype("int64"),
            "skills_test": skills,
            "interview_score": interview,
            "certifications": certs.astype("int64"),
        }
    )
    eta_q = _logit(df, QUALIFIED_INTERCEPT, QUALIFIED_COEFS)
    minority_share = areas["minority_share"].to_numpy()[area_idx]
    eta_h = _logit(df, HIRE_INTERCEPT, HIRE_COEFS) + HIRE_AREA_PENALTY * minority_share
    df["qualified"] = (rng.random(rows) < _sigmoid(eta_q)).astype("int64")
    df["hired"] = (rng.random(rows) < _sigmoid(eta_h)).astype("int64")
    return df[COLUMNS]


def write_csv(df: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False, lineterminator="\n", float_format="%.1f")


# --------------------------------------------------------------------------- ground truth


def cramers_v(x: pd.Series, y: pd.Series) -> float:
    """Cramér's V (no bias correction) of two categorical series."""
    table = pd.crosstab(x, y).to_numpy(dtype=float)
    n = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    k = min(table.shape) - 1
    return float(np.sqrt(chi2 / (n * k)))


def group_rates(df: pd.DataFrame, group: str) -> pd.DataFrame:
    """Count, share, hired and qualified rates and impact ratios per group.

    Impact ratios are taken against the highest-rate group among the known
    categories ("unknown" is reported but excluded from the reference, as
    under NYC Local Law 144).
    """
    g = df.groupby(group, sort=False).agg(
        n=("hired", "size"), hired_rate=("hired", "mean"), qualified_rate=("qualified", "mean")
    )
    g["share"] = g["n"] / len(df)
    known = g.drop(index="unknown", errors="ignore")
    g["hired_impact_ratio"] = g["hired_rate"] / known["hired_rate"].max()
    g["qualified_impact_ratio"] = g["qualified_rate"] / known["qualified_rate"].max()
    categories = {"race_ethnicity": RACE_CATEGORIES, "sex": SEX_CATEGORIES}.get(group, [])
    order = [c for c in categories if c in g.index] + [c for c in g.index if c not in categories]
    cols = ["n", "share", "hired_rate", "hired_impact_ratio", "qualified_rate"]
    return g.loc[order, [*cols, "qualified_impact_ratio"]]


def ground_truth_markdown(df: pd.DataFrame) -> str:
    lines: list[str] = []
    for group in ("race_ethnicity", "sex"):
        g = group_rates(df, group)
        lines.append(
            f"| {group} | n | share | hired rate | hired impact ratio | qualified rate "
            "| qualified impact ratio |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, r in g.iterrows():
            lines.append(
                f"| {name} | {int(r['n'])} | {r['share']:.2%} | {r['hired_rate']:.3f} "
                f"| {r['hired_impact_ratio']:.3f} | {r['qualified_rate']:.3f} "
                f"| {r['qualified_impact_ratio']:.3f} |"
            )
        lines.append("")
    lines.append(f"- overall hired rate: {df['hired'].mean():.3f}")
    lines.append(f"- overall qualified rate: {df['qualified'].mean():.3f}")
    lines.append(
        f"- Cramér's V, area_code vs race_ethnicity: "
        f"{cramers_v(df['area_code'], df['race_ethnicity']):.3f}"
    )
    lines.append(f"- Cramér's V, area_code vs sex: {cramers_v(df['area_code'], df['sex']):.3f}")
    share = df["area_code"].map(area_table().set_index("area_code")["minority_share"])
    lines.append("- mean minority share of the applicant's area, by race_ethnicity:")
    for race, value in share.groupby(df["race_ethnicity"]).mean().loc[RACE_CATEGORIES].items():
        lines.append(f"  - {race}: {value:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--ground-truth",
        action="store_true",
        help="print the ground-truth tables of the generated data instead of writing it",
    )
    args = parser.parse_args(argv)
    df = generate_hiring(args.rows, args.seed)
    if args.ground_truth:
        print(ground_truth_markdown(df))
        return 0
    write_csv(df, args.out)
    print(f"wrote {len(df)} rows x {df.shape[1]} columns to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
