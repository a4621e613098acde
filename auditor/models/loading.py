"""Pick the adapter for a spec's model, or for a Python object handed to the API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from auditor.errors import ModelLoadError
from auditor.models._encoding import check_feature_names
from auditor.models.base import ModelAdapter
from auditor.spec import AuditSpec


def load_model(spec: AuditSpec) -> ModelAdapter | None:
    """Load the spec's model and check it against the spec's features (None: no model)."""
    if spec.model is None:
        return None
    path = spec.resolve(spec.model.path)
    features = tuple(spec.columns.features)
    adapter: ModelAdapter
    if spec.model.kind == "lightgbm":
        from auditor.models.lightgbm_adapter import LightGBMAdapter

        adapter = LightGBMAdapter.load(path)
        check_feature_names(adapter.feature_names, features, str(path))
    elif spec.model.kind == "torch":
        if spec.model.module:
            from auditor.models.allowed_code import check_module_allowed

            # before torch (or anything else) is imported
            check_module_allowed(spec.model.module, code_allowed=spec.code_allowed)
        from auditor.models.torch_adapter import TorchAdapter

        adapter = TorchAdapter.load(path, spec.model, features, code_allowed=spec.code_allowed)
    else:
        if spec.model.trusted and not spec.code_allowed:
            raise ModelLoadError(
                f"model.trusted: refused for {path}: a spec uploaded through the web "
                "workspace cannot load pickle/joblib or untrusted skops types; save the "
                "model with skops (default types) or as LightGBM text."
            )
        from auditor.models.sklearn_adapter import load_sklearn

        adapter = load_sklearn(
            path, trusted=spec.model.trusted, feature_names=features, favorable=spec.favorable
        )
        names = getattr(getattr(adapter, "model", None), "feature_names_in_", None)
        if names is not None:
            check_feature_names(list(names), features, str(path))
    return adapter


def wrap_model(model: Any, feature_names: Sequence[str]) -> ModelAdapter:
    """Adapter for a LightGBM Booster/LGBMModel, a torch module or a predict function."""
    names = tuple(str(n) for n in feature_names)
    kind = type(model).__module__.split(".")[0]
    if kind == "lightgbm":
        from auditor.models.lightgbm_adapter import LightGBMAdapter

        booster = getattr(model, "booster_", model)
        lgb_adapter = LightGBMAdapter(booster)
        check_feature_names(lgb_adapter.feature_names, names, "model")
        return lgb_adapter
    if kind == "torch" or _is_torch_module(model):
        from auditor.models.torch_adapter import TorchAdapter

        return TorchAdapter(model, names)
    if hasattr(model, "predict_proba"):
        from auditor.models.sklearn_adapter import sklearn_adapter

        return sklearn_adapter(model, names)
    if callable(model):
        from auditor.models.sklearn_adapter import PredictFunctionAdapter

        fn: Callable[..., Any] = model
        return PredictFunctionAdapter(fn, names)
    raise ModelLoadError(
        f"Cannot explain a {type(model).__name__}: pass a LightGBM Booster or LGBMModel, a "
        "torch.nn.Module, an estimator with predict_proba, or a predict function."
    )


def _is_torch_module(model: Any) -> bool:
    return any(c.__module__.startswith("torch.") for c in type(model).__mro__)
