"""Refitting a LightGBM candidate: the base parameters (given, or read from the audited
booster), the training frame, and scoring through the audit's own model adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.errors import SpecError
from auditor.lda.split import training_of
from auditor.models.lightgbm_adapter import LightGBMAdapter, load_booster
from auditor.spec import AuditSpec

# feature-indexed or run-specific settings of the audited model: a candidate sets its
# own (its feature set differs), and the run settings below are the search's
_NOT_INHERITED = frozenset(
    {
        "num_iterations",
        "num_iteration",
        "n_iter",
        "num_tree",
        "num_trees",
        "num_round",
        "num_rounds",
        "num_boost_round",
        "n_estimators",
        "monotone_constraints",
        "max_bin_by_feature",
        "categorical_feature",
        "forcedsplits_filename",
        "interaction_constraints",
        "feature_contri",
        "input_model",
        "output_model",
        "saved_feature_importance_type",
        "data",
        "valid",
        "metric",
    }
)


@dataclass(frozen=True)
class BaseModel:
    """The parameters and rounds every candidate starts from."""

    params: dict[str, Any]
    rounds: int
    source: str  # "as_audited (<path>)" or "training.model"


def base_model(spec: AuditSpec) -> BaseModel:
    """``training.model``: given parameters, or those of the audited LightGBM booster."""
    training = training_of(spec)
    if training.model == "as_audited":
        # checked here, not when the spec loads: an audit never reads training.model, and
        # changing the audited model must not stop the audit itself
        if spec.model is None or spec.model.kind != "lightgbm":
            raise SpecError(
                f"{spec.source}: training.model: 'as_audited' reads a LightGBM model's "
                "parameters; this spec's model is not LightGBM, so give training.model: "
                "{kind: lightgbm, params: ...}"
            )
        path = spec.resolve(spec.model.path)
        booster = load_booster(path)
        params = {k: v for k, v in booster.params.items() if k not in _NOT_INHERITED}
        return BaseModel(params, max(1, booster.current_iteration()), f"as_audited ({path.name})")
    return BaseModel(dict(training.model.params), training.model.rounds, "training.model")


def run_params(base: BaseModel, seed: int) -> dict[str, Any]:
    """``base`` with the search's run settings: one thread (two cores are shared by the
    parallel fits and OpenMP spin-waits badly under load), seeded and deterministic."""
    return {
        **base.params,
        "objective": base.params.get("objective", "binary"),
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 1,
    }


def model_frame(
    frame: pd.DataFrame, features: list[str], categories: dict[str, list[Any]]
) -> pd.DataFrame:
    """The model inputs, text columns as pandas categories over the whole data's values
    (the same codes in every split; LightGBM stores them in the model file)."""
    x = frame[features].copy()
    for col, cats in categories.items():
        if col in x.columns:
            x[col] = pd.Categorical(x[col], categories=cats)
    return x


def text_categories(frame: pd.DataFrame, features: list[str]) -> dict[str, list[Any]]:
    """Sorted values of each text feature of the whole training data."""
    out: dict[str, list[Any]] = {}
    for col in features:
        series = frame[col]
        if (
            series.dtype == object
            or pd.api.types.is_string_dtype(series)
            or isinstance(series.dtype, pd.CategoricalDtype)
        ):
            out[col] = sorted(series.dropna().astype(str).unique().tolist())
    return out


def fit_booster(
    x: pd.DataFrame,
    y: np.ndarray,
    params: dict[str, Any],
    rounds: int,
    weight: np.ndarray | None = None,
) -> lgb.Booster:
    """Train one candidate and return it as the audit will load it (from its text)."""
    booster = lgb.train(params, lgb.Dataset(x, y, weight=weight), num_boost_round=rounds)
    return lgb.Booster(model_str=booster.model_to_string())


def score(booster: lgb.Booster, x: pd.DataFrame) -> np.ndarray:
    """Favourable-class probabilities through the audit's adapter (same encoding)."""
    adapter = LightGBMAdapter(booster)
    frame = x.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object)
    return adapter.score(adapter.encode(frame))
