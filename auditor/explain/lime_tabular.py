"""LIME-style local surrogate for tabular data (Ribeiro et al. 2016), vectorised and seeded.

For each explained row, ``samples`` perturbed copies switch every feature independently
on (the row's own value) or off (the value of a random background row); a weighted ridge
regression of the model output on the on/off pattern gives one coefficient per feature.
Weights follow LIME's exponential kernel on the share of switched-off features, with
LIME's default width 0.75·sqrt(p) on that binary distance. The same seeded patterns serve
every row, so all rows share one weighted least-squares solve and the model is called on
rows × samples points in large batches.

Unlike SHAP, nothing forces the surrogate through the row's own output: the gap between
intercept + coefficients and the model output is the completeness error the audit shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.explain.base import register
from auditor.models.base import ModelAdapter

DEFAULT_SAMPLES = 1000
DEFAULT_KERNEL_WIDTH = 0.75  # times sqrt(p), as the lime package's default
RIDGE_ALPHA = 1.0  # the lime package's default Ridge(alpha=1)
_MAX_POINTS = 200_000  # model evaluations per batch


@register("lime")
class LimeTabularExplainer:
    """Local linear surrogate coefficients of the model output (log-odds or logit)."""

    name = "lime"
    default_tolerance = 1e-2  # a surrogate: its gap is measured, shown and judged like IG
    # nothing forces the surrogate through the row's output (4e-1 off on a LightGBM model,
    # 1e-2 on a logistic regression): no additivity claim; the signs are contributions
    additive = False
    signed = True

    def __init__(
        self,
        samples: int = DEFAULT_SAMPLES,
        kernel_width: float = DEFAULT_KERNEL_WIDTH,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.kernel_width = kernel_width
        self.seed = seed

    def supports(self, model: ModelAdapter) -> bool:
        """Any model: it only needs outputs."""
        return True

    def explain(
        self, model: ModelAdapter, x: np.ndarray, *, background: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Coefficients (n × p), intercepts, and the sampling settings recorded."""
        n, p = x.shape
        rng = np.random.default_rng(self.seed)
        on = rng.random((self.samples, p)) < 0.5
        on[0] = True  # the row itself, as the lime package includes it
        donors = background[rng.integers(0, len(background), size=self.samples)]
        off_share = 1.0 - on.mean(axis=1)
        weights = np.sqrt(np.exp(-off_share / self.kernel_width**2))  # lime's kernel
        design = np.hstack([np.ones((self.samples, 1)), on.astype(np.float64)])
        penalty = RIDGE_ALPHA * np.eye(p + 1)
        penalty[0, 0] = 0.0  # the intercept is not shrunk (sklearn's Ridge neither)
        wd = design * weights[:, None]
        solve = np.linalg.solve(design.T @ wd + penalty, wd.T)  # (p+1) × samples
        coef = np.empty((n, p + 1))
        per_batch = max(1, _MAX_POINTS // self.samples)
        for s in range(0, n, per_batch):
            xb = x[s : s + per_batch]
            pts = np.where(on[None, :, :], xb[:, None, :], donors[None, :, :])
            y = model.output(pts.reshape(-1, p)).reshape(len(xb), self.samples)
            coef[s : s + len(xb)] = y @ solve.T
        params = {
            "samples": self.samples,
            "kernel_width": self.kernel_width * float(np.sqrt(p)),
            "kernel": "sqrt(exp(-d^2 / width^2)), d = euclidean distance of on/off patterns",
            "ridge_alpha": RIDGE_ALPHA,
            "seed": self.seed,
            "implementation": "auditor (vectorised)",
        }
        return coef[:, 1:], coef[:, 0], params
