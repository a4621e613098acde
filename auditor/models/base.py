"""The model-adapter contract every model library implements."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from auditor.errors import ExplainError

OutputSpace = Literal["log-odds", "logit", "probability", "raw"]


@runtime_checkable
class ModelAdapter(Protocol):
    """A loaded model behind one interface.

    ``encode`` turns the feature frame into the numeric matrix the model (and every
    explainer) works on; categorical columns become integer codes. ``score`` gives the
    probability of the favourable outcome; ``output`` gives the quantity attributions
    explain (``output_space`` says which: log-odds for trees, the logit for a torch
    network, or the probability for model-agnostic methods).
    """

    kind: str
    feature_names: tuple[str, ...]
    output_space: OutputSpace

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """Validated numeric matrix (n × p, float64) in the model's feature order."""
        ...

    def score(self, x: np.ndarray) -> np.ndarray:
        """Probability of the favourable outcome per row."""
        ...

    def output(self, x: np.ndarray) -> np.ndarray:
        """The model output that attributions explain, per row."""
        ...


# Capabilities some explainers need beyond the adapter contract. An explainer narrows the
# adapter it is given with ``as_tree_model`` / ``as_differentiable`` (its ``supports``
# has already chosen the model by kind), instead of reaching into an adapter's attributes.


@runtime_checkable
class TreeModel(ModelAdapter, Protocol):
    """A model whose trees the tree explainers read: a LightGBM ``booster``."""

    booster: Any


@runtime_checkable
class DifferentiableModel(ModelAdapter, Protocol):
    """A network the gradient explainers differentiate: its torch ``module``, the
    ``device`` it runs on, and ``forward`` (an input tensor to the explained output)."""

    module: Any
    device: str

    def forward(self, x: Any) -> Any:
        """The explained output (``output_space``) of an input tensor, differentiably."""
        ...


def as_tree_model(model: ModelAdapter) -> TreeModel:
    """``model`` as a tree model; an error naming its kind when it is not one."""
    if not isinstance(model, TreeModel):
        raise ExplainError(
            f"This explanation method reads a tree ensemble; the {model.kind} model has none."
        )
    return model


def as_differentiable(model: ModelAdapter) -> DifferentiableModel:
    """``model`` as a differentiable network; an error naming its kind when it is not one."""
    if not isinstance(model, DifferentiableModel):
        raise ExplainError(
            f"This explanation method needs a differentiable network; the {model.kind} model "
            "is not one."
        )
    return model
