"""The model-adapter contract every model library implements."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

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
