"""The refit hook: one learner per model kind (LightGBM, torch, scikit-learn) that trains a
candidate, scores it through the audit's own model adapter, and saves it in a file that
``auditor audit`` loads under its usual rules.

A :class:`Learner` is plain data (picklable): the search sends it to worker processes.
Every fit is a pure function of the learner, the candidate's inputs and the seed, so the
result does not depend on which worker ran it or how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.errors import SpecError
from auditor.models.lightgbm_adapter import LightGBMAdapter

LearnerKind = Literal["lightgbm", "torch", "sklearn"]

# scikit-learn estimators a spec may name (kind: sklearn): a fixed list, no import by name
SKLEARN_ESTIMATORS = {
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression"),
    "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingClassifier"),
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier"),
    "decision_tree": ("sklearn.tree", "DecisionTreeClassifier"),
}


@dataclass(frozen=True)
class Learner:
    """How every candidate of one search is trained.

    ``params``: LightGBM parameters, scikit-learn estimator parameters, or the torch
    loop's settings (``epochs``, ``batch_size``, ``learning_rate``, ``weight_decay``);
    ``rounds``: LightGBM boosting rounds; ``template``: the unfitted clone of an audited
    scikit-learn estimator (``as_audited``); ``module``/``init``: the torch architecture.
    """

    kind: LearnerKind
    source: str
    params: dict[str, Any]
    rounds: int = 0
    estimator: str | None = None
    template: Any = None
    module: str | None = None
    init: dict[str, Any] = field(default_factory=dict)
    features_key: str = "n_features"
    output: Literal["logit", "probability"] = "logit"
    operator_modules: tuple[str, ...] = ()
    code_allowed: bool = True
    trusted: bool = False  # the audited sklearn model was loaded with model.trusted

    @property
    def monotone(self) -> bool:
        """Whether the learner takes monotone constraints (LightGBM; scikit-learn's
        HistGradientBoostingClassifier). A torch MLP and the other estimators do not."""
        return self.kind == "lightgbm" or (
            self.kind == "sklearn" and self._estimator_name() == "HistGradientBoostingClassifier"
        )

    @property
    def native_bins(self) -> bool:
        """LightGBM coarsens a feature itself (``max_bin_by_feature``); the others are
        given the binned values (the binning is part of the candidate's pipeline)."""
        return self.kind == "lightgbm"

    def describe(self) -> dict[str, Any]:
        """Plain data for the record."""
        out: dict[str, Any] = {"kind": self.kind, "source": self.source, "params": self.params}
        if self.kind == "lightgbm":
            out["rounds"] = self.rounds
        if self.kind == "torch":
            out |= {"module": self.module, "init": self.init}
        if self.kind == "sklearn":
            out["estimator"] = self._estimator_name()
        return out

    def _estimator_name(self) -> str:
        if self.template is not None:
            return type(self.template).__name__
        return SKLEARN_ESTIMATORS.get(self.estimator or "", ("", ""))[1]


def check_numeric(learner: Learner, frame: pd.DataFrame, features: list[str], path: Path) -> None:
    """Torch and scikit-learn candidates take numbers only: name each text column."""
    if learner.kind == "lightgbm":
        return
    text = [
        f
        for f in features
        if not (pd.api.types.is_numeric_dtype(frame[f]) or pd.api.types.is_bool_dtype(frame[f]))
    ]
    if text:
        raise SpecError(
            f"{path}: training.model: a {learner.kind} candidate takes numeric features; "
            f"column(s) {text} hold text (encode them as numbers, or refit with kind: lightgbm)"
        )


def fit(
    learner: Learner,
    x: pd.DataFrame,
    y: np.ndarray,
    overrides: dict[str, Any],
    seed: int,
    weight: np.ndarray | None = None,
) -> Any:
    """Train one candidate (``overrides``: its parameter changes) and return the model."""
    if learner.kind == "lightgbm":
        return _fit_lightgbm(learner, x, y, overrides, seed, weight)
    if learner.kind == "torch":
        return _fit_torch(learner, x, y, overrides, seed, weight)
    return _fit_sklearn(learner, x, y, overrides, seed, weight)


def score(learner: Learner, model: Any, x: pd.DataFrame) -> np.ndarray:
    """Favourable-outcome probabilities through the adapter ``auditor audit`` uses."""
    if learner.kind == "lightgbm":
        return lgb_score(model, x)
    names = tuple(str(c) for c in x.columns)
    if learner.kind == "torch":
        from auditor.models.torch_adapter import TorchAdapter

        adapter = TorchAdapter(model, names, output=learner.output)
        with _one_thread():
            return adapter.score(adapter.encode(x))
    from threadpoolctl import threadpool_limits

    from auditor.models.sklearn_adapter import sklearn_adapter

    sk = sklearn_adapter(model, names, favorable=1)
    with threadpool_limits(1):  # OpenMP/BLAS spin-waits badly on two shared cores
        return sk.score(sk.encode(x))


def save(
    learner: Learner, model: Any, stem: Path, features: list[str]
) -> tuple[Path, dict[str, Any]]:
    """Write the model beside ``stem`` and return its path and the audit spec's ``model:``
    section (relative path filled in by the caller)."""
    if learner.kind == "lightgbm":
        path = stem.with_suffix(".txt")
        model.save_model(str(path))
        return path, {"kind": "lightgbm"}
    if learner.kind == "torch":
        import torch

        path = stem.with_suffix(".pt")
        # a checkpoint the audit reads with weights_only=True, feature names inside
        torch.save({"state_dict": model.state_dict(), "feature_names": list(features)}, path)
        section: dict[str, Any] = {
            "kind": "torch",
            "module": learner.module,
            "init": torch_init(learner, len(features), {}),
        }
        if learner.output != "logit":
            section["output"] = learner.output
        return path, section
    import skops.io as sio

    path = stem.with_suffix(".skops")
    sio.dump(model, path)
    section = {"kind": "sklearn"}
    # scikit-learn's own tree types are outside skops's default trust list: this file was
    # written by the search (its SHA-256 is in the record), so its spec trusts them
    if sio.get_untrusted_types(file=path):
        section["trusted"] = True
    return path, section


def untrusted_types(path: Path) -> list[str]:
    """The types a saved skops file holds outside skops's default trust list."""
    if path.suffix != ".skops":
        return []
    import skops.io as sio

    return [str(t) for t in sio.get_untrusted_types(file=path)]


# --- LightGBM ----------------------------------------------------------------------------


def _fit_lightgbm(
    learner: Learner,
    x: pd.DataFrame,
    y: np.ndarray,
    overrides: dict[str, Any],
    seed: int,
    weight: np.ndarray | None,
) -> Any:
    params = {**run_params(learner.params, seed), **overrides}
    rounds = int(params.pop("rounds", learner.rounds))
    return fit_booster(x, y, params, rounds, weight)


# --- torch -------------------------------------------------------------------------------


class _one_thread:
    """torch on one thread while a candidate trains or scores: results do not depend on
    the thread count (CPU reductions), and two workers share two cores."""

    def __enter__(self) -> None:
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.before)


