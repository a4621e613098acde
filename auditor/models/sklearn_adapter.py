"""scikit-learn style models and plain predict functions (the model-agnostic path).

Models load from ``skops`` files (only types skops trusts, unless the spec says
``trusted: true``), or from pickle/joblib files only with ``trusted: true``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import ModelLoadError
from auditor.models.base import OutputSpace

_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib"}


class PredictFunctionAdapter:
    """Wrap ``predict(frame) -> probability of the favourable outcome``.

    Categorical columns are coded as integers for explainers and decoded back to their
    values before the model sees them, so the model always receives the original frame.
    """

    kind = "callable"
    output_space: OutputSpace = "probability"

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], Any],
        feature_names: tuple[str, ...],
        *,
        source: str = "<predict function>",
    ) -> None:
        self.predict = predict
        self.feature_names = feature_names
        self.source = source
        self.categories: dict[str, list[object]] = {}
        self.model: Any = None  # the estimator behind ``predict``, when there is one
        self.feature_check: str | None = None  # set by load_model (see models/checks.py)

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """Codes for text columns (categories learned from these data), numbers as is."""
        out = np.empty(features.shape, dtype=np.float64)
        for j, name in enumerate(features.columns):
            col = features[name]
            if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            cats = self.categories.setdefault(name, sorted(col.dropna().astype(str).unique()))
            codes = pd.Index(cats).get_indexer(pd.Index(col.astype("string").fillna("\0")))
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        return out

    def decode(self, x: np.ndarray) -> pd.DataFrame:
        """The frame the model expects, from a (possibly perturbed) numeric matrix."""
        frame = pd.DataFrame(x, columns=list(self.feature_names))
        for name, cats in self.categories.items():
            codes = frame[name].to_numpy()
            valid = ~np.isnan(codes)
            values = np.full(len(codes), None, dtype=object)
            values[valid] = np.asarray(cats, dtype=object)[codes[valid].astype(int)]
            frame[name] = values
        return frame

    def output(self, x: np.ndarray) -> np.ndarray:
        """Probability of the favourable outcome (what permutation SHAP explains)."""
        try:
            raw = self.predict(self.decode(x))
        except Exception as exc:  # user code: report any failure as a model problem
            raise ModelLoadError(f"{self.source}: prediction failed ({exc}).") from None
        out = np.asarray(raw, dtype=np.float64)
        if out.ndim == 2:
            out = out[:, -1]
        if out.shape != (len(x),):
            raise ModelLoadError(
                f"{self.source}: predict returned shape {out.shape}; expected ({len(x)},)."
            )
        return out

    def score(self, x: np.ndarray) -> np.ndarray:
        """Same as :meth:`output`: the function returns probabilities."""
        return self.output(x)


def favorable_column(
    classes: list[Any], favorable: object, *, explicit: bool = True, source: str = "<model>"
) -> int:
    """The ``predict_proba`` column of the favourable class, or a ModelLoadError.

    A class is matched by value (``1`` matches ``1.0`` and ``np.int64(1)``), else by its
    text (a spec's ``"1"`` matches the class ``1``). Auditing some other class would
    silently audit the wrong outcome (a ``promoted``/``stayed`` model audited as
    P(stayed)), so a favourable value that is no class stops the audit. A model with
    more than two classes has no natural "other" class: the spec must name the
    favourable one (``explicit``) and the audit is P(that class) against all the others.
    """
    shown = ", ".join(repr(c.item() if isinstance(c, np.generic) else c) for c in classes)
    if len(classes) > 2 and not explicit:
        raise ModelLoadError(
            f"{source}: the model has {len(classes)} classes ({shown}); name the favourable "
            "one with 'favorable:' in the spec (the audit is then that class against all "
            "the others)."
        )
    matches = [i for i, c in enumerate(classes) if _same(c, favorable)]
    if not matches:
        matches = [i for i, c in enumerate(classes) if str(c) == str(favorable)]
    if len(matches) != 1:
        raise ModelLoadError(
            f"{source}: the favourable value {favorable!r} is not one of the model's classes "
            f"({shown}); set 'favorable:' to the class the audit should treat as favourable."
        )
    return matches[0]


def _same(a: object, b: object) -> bool:
    try:
        return bool(a == b) and isinstance(a, str) == isinstance(b, str)
    except (TypeError, ValueError):  # comparisons numpy cannot make
        return False


def sklearn_adapter(
    model: Any,
    feature_names: tuple[str, ...],
    *,
    favorable: object = 1,
    explicit: bool = True,
    source: str = "<model>",
) -> PredictFunctionAdapter:
    """Adapter for an estimator with ``predict_proba`` (or ``decision_function``).

    ``favorable`` must be one of the estimator's ``classes_`` (see
    :func:`favorable_column`); ``explicit``: whether the caller named it (required for
    more than two classes).
    """
    classes = list(getattr(model, "classes_", [0, 1]))
    col = favorable_column(classes, favorable, explicit=explicit, source=source)
    # an estimator fitted on an array gets an array (a frame would warn on every call)
    by_name = hasattr(model, "feature_names_in_")

    def inputs(frame: pd.DataFrame) -> Any:
        return frame if by_name else frame.to_numpy()

    if hasattr(model, "predict_proba"):

        def predict(frame: pd.DataFrame) -> Any:
            return model.predict_proba(inputs(frame))[:, col]
    elif hasattr(model, "predict"):
        chosen = classes[col]

        def predict(frame: pd.DataFrame) -> Any:
            # predicted labels, not probabilities: 1 where the favourable class is predicted
            return (np.asarray(model.predict(inputs(frame))) == chosen).astype(np.float64)
    else:
        raise ModelLoadError(f"{source}: the object has no predict_proba or predict method.")
    adapter = PredictFunctionAdapter(predict, feature_names, source=source)
    adapter.kind = "sklearn"
    adapter.model = model  # lets load_model check feature_names_in_ against the spec
    return adapter


def load_sklearn(
    path: Path,
    *,
    trusted: bool,
    feature_names: tuple[str, ...],
    favorable: object,
    explicit: bool = True,
) -> PredictFunctionAdapter:
    """Load a skops file, or a pickle/joblib file when the spec trusts it."""
    if not path.is_file():
        raise ModelLoadError(f"Model file not found: {path}")
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        if not trusted:
            raise ModelLoadError(
                f"{path}: refusing to load a pickle/joblib file, which can run arbitrary code. "
                "Save the model with skops, or set model.trusted: true if you trust its origin."
            )
        model = _load_pickle(path)
    else:
        model = _load_skops(path, trusted=trusted)
    return sklearn_adapter(
        model, feature_names, favorable=favorable, explicit=explicit, source=str(path)
    )


def _load_pickle(path: Path) -> Any:
    try:
        if path.suffix.lower() == ".joblib":
            import joblib  # type: ignore[import-untyped]

            return joblib.load(path)
        with path.open("rb") as fh:
            return pickle.load(fh)
    except Exception as exc:  # unpickling raises anything
        raise ModelLoadError(f"{path}: cannot unpickle the model ({exc}).") from None


def _load_skops(path: Path, *, trusted: bool) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # corrupt zip, not a skops file
        raise ModelLoadError(f"{path}: not a readable skops model file ({exc}).") from None
    if untrusted and not trusted:
        raise ModelLoadError(
            f"{path}: the skops file contains types skops does not trust by default: "
            f"{', '.join(untrusted)}. Review them and set model.trusted: true to load."
        )
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot load the skops model ({exc}).") from None
