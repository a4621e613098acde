"""Interventional TreeSHAP of LightGBM models against a background set of rows.

The baseline is explicit: each value answers "how much does this feature move the raw
score from the background rows' average output", which is what per-decision reasons
against a chosen reference group (e.g. applicants just above the cut-off) need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import ExplainError
from auditor.explain.base import AttributionSet
from auditor.explain.fast_tree_shap import TreeShapEngine, UnsupportedModel
from auditor.explain.tree_shap import ALGORITHM, FAST_ENGINE, engine_for


def interventional_tree_shap(
    model: Any,
    x: pd.DataFrame | np.ndarray,
    background: pd.DataFrame | np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    threads: int | None = None,
) -> AttributionSet:
    """Exact interventional SHAP values of ``x`` against ``background``.

    Parameters
    ----------
    model
        A LightGBM ``Booster`` or ``LGBMModel``, auditor's LightGBM adapter, a
        ``Booster.dump_model()`` dict or the path of a JSON file holding one.
    x, background
        Rows to explain and the reference rows, as DataFrames in the model's feature
        order (categorical columns are encoded like the audit does) or numeric arrays.
    threads
        Worker threads (default: ``AUDITOR_THREADS`` or every core).

    Returns
    -------
    AttributionSet
        ``method="tree_shap"``, ``params["feature_perturbation"] == "interventional"``;
        ``values`` is n x F (n x K x F for K-class models), ``base_values`` the mean raw
        output over the background (n, or n x K), ``additivity_error`` the largest
        measured gap between ``values.sum(-1) + base_values`` and the raw score.
        Models the fast engine does not support go to shap's interventional
        ``TreeExplainer``; ``params["fallback_reason"]`` then says why.
    """
    booster, adapter = _booster_and_adapter(model)
    xm = _matrix(x, adapter, "x")
    bm = _matrix(background, adapter, "background")
    if len(bm) == 0:
        raise ExplainError("interventional TreeSHAP needs at least one background row.")
    engine = (
        engine_for(booster, getattr(adapter, "digest", None), getattr(adapter, "text", None))
        if booster is not None
        else _engine(model)
    )
    params: dict[str, Any] = {"feature_perturbation": "interventional"}
    params["background_rows"] = len(bm)
    if isinstance(engine, TreeShapEngine):
        contrib = engine.interventional(xm, bm, threads=threads)
        k, nf = engine.model.num_class, engine.model.num_features
        params.update(engine=FAST_ENGINE, algorithm=ALGORITHM, fallback_reason=None)
        names = tuple(feature_names or engine.model.feature_names)
    elif booster is not None:
        import shap

        explainer = shap.TreeExplainer(booster, data=bm, feature_perturbation="interventional")
        sv = np.asarray(explainer.shap_values(xm), dtype=np.float64)
        k, nf = int(np.size(explainer.expected_value)), xm.shape[1]
        sv = sv.reshape(len(xm), nf, k).transpose(0, 2, 1) if k > 1 else sv[:, None, :]
        base = np.broadcast_to(np.asarray(explainer.expected_value), (len(xm), k))
        contrib = np.concatenate([sv, base[:, :, None]], axis=2).reshape(len(xm), -1)
        params.update(engine="shap.TreeExplainer", fallback_reason=engine)
        names = tuple(feature_names or booster.feature_name())
    else:
        raise ExplainError(f"interventional TreeSHAP: {engine}")
    blocks = contrib.reshape(len(xm), k, nf + 1)
    values, base = blocks[:, :, :-1], blocks[:, :, -1]
    raw = (
        np.asarray(booster.predict(xm, raw_score=True), dtype=np.float64).reshape(len(xm), k)
        if booster is not None
        else _raw_from_path_dependent(engine, xm, k, nf)
    )
    error = float(np.max(np.abs(values.sum(axis=2) + base - raw), initial=0.0))
    return AttributionSet(
        method="tree_shap",
        values=values[:, 0, :] if k == 1 else values,
        base_values=base[:, 0] if k == 1 else base,
        feature_names=names,
        output_space=_output_space(engine, booster),
        additivity_error=error,
        row_index=np.arange(len(xm)),
        params=params,
        engine=str(params["engine"]),
        fallback_reason=params["fallback_reason"],
    )


def _booster_and_adapter(model: Any) -> tuple[Any, Any]:
    """(Booster or None, LightGBM adapter or None) for the accepted model forms."""
    from auditor.models.lightgbm_adapter import LightGBMAdapter

    if isinstance(model, LightGBMAdapter):
        return model.booster, model
    booster = getattr(model, "booster_", model)
    if not hasattr(booster, "dump_model"):
        return None, None
    try:
        return booster, LightGBMAdapter(booster)
    except Exception:  # multiclass boosters: no audit adapter, arrays are used as given
        return booster, None


def _engine(model: Any) -> TreeShapEngine | str:
    try:
        return TreeShapEngine.from_model(model)
    except UnsupportedModel as exc:
        return f"the fast TreeSHAP engine does not support {exc}"
    except (ValueError, KeyError, TypeError) as exc:
        raise ExplainError(f"interventional TreeSHAP: cannot read the model ({exc}).") from None


def _matrix(data: Any, adapter: Any, what: str) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        if adapter is not None:
            return np.asarray(adapter.encode(data), dtype=np.float64)
        return data.to_numpy(dtype=np.float64)
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise ExplainError(f"interventional TreeSHAP: {what} must be a 2-D table of rows.")
    return arr


def _raw_from_path_dependent(engine: Any, xm: np.ndarray, k: int, nf: int) -> np.ndarray:
    """Raw scores without a Booster: path-dependent contributions sum to them exactly."""
    contrib: np.ndarray = engine.path_dependent(xm)
    raw: np.ndarray = contrib.reshape(len(xm), k, nf + 1).sum(axis=2)
    return raw


def _output_space(engine: Any, booster: Any) -> Any:
    objective = (
        engine.model.objective
        if isinstance(engine, TreeShapEngine)
        else str(booster.dump_model().get("objective", "")).split(" ")[0]
    )
    return "log-odds" if objective.startswith(("binary", "cross_entropy", "xentropy")) else "raw"
