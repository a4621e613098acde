"""The explainer contract and the attribution result every method returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from auditor.errors import ExplainError
from auditor.models.base import ModelAdapter


@dataclass(frozen=True)
class AttributionSet:
    """Per-row feature attributions and what they explain.

    ``values[i].sum() + base_values[i]`` reproduces the explained model output of row i,
    up to ``additivity_error`` (the largest absolute gap actually measured).
    """

    method: str
    values: np.ndarray
    base_values: np.ndarray
    feature_names: tuple[str, ...]
    output_space: str
    additivity_error: float
    row_index: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    # which implementation computed the values, and why a slower one was used if so
    engine: str = ""
    fallback_reason: str | None = None

    @property
    def base_value(self) -> float:
        """Mean base value (constant for tree SHAP and integrated gradients)."""
        return float(np.mean(self.base_values))


class Explainer(Protocol):
    """One attribution method. ``supports`` says which adapters it can explain.

    ``additive`` is a claim the conformance suite holds every registered method to
    (tests/conformance/test_explainers.py): True means ``values.sum(1) + base`` reproduces
    the model output within ``default_tolerance`` on every model the method supports.
    Approximations whose gap is only measured (a surrogate, a first-order expansion)
    declare False. ``signed`` says whether a value's sign says which way the feature moved
    the output (saliency is a magnitude); the explanation-quality curves order by it.
    """

    name: str
    default_tolerance: float
    additive: bool
    signed: bool

    def supports(self, model: ModelAdapter) -> bool:
        """Whether this method can explain ``model``."""
        ...

    def explain(
        self, model: ModelAdapter, x: np.ndarray, *, background: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Return (values n×p, base values n, params recorded with the result)."""
        ...


_REGISTRY: dict[str, Callable[[], Explainer]] = {}


def register(name: str) -> Callable[[Callable[[], Explainer]], Callable[[], Explainer]]:
    """Class decorator adding an explainer factory under ``name``."""

    def deco(factory: Callable[[], Explainer]) -> Callable[[], Explainer]:
        _REGISTRY[name] = factory
        return factory

    return deco


def get_explainer(name: str) -> Explainer:
    """The explainer called ``name``; unknown names list the available ones."""
    if name not in _REGISTRY:
        raise ExplainError(
            f"Unknown explanation method '{name}'. Available: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]()


def uses_background(explainer: Explainer) -> bool:
    """Whether ``explainer`` reads the background rows it is given (``uses_background``,
    default True): the engines read them back from their source only for those that do,
    and pass an empty matrix to the others."""
    return bool(getattr(explainer, "uses_background", True))


def device_args(explainer: Explainer, device: str) -> dict[str, str]:
    """``{"device": device}`` for the methods that choose a device (``uses_device``:
    tree SHAP, integrated gradients), nothing for the others, which always run on the CPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise ExplainError(f"device must be auto, cpu or cuda, not {device!r}")
    return {"device": device} if getattr(explainer, "uses_device", False) else {}


def explainer_names() -> list[str]:
    """Registered method names."""
    return sorted(_REGISTRY)


# Preference order when the spec says method: auto.
AUTO_ORDER = ("tree_shap", "integrated_gradients", "permutation_shap")
