"""Pick the adapter for a spec's model, or for a Python object handed to the API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from auditor.errors import ModelLoadError
from auditor.models._encoding import check_feature_names
from auditor.models.base import ModelAdapter
from auditor.models.checks import auto_named, unchecked_note

if TYPE_CHECKING:  # models sit below the spec: it names them, they never read it at import
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

        lgb_adapter = LightGBMAdapter.load(path)
        _check_names(lgb_adapter, list(lgb_adapter.feature_names), features, str(path))
        adapter = lgb_adapter
    elif spec.model.kind == "torch":
        if spec.model.module:
            from auditor.models.allowed_code import check_module_allowed

            # before torch (or anything else) is imported
            check_module_allowed(
                spec.model.module, code_allowed=spec.code_allowed, extra=spec.operator_modules
            )
        from auditor.models.torch_adapter import TorchAdapter

        torch_adapter = TorchAdapter.load(
            path,
            spec.model,
            features,
            code_allowed=spec.code_allowed,
            allowed_modules=spec.operator_modules,
        )
        _check_names(torch_adapter, torch_adapter.model_feature_names, features, str(path))
        adapter = torch_adapter
    else:
        if spec.model.trusted and not spec.code_allowed:
            raise ModelLoadError(
                f"model.trusted: refused for {path}: a spec uploaded through the web "
                "workspace cannot load pickle/joblib or untrusted skops types; save the "
                "model with skops (default types) or as LightGBM text."
            )
        from auditor.models.sklearn_adapter import load_sklearn

        adapter = load_sklearn(
            path,
            trusted=spec.model.trusted,
            feature_names=features,
            favorable=spec.favorable,
            explicit="favorable" in spec.model_fields_set,
        )
        estimator = getattr(adapter, "model", None)
        names = getattr(estimator, "feature_names_in_", None)
        count = getattr(estimator, "n_features_in_", None)
        if names is None and count is not None and int(count) != len(features):
            raise ModelLoadError(
                f"{path}: the model was fitted on {int(count)} feature(s); columns.features "
                f"lists {len(features)}: {list(features)}."
            )
        _check_names(adapter, None if names is None else list(names), features, str(path))
    return adapter


def _check_names(
    adapter: Any, names: Sequence[str] | None, features: tuple[str, ...], source: str
) -> None:
    """Check the spec's features against the model's own names, or note that it could not.

    The note (``adapter.feature_check``) goes into ``dataset.model_input`` and the audit's
    warnings; LightGBM's generated ``Column_i`` names count as no names.
    """
    if names is None or auto_named(names):
        if names is not None and len(names) != len(features):
            check_feature_names(names, features, source)  # a count mismatch: say so
        adapter.feature_check = unchecked_note(adapter.kind)
        return
    check_feature_names(names, features, source)
    adapter.feature_check = None


def wrap_model(
    model: Any, feature_names: Sequence[str], *, favorable: object | None = None
) -> ModelAdapter:
    """Adapter for a LightGBM Booster/LGBMModel, a torch module or a predict function.

    ``favorable``: the class of a scikit-learn classifier whose probability is explained;
    it must be one of ``classes_``. Left out, a two-class model explains its second class
    (scikit-learn's positive class) and a model with more classes is refused.
    """
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

        classes = list(getattr(model, "classes_", [0, 1]))
        if favorable is None and len(classes) <= 2:
            return sklearn_adapter(model, names, favorable=classes[-1])
        return sklearn_adapter(model, names, favorable=favorable, explicit=favorable is not None)
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