def torch_init(learner: Learner, n_features: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """The module's keyword arguments for ``n_features`` inputs and a candidate's
    architecture changes (``init.*`` overrides)."""
    init = {**learner.init, learner.features_key: n_features}
    for key, value in overrides.items():
        if key.startswith("init."):
            init[key.removeprefix("init.")] = value
    return init


def _fit_torch(
    learner: Learner,
    x: pd.DataFrame,
    y: np.ndarray,
    overrides: dict[str, Any],
    seed: int,
    weight: np.ndarray | None,
) -> Any:
    import torch

    from auditor.models.allowed_code import import_model_class

    assert learner.module is not None  # set by the learner's constructor
    klass = import_model_class(
        learner.module, code_allowed=learner.code_allowed, extra=learner.operator_modules
    )
    loop = {**learner.params, **{k: v for k, v in overrides.items() if not k.startswith("init.")}}
    with _one_thread():
        torch.manual_seed(seed)
        module = klass(**torch_init(learner, x.shape[1], overrides))
        xt = torch.as_tensor(x.to_numpy(np.float32))
        yt = torch.as_tensor(np.asarray(y, dtype=np.float32))
        wt = torch.as_tensor(
            np.ones(len(y), np.float32) if weight is None else weight.astype(np.float32)
        )
        # a module that stores its input scaling (TabularMLP) learns it from the fit rows
        mean, scale = getattr(module, "mean", None), getattr(module, "scale", None)
        shape = (x.shape[1],)
        if (
            isinstance(mean, torch.Tensor)
            and isinstance(scale, torch.Tensor)
            and mean.shape == shape
            and scale.shape == shape
        ):
            mean.copy_(xt.mean(0))
            scale.copy_(torch.clamp(xt.std(0), min=1e-6))
        opt = torch.optim.Adam(
            module.parameters(),
            lr=float(loop["learning_rate"]),
            weight_decay=float(loop["weight_decay"]),
        )
        gen = torch.Generator().manual_seed(seed)
        module.train()
        for _ in range(int(loop["epochs"])):
            for idx in torch.split(torch.randperm(len(xt), generator=gen), int(loop["batch_size"])):
                opt.zero_grad()
                out = module(xt[idx])
                out = out[:, 0] if out.ndim == 2 else out
                if learner.output == "probability":
                    loss = torch.nn.functional.binary_cross_entropy(
                        out.clamp(1e-7, 1 - 1e-7), yt[idx], reduction="none"
                    )
                else:
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        out, yt[idx], reduction="none"
                    )
                (loss * wt[idx]).sum().div(wt[idx].sum()).backward()  # type: ignore[no-untyped-call]
                opt.step()
        return module.eval()


