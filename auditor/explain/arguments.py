"""What notebook users pass to ``auditor.explain``, turned into an adapter and a frame.

The spec path checks a model against ``columns.features``; a Python caller has no spec,
so everything here speaks of the arguments (``model``, ``x``, ``feature_names``). The
feature names come from, in order: ``feature_names``, the columns of a DataFrame ``x``,
the model's own names (LightGBM ``feature_name()``, scikit-learn ``feature_names_in_``,
a torch module's ``feature_names``), else ``x0, x1, …``. A model trained on a bare array
(LightGBM's ``Column_i`` names, or no ``feature_names_in_``) takes its inputs by
position, so it accepts any names of the right count; a model with real names gets the
frame's columns in its own order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import ExplainError, ModelLoadError
from auditor.models.base import ModelAdapter
from auditor.models.checks import auto_named


def model_feature_names(model: Any) -> list[str] | None:
    """The names a fitted model carries (None: it was trained without names)."""
    booster = _booster(model)
    if booster is not None:
        names = [str(n) for n in booster.feature_name()]
        return None if auto_named(names) else names
    names_in = getattr(model, "feature_names_in_", None)  # a Pipeline forwards its first step's
    if names_in is None and _is_torch_module(model):
        stored = getattr(model, "feature_names", None)  # what a saved auditor model carries
        if isinstance(stored, list | tuple) and all(isinstance(n, str) for n in stored):
            names_in = stored
    return None if names_in is None else [str(n) for n in names_in]


def model_feature_count(model: Any) -> int | None:
    """How many inputs a fitted model takes, when it says."""
    booster = _booster(model)
    if booster is not None:
        return int(booster.num_feature())
    count = getattr(model, "n_features_in_", None)
    return None if count is None else int(count)


def prepare(
    model: Any, x: Any, feature_names: Sequence[str] | None
) -> tuple[ModelAdapter, pd.DataFrame]:
    """The adapter for ``model`` and ``x`` as a frame in the model's feature order."""
    from auditor.models import wrap_model

    _check_fitted(model)
    frame = _as_frame(x, feature_names, model)
    own = model_feature_names(model)
    count = model_feature_count(model)
    if count is not None and frame.shape[1] != count:
        raise ExplainError(
            f"x has {frame.shape[1]} column(s) but the model was trained on {count} "
            "feature(s); pass x with the same columns the model was fitted on."
        )
    if own is not None:
        frame = _in_model_order(frame, own, by_argument=feature_names is not None)
        return wrap_model(model, own), frame
    names = [str(c) for c in frame.columns]
    if _booster(model) is not None:
        # trained on an array: LightGBM calls the inputs Column_i and takes them by position
        booster = _booster(model)
        adapter = wrap_model(booster, [str(n) for n in booster.feature_name()])
        _rename_inputs(adapter, names)
        return adapter, frame
    return wrap_model(model, names), frame


def _is_torch_module(model: Any) -> bool:
    return any(c.__module__.startswith("torch.") for c in type(model).__mro__)


def _booster(model: Any) -> Any:
    """The LightGBM Booster of a Booster or a fitted LGBMModel (None: not LightGBM)."""
    if type(model).__module__.split(".")[0] != "lightgbm":
        return None
    if hasattr(model, "feature_name") and hasattr(model, "dump_model"):
        return model
    # booster_ raises LGBMNotFittedError (an AttributeError) before fit: None then
    return getattr(model, "booster_", None)


def _check_fitted(model: Any) -> None:
    """A clear message for an estimator that was never fitted (before it fails deep inside)."""
    kind = type(model).__module__.split(".")[0]
    unfitted = False
    if kind == "lightgbm" and not hasattr(model, "dump_model"):
        unfitted = getattr(model, "booster_", None) is None
    elif hasattr(model, "fit") and hasattr(model, "get_params"):
        try:
            from sklearn.exceptions import NotFittedError
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(model)
        except NotFittedError:
            unfitted = True
        except (TypeError, ImportError):  # not a scikit-learn estimator after all
            pass
    if unfitted:
        raise ModelLoadError(
            f"model: the {type(model).__name__} is not fitted; call fit() before explaining it."
        )


def _as_frame(x: Any, feature_names: Sequence[str] | None, model: Any) -> pd.DataFrame:
    if isinstance(x, pd.DataFrame):
        if feature_names is not None and list(feature_names) != [str(c) for c in x.columns]:
            raise ExplainError(
                "feature_names: give it only with an array x; a DataFrame's columns are "
                f"its names (x has {[str(c) for c in x.columns]})."
            )
        return x
    if isinstance(x, pd.Series):
        raise ExplainError("x: a Series is one column; pass a DataFrame or a 2-D array.")
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ExplainError(
            f"x must be 2-D (rows × features); got an array of shape {arr.shape}. "
            "For one row use x.reshape(1, -1)."
        )
    if arr.shape[0] == 0:
        raise ExplainError("x has no rows.")
    if feature_names is not None:
        names = [str(n) for n in feature_names]
        if len(names) != arr.shape[1]:
            raise ExplainError(
                f"feature_names has {len(names)} name(s) but x has {arr.shape[1]} column(s)."
            )
        if len(set(names)) != len(names):
            raise ExplainError(f"feature_names repeats a name: {names}.")
    else:
        own = model_feature_names(model)
        booster = _booster(model)
        if own is not None and len(own) == arr.shape[1]:
            names = own
        elif booster is not None and own is None and booster.num_feature() == arr.shape[1]:
            names = [str(n) for n in booster.feature_name()]
        else:
            names = [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=names)


def _in_model_order(frame: pd.DataFrame, own: list[str], *, by_argument: bool) -> pd.DataFrame:
    given = [str(c) for c in frame.columns]
    if given == own:
        return frame
    missing = [n for n in own if n not in given]
    extra = [n for n in given if n not in own]
    source = "feature_names" if by_argument else "the columns of x"
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing from {source}: {missing}")
        if extra:
            problems.append(f"in {source} but not a feature of the model: {extra}")
        raise ExplainError(
            f"model: {source} do not match the model's own feature names {own}.",
            problems=problems,
        )
    # same names, another order: the model's names say which input is which
    return frame[own]


def _rename_inputs(adapter: Any, names: list[str]) -> None:
    """Give a positionally trained LightGBM adapter the caller's names (categories too)."""
    old = list(adapter.feature_names)
    adapter.feature_names = tuple(names)
    adapter.categories = {names[old.index(k)]: v for k, v in adapter.categories.items() if k in old}
