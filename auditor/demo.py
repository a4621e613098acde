"""``auditor demo``: train two real models on the sample data, audit both, keep everything.

German credit (real data, LightGBM) and synthetic hiring (PyTorch MLP trained on the
historical, biased hiring decisions). Seeded: the same seed gives the same models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from auditor._resources import sample_data_dir

CREDIT_FEATURES = [
    "checking_status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "other_debtors",
    "present_residence_since",
    "property",
    "installment_plans",
    "housing",
    "number_of_existing_credits",
    "job",
    "number_of_people_liable_for",
    "telephone",
]
HIRING_FEATURES = [
    "years_experience",
    "education_level",
    "skills_test",
    "interview_score",
    "certifications",
    "area_code",
]
HIRING_HIDDEN = [32, 16]
HIRING_TRAINING: dict[str, Any] = {
    "path": "hiring.csv",
    "label": "hired",
    "performance_label": "qualified",
    "model": {
        "kind": "lightgbm",
        "params": {
            "objective": "binary",
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_data_in_leaf": 20,
        },
        "rounds": 200,
    },
}
_CREDIT_REASONS = {  # feature: (label, adverse reason, favourable text)
    "checking_status": ("Checking account status", "Balance or status of your checking account"),
    "duration": ("Loan term (months)", "Length of the requested loan term"),
    "credit_history": ("Credit history", "Your record of repaying previous credit"),
    "purpose": ("Purpose of the loan", "Purpose of the requested loan"),
    "credit_amount": ("Amount requested (DM)", "Amount of credit requested"),
    "savings": ("Savings", "Level of savings or securities held"),
    "present_employment": ("Time in present employment", "Length of present employment"),
    "installment_rate": (
        "Instalment rate (% of disposable income)",
        "Instalment payments as a share of your disposable income",
    ),
    "other_debtors": ("Other debtors or guarantors", "Other debtors or guarantors on the loan"),
    "present_residence_since": ("Years at present address", "Time at your present address"),
    "property": ("Property", "Type of property or collateral held"),
    "installment_plans": ("Other instalment plans", "Other instalment plans you hold"),
    "housing": ("Housing", "Your housing situation (rent, own, free)"),
    "number_of_existing_credits": (
        "Existing credits at this bank",
        "Number of existing credits at this bank",
    ),
    "job": ("Type of job", "Type of employment"),
    "number_of_people_liable_for": ("Dependants", "Number of people you provide for"),
    "telephone": ("Telephone registered", "Whether a telephone is registered in your name"),
}
CREDIT_LETTERS: dict[str, Any] = {
    "kinds": ["reg_b", "gdpr", "ai_act"],
    "organisation": {
        "name": "Example Savings Bank",
        "address": "12 Market Street\nSpringfield, IL 62701",
        "phone": "1-800-555-0100",
        "email": "credit-review@example.com",
    },
    "agency": {
        "name": "Consumer Financial Protection Bureau",
        "address": "1700 G Street NW\nWashington, DC 20552",
    },
    "contact": "To ask for a review or for more information, write to Credit Review, "
    "Example Savings Bank, 12 Market Street, Springfield, IL 62701, call 1-800-555-0100 or "
    "email credit-review@example.com within 60 days of this letter.",
    "reason_codes": {
        f: {"code": f"R{i + 1:02d}", "label": label, "adverse": text, "favorable": text}
        for i, (f, (label, text)) in enumerate(_CREDIT_REASONS.items())
    },
    "max_reasons": 4,
    "baseline": {"kind": "cutoff", "band": 0.05, "max_rows": 25},
    # the review's measurement noise: the loan term is what the applicant asked for
    # (recorded exactly); the amount gets the default 5% of its value
    "review": {"measurement": {"duration": 0}},
    "counterfactual": {
        "actionable": {
            "duration": {"direction": "decrease", "min": 4, "max": 72, "step": 1},
            "credit_amount": {"direction": "decrease", "min": 250, "max": 20000, "step": 250},
            # categorical: reachable categories, least to most favourable; "no checking
            # account" and "unknown/ no savings account" are left out (not a step up)
            "checking_status": {
                "direction": "increase",
                "order": [
                    "... < 0 DM",
                    "0 <= ... < 200 DM",
                    "... >= 200 DM / salary assignments for at least 1 year",
                ],
            },
            "savings": {
                "direction": "increase",
                "order": [
                    "... < 100 DM",
                    "100 <= ... < 500 DM",
                    "500 <= ... < 1000 DM",
                    ".. >= 1000 DM",
                ],
            },
        },
        "immutable": ["present_residence_since", "number_of_people_liable_for"],
    },
}


@dataclass(frozen=True)
class DemoCase:
    """One prepared demo audit: its spec file and what it is."""

    name: str
    spec_path: Path
    description: str


def prepare_credit(out: Path, *, seed: int = 0) -> DemoCase:
    """Train a LightGBM credit model on German credit and write its spec."""
    import lightgbm as lgb

    data_path = out / "german_credit.csv"
    frame = pd.read_csv(sample_data_dir() / "german_credit.csv")
    frame.to_csv(data_path, index=False)
    x = frame[CREDIT_FEATURES].copy()
    for col in x.columns:
        if x[col].dtype == object or pd.api.types.is_string_dtype(x[col]):
            x[col] = x[col].astype("category")
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.9,
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(x, frame["good_credit"]), num_boost_round=200)
    booster.save_model(str(out / "credit_lgbm.txt"))
    spec: dict[str, Any] = {
        "name": "german-credit-demo",
        "domain": "credit",
        "model": {"path": "credit_lgbm.txt", "kind": "lightgbm"},
        "data": {"path": "german_credit.csv"},
        "columns": {"id": "applicant_id", "label": "good_credit", "features": CREDIT_FEATURES},
        "favorable": 1,
        "threshold": 0.5,
        "protected": ["sex", "age_band"],
        "intersections": [["sex", "age_band"]],
        "reference": {"sex": "male", "age_band": "25-39"},
        "policies": ["ecoa_reg_b", "gdpr", "aaa"],
        "jurisdictions": ["US", "DE"],  # a lender with applicants in the US and Germany
        "min_group_size": 30,
        "seed": seed,
        "evidence": {
            "human_review_process": "Declined applications can be reviewed by a "
            "credit officer on request (demo attestation)."
        },
        "letters": CREDIT_LETTERS,
        # `auditor lda` (issue 22): refit as the audited booster, on the same data
        "training": {
            "path": "german_credit.csv",
            "label": "good_credit",
            "model": "as_audited",
            "split": {"seed": seed, "search": 0.2, "holdout": 0.2},
            # the data set's own cost matrix (Statlog German credit): approving a bad risk
            # costs 5, declining a good one 1, read as a gain of 1 per good approval (the
            # same differences between candidates); gives each candidate's expected loss
            "loss_per_bad_approval": 5,
            "gain_per_good_approval": 1,
        },
    }
    return DemoCase(
        "german-credit-demo",
        _write_spec(out / "credit_audit.yaml", spec),
        "LightGBM on the real German credit data (1,000 applications)",
    )


def prepare_hiring(
    out: Path, *, seed: int = 0, epochs: int = 40, on_epoch: Callable[[], None] | None = None
) -> DemoCase:
    """Train a PyTorch MLP on the historical hiring decisions and write its spec."""
    import torch

    from auditor.models.mlp import TabularMLP

    data_path = out / "hiring.csv"
    frame = pd.read_csv(sample_data_dir() / "hiring.csv")
    frame.to_csv(data_path, index=False)
    x = torch.as_tensor(frame[HIRING_FEATURES].to_numpy(np.float32))
    y = torch.as_tensor(frame["hired"].to_numpy(np.float32))
    torch.manual_seed(seed)
    model = TabularMLP(len(HIRING_FEATURES), HIRING_HIDDEN)
    model.mean.copy_(x.mean(0))
    model.scale.copy_(x.std(0))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.split(torch.randperm(len(x), generator=gen), 1024):
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        if on_epoch:
            on_epoch()
    torch.save(model.state_dict(), out / "hiring_mlp.pt")
    spec: dict[str, Any] = {
        "name": "hiring-screen-demo",
        "domain": "hiring",
        "model": {
            "path": "hiring_mlp.pt",
            "kind": "torch",
            "module": "auditor.models.mlp:TabularMLP",
            "init": {"n_features": len(HIRING_FEATURES), "hidden": HIRING_HIDDEN},
        },
        "data": {"path": "hiring.csv"},
        "columns": {"id": "applicant_id", "label": "qualified", "features": HIRING_FEATURES},
        "favorable": 1,
        "threshold": 0.4,
        "protected": ["sex", "race_ethnicity"],
        "intersections": [["sex", "race_ethnicity"]],
        "reference": "highest",
        "policies": ["eeoc_ugesp", "nyc_ll144", "illinois", "gdpr", "aaa"],
        # applicants in New York City and Illinois: the GDPR pack is listed but, outside
        # its territory, gives one not_applicable finding (issue 18)
        "jurisdictions": ["US-NY", "US-IL"],
        "min_group_size": 30,
        "explain": {"method": "integrated_gradients", "steps": 128},
        "seed": seed,
        # `auditor lda` (issue 22): the model is refit as LightGBM on the historical
        # decisions; performance is judged against the job-related criterion (qualified),
        # not against the historical decisions the area penalty shaped
        "training": HIRING_TRAINING | {"split": {"seed": seed, "search": 0.2, "holdout": 0.2}},
        # what the public NYC LL144 summary must state (auditor/report/ll144_publication.py)
        "evidence": {
            "data_source": "Synthetic applicant data shipped with auditor "
            "(sample_data/hiring.csv, seed 144); test data, not historical data.",
            "employer": "Example Hiring Co. (demo)",
            "aedt_name": "Hiring screen demo (PyTorch MLP)",
            "aedt_vendor": "auditor demo, trained by `auditor demo`",
            "data_period": "20,000 synthetic applications generated for the demo",
            "data_kind": "test",
            "test_data_reason": "The demo tool has never been used on real applicants, so no "
            "historical data exist; the applications were generated by "
            "sample_data/make_hiring.py (seed 144) with the features the tool uses.",
            "distribution_date": "2026-01-15",
        },
    }
    return DemoCase(
        "hiring-screen-demo",
        _write_spec(out / "hiring_audit.yaml", spec),
        "PyTorch MLP screening 20,000 synthetic applicants",
    )


def _write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


SCREENER_APPLICATIONS = 200
SCREENER_EVIDENCE: dict[str, Any] = {
    "data_source": "Synthetic applications generated by auditor.screener.sample (seeded); "
    "test data, not historical data.",
    "employer": "Example Hiring Co. (demo)",
    "aedt_vendor": "auditor demo, trained by `auditor demo`",
    "data_period": "200 synthetic applications for one data-analyst posting, each scored in "
    "paired variants",
    "data_kind": "test",
    "test_data_reason": "The sample screeners have never been used on real applicants; the "
    "applications and their paired variants were generated for the demo.",
    "distribution_date": "2026-01-15",
}


def prepare_screeners(
    out: Path,
    *,
    seed: int = 0,
    applications: int = SCREENER_APPLICATIONS,
    n_train: int = 3000,
    resamples: int = 10_000,
) -> list[DemoCase]:
    """Train the two sample text screeners (one with an injected name effect, one without)
    and write a screener-audit spec for each (issue 23): ``screener_audit.yaml`` and
    ``screener_audit_clean.yaml``."""
    from auditor.screener.sample import (
        NAME_PENALTY_LOGIT,
        NUMERIC_FIELDS,
        PENALISED_RACE,
        PENALISED_SEX,
        TEXT_FIELDS,
        generate_applications,
        train_sample_screeners,
        write_applications,
    )

    # training runs torch on one thread and restores the caller's setting
    # (auditor.screener.sample_model.one_thread): the one place that does it
    trained = train_sample_screeners(out / "screeners", seed=seed, n_train=n_train)
    records = generate_applications(applications, seed=seed)
    csv_path, _ = write_applications(records, out, stem="screener_applications")
    cases = []
    for kind, folder, description in (
        (
            "injected",
            trained.injected,
            f"sample text screener with an injected name effect (−{NAME_PENALTY_LOGIT:g} logit "
            f"per {PENALISED_SEX} first name or {PENALISED_RACE} surname)",
        ),
        ("clean", trained.clean, "sample text screener without a name effect"),
    ):
        name = f"screener-demo-{kind}"
        spec: dict[str, Any] = {
            "name": name,
            "domain": "hiring",
            "screener": {
                "applications": csv_path.name,
                "id_field": "id",
                "name_field": "name",
                "text_fields": list(TEXT_FIELDS),
                "structured_fields": [*NUMERIC_FIELDS, "graduation_year"],
                # the built-in sample module: allowed without --allow-module
                "target": {
                    "kind": "callable",
                    "function": "auditor.screener.sample:score_records",
                    "options": {"model_path": str(folder.relative_to(out))},
                    "path_options": ["model_path"],
                },
                "output": "score",
                "selection": {"threshold": 0.5},
                "probes": {
                    "names": {"per_group": 3},
                    "pronouns": True,
                    "age": {"field": "graduation_year", "younger": 2018, "older": 1988},
                },
                "resamples": resamples,
            },
            "policies": ["eeoc_ugesp", "nyc_ll144"],
            "jurisdictions": ["US-NY"],
            "min_group_size": 30,
            "seed": seed,
            "evidence": {**SCREENER_EVIDENCE, "aedt_name": f"Sample screener ({kind}, demo)"},
        }
        file = "screener_audit.yaml" if kind == "injected" else "screener_audit_clean.yaml"
        cases.append(DemoCase(name, _write_spec(out / file, spec), description))
    return cases