# --- scikit-learn ------------------------------------------------------------------------


def _fit_sklearn(
    learner: Learner,
    x: pd.DataFrame,
    y: np.ndarray,
    overrides: dict[str, Any],
    seed: int,
    weight: np.ndarray | None,
) -> Any:
    from sklearn.base import clone

    if learner.template is not None:
        model = clone(learner.template)
    else:
        import importlib

        module, name = SKLEARN_ESTIMATORS[learner.estimator or ""]
        model = getattr(importlib.import_module(module), name)(**learner.params)
    settable = model.get_params()
    changes = {k: v for k, v in overrides.items() if k in settable}
    if "random_state" in settable:
        changes["random_state"] = seed
    if settable.get("n_jobs") not in (None, 1):
        changes["n_jobs"] = 1  # the search's workers are the parallelism
    model.set_params(**changes)
    from threadpoolctl import threadpool_limits

    # one OpenMP/BLAS thread per fit: the workers are the parallelism, and results do
    # not depend on the thread count
    with threadpool_limits(1):
        if weight is None:
            model.fit(x, y)
        else:
            model.fit(x, y, **_weight_kwarg(model, weight))
    return model


def _weight_kwarg(model: Any, weight: np.ndarray) -> dict[str, Any]:
    """``sample_weight`` for an estimator, or for a pipeline's last step."""
    steps = getattr(model, "steps", None)
    if steps:
        return {f"{steps[-1][0]}__sample_weight": weight}
    return {"sample_weight": weight}


def sklearn_variants(learner: Learner) -> list[dict[str, Any]]:
    """A small grid of parameter changes for the estimator's own parameters."""
    from sklearn.base import clone

    if learner.template is not None:
        params = clone(learner.template).get_params()
    else:
        import importlib

        module, name = SKLEARN_ESTIMATORS[learner.estimator or ""]
        params = getattr(importlib.import_module(module), name)(**learner.params).get_params()
    grid: list[dict[str, Any]] = []
    if isinstance(params.get("C"), int | float):
        grid += [{"C": params["C"] / 10}, {"C": params["C"] * 10}]
    if "max_depth" in params:
        grid += [{"max_depth": 3}, {"max_depth": 6}]
    if "min_samples_leaf" in params:
        grid += [{"min_samples_leaf": 50}]
    if isinstance(params.get("learning_rate"), int | float):
        grid += [{"learning_rate": params["learning_rate"] / 2}]
    if isinstance(params.get("l2_regularization"), int | float):
        grid += [{"l2_regularization": 1.0}]
    return grid


def variant_grid(learner: Learner) -> list[dict[str, Any]]:
    """The learner's small grid of hyperparameter changes (the search draws from it)."""
    p = learner.params
    if learner.kind == "lightgbm":
        leaves = int(p.get("num_leaves", 31))
        rate = float(p.get("learning_rate", 0.1))
        return [
            {"num_leaves": max(2, leaves // 2)},
            {"num_leaves": leaves * 2},
            {"min_data_in_leaf": int(p.get("min_data_in_leaf", 20)) * 3},
            {"learning_rate": rate / 2, "rounds": learner.rounds * 2},
            {"lambda_l2": 10.0},
            {"feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1},
        ]
    if learner.kind == "torch":
        grid: list[dict[str, Any]] = [
            {"weight_decay": 1e-3},
            {"weight_decay": 1e-2},
            {"epochs": max(1, int(p["epochs"]) // 2)},
            {"learning_rate": float(p["learning_rate"]) / 2},
        ]
        if "hidden" in learner.init:
            grid.append({"init.hidden": [16]})
        return grid
    return sklearn_variants(learner)


# --- LightGBM helpers ------------------------------------------------------------------


def run_params(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """LightGBM ``params`` with the search's run settings: one thread (two cores are shared
    by the parallel fits and OpenMP spin-waits badly under load), seeded, deterministic."""
    return {
        **params,
        "objective": params.get("objective", "binary"),
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 1,
    }


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


def lgb_score(booster: lgb.Booster, x: pd.DataFrame) -> np.ndarray:
    """Favourable-class probabilities through the audit's adapter (same encoding)."""
    adapter = LightGBMAdapter(booster)
    frame = x.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object)
    return adapter.score(adapter.encode(frame))
