"""The learner every candidate starts from (given, or read from the audited model), the
LightGBM training frame, and LightGBM scoring through the audit's own model adapter."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from auditor.errors import SpecError
from auditor.lda.learners import Learner
from auditor.lda.split import training_of
from auditor.models.lightgbm_adapter import load_booster
from auditor.spec import AuditSpec, LightGBMTraining, TorchTraining

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


def base_model(spec: AuditSpec) -> Learner:
    """The learner of ``training.model``: given settings, or those of the audited model
    (a LightGBM booster's parameters and rounds, a torch module's architecture, a clone of
    a scikit-learn estimator's parameters)."""
    training = training_of(spec)
    model = training.model
    if model == "as_audited":
        return _as_audited(spec)
    if isinstance(model, LightGBMTraining):
        return Learner("lightgbm", "training.model", dict(model.params), rounds=model.rounds)
    if isinstance(model, TorchTraining):
        return _torch_learner(spec, model, model.module, dict(model.init), "training.model")
    return Learner("sklearn", "training.model", dict(model.params), estimator=model.estimator)


def _as_audited(spec: AuditSpec) -> Learner:
    # checked here, not when the spec loads: an audit never reads training.model, and
    # changing the audited model must not stop the audit itself
    training = training_of(spec)
    if spec.model is None:
        raise SpecError(
            f"{spec.source}: training.model: 'as_audited' refits the audited model, and this "
            "spec has none; give training.model: {kind: lightgbm | torch | sklearn, ...}"
        )
    path = spec.resolve(spec.model.path)
    if spec.model.kind == "lightgbm":
        booster = load_booster(path)
        params = {k: v for k, v in booster.params.items() if k not in _NOT_INHERITED}
        return Learner(
            "lightgbm",
            f"as_audited ({path.name})",
            params,
            rounds=max(1, booster.current_iteration()),
        )
    if spec.model.kind == "torch":
        if not spec.model.module:
            raise SpecError(
                f"{spec.source}: training.model: 'as_audited' retrains a torch model from its "
                "architecture, which a TorchScript file does not name; give model.module "
                "(a state dict's class) or training.model: {kind: torch, module: ...}"
            )
        loop = training.torch_loop or TorchTraining()
        learner = _torch_learner(
            spec, loop, spec.model.module, dict(spec.model.init), f"as_audited ({path.name})"
        )
        return replace(learner, output=spec.model.output)
    # scikit-learn: loaded under the audit's own rules (skops trust list, model.trusted for
    # pickle/joblib, refused for web uploads), then only its parameters are kept
    from sklearn.base import clone

    from auditor.models.loading import load_model

    adapter = load_model(spec)
    estimator = getattr(adapter, "model", None)
    if estimator is None or not hasattr(estimator, "get_params"):
        raise SpecError(
            f"{spec.source}: training.model: 'as_audited' clones a scikit-learn estimator; "
            f"{path.name} holds none"
        )
    return Learner(
        "sklearn",
        f"as_audited ({path.name})",
        {},
        template=clone(estimator),
        trusted=spec.model.trusted,
    )


def _torch_learner(
    spec: AuditSpec, loop: TorchTraining, module: str, init: dict[str, Any], source: str
) -> Learner:
    from auditor.models.allowed_code import check_module_allowed

    # the operator allows model code, never the spec (imports nothing yet)
    check_module_allowed(module, code_allowed=spec.code_allowed, extra=spec.operator_modules)
    if module == "auditor.models.mlp:TabularMLP" and not init:
        init = {"hidden": [32, 16]}
    return Learner(
        "torch",
        source,
        {
            "epochs": loop.epochs,
            "batch_size": loop.batch_size,
            "learning_rate": loop.learning_rate,
            "weight_decay": loop.weight_decay,
        },
        module=module,
        init={k: v for k, v in init.items() if k != loop.features_key},
        features_key=loop.features_key,
        operator_modules=spec.operator_modules,
        code_allowed=spec.code_allowed,
    )


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
