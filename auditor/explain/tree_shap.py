"""Exact TreeSHAP for LightGBM: the fast numba engine, LightGBM's ``pred_contrib`` fallback.

Path-dependent values (the trees' own cover as background) come from
:mod:`auditor.explain.fast_tree_shap`, which matches LightGBM's C++ TreeSHAP (also what
``shap.TreeExplainer`` calls for LightGBM) to rounding; a model it does not reproduce
exactly goes to ``pred_contrib`` and the reason is recorded in the result's params
(``engine``, ``fallback_reason``). Values are in the raw-score space (log-odds).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.errors import ExplainError
from auditor.explain.base import register
from auditor.explain.engine_cache import EngineCache, model_digest, model_text
from auditor.explain.fast_tree_shap import TreeShapEngine, UnsupportedModel
from auditor.explain.gpu_tree_shap import choose_device, path_dependent_cuda
from auditor.models.base import ModelAdapter, as_tree_model

FAST_ENGINE = "auditor.fast_tree_shap"
FALLBACK_ENGINE = "lightgbm.pred_contrib"
CUDA_ENGINE = "auditor.gpu_tree_shap"
ALGORITHM = "Gauss-Legendre quadrature TreeSHAP, O(nodes x depth/2) per tree and row"
CUDA_ALGORITHM = "Gauss-Legendre quadrature TreeSHAP per (row, leaf), one CUDA block per row"

# one engine per distinct model in the process (see engine_cache for why by digest)
ENGINES: EngineCache[TreeShapEngine | str] = EngineCache()


def engine_for(
    booster: Any, digest: str | None = None, text: str | None = None
) -> TreeShapEngine | str:
    """The cached fast engine of a Booster, or why it cannot have one.

    ``digest`` is the model's :func:`model_digest` when the caller has it already (the
    LightGBM adapter computes it once) and ``text`` the model text it digested (the
    adapter keeps it): the engine is built from that text, so a first call reads the
    model out of LightGBM once. Either left out is computed here.
    """
    if digest is None:
        text = model_text(booster) if text is None else text
        digest = model_digest(booster, text)

    def build() -> TreeShapEngine | str:
        try:
            return TreeShapEngine.from_text(model_text(booster) if text is None else text)
        except UnsupportedModel as exc:
            return f"the fast TreeSHAP engine does not support {exc}"

    return ENGINES.get(digest, build)


@register("tree_shap")
class TreeShapExplainer:
    """Exact tree SHAP values (path-dependent, i.e. the trees' own cover as background)."""

    name = "tree_shap"
    default_tolerance = 1e-6
    uses_device = True  # explain.device: auto | cpu | cuda
    # path-dependent: the trees' own cover is the background, so the engines need not read
    # background rows back from their source for it (a whole scan of the data on Spark)
    uses_background = False
    additive = True
    signed = True

    def supports(self, model: ModelAdapter) -> bool:
        """Only LightGBM boosters."""
        return model.kind == "lightgbm"

    def explain(
        self,
        model: ModelAdapter,
        x: np.ndarray,
        *,
        background: np.ndarray,
        steps: int,
        device: str = "auto",
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """SHAP values and the expected value, one row per input row.

        ``device`` (``explain.device``): where the fast engine runs, see
        :func:`auditor.explain.gpu_tree_shap.choose_device`; the params record the device
        that ran (``device``) and why (``device_rule``).
        """
        booster = as_tree_model(model).booster
        # the adapter's digest (letters, review, Spark workers): the engine is never rebuilt
        engine = engine_for(booster, getattr(model, "digest", None), getattr(model, "text", None))
        params: dict[str, Any] = {"feature_perturbation": "tree_path_dependent"}
        if isinstance(engine, TreeShapEngine):
            where, why = choose_device(device, engine, len(x))
            if where == "cuda":
                contrib = path_dependent_cuda(engine, x)
                params.update(engine=CUDA_ENGINE, algorithm=CUDA_ALGORITHM)
            else:
                contrib = engine.path_dependent(x)
                params.update(engine=FAST_ENGINE, algorithm=ALGORITHM)
            params.update(fallback_reason=None, device=where, device_rule=why)
        else:
            if device == "cuda":
                raise ExplainError(
                    f"explain.device: cuda, but {engine}, and LightGBM's own TreeSHAP runs "
                    "on the CPU only; use explain.device: auto or cpu."
                )
            import lightgbm as lgb  # the booster came from it, so it is already loaded

            try:
                contrib = np.asarray(booster.predict(x, pred_contrib=True), dtype=np.float64)
            except lgb.basic.LightGBMError as exc:
                raise ExplainError(
                    f"TreeSHAP is not available for this LightGBM model: {engine}, and "
                    f"LightGBM's own TreeSHAP refused it ({str(exc).strip()}). Use "
                    "explain.method: permutation_shap."
                ) from None
            params.update(
                engine=FALLBACK_ENGINE,
                fallback_reason=engine,
                device="cpu",
                device_rule="LightGBM pred_contrib runs on the CPU",
            )
        return contrib[:, :-1], contrib[:, -1], params
