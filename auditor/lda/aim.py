"""Where the search aims: the features carrying the worst group's gap, from the audit's
gap decomposition (exact tree SHAP of the refit model) and proxy ranking."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.engine.summary import row_gap_decompositions
from auditor.lda.evaluate import GroupRatio
from auditor.metrics.gap import proxy_ranking


@dataclass(frozen=True)
class Target:
    """A feature the search aims at, with the evidence that it carries the gap."""

    feature: str
    attribute: str
    group: str
    contribution: float | None  # to the group's mean log-odds gap against the reference
    proxy_auc: float
    score: float


def aim(
    booster: lgb.Booster,
    x_encoded: np.ndarray,
    features: pd.DataFrame,
    protected: pd.DataFrame,
    worst: GroupRatio | None,
    top_k: int,
) -> list[Target]:
    """The ``top_k`` features that push the worst-ratio group down the most, ranked by the
    audit's proxy score (proxy strength x share of the gap); without a judged worst group,
    none (the search then has nothing to aim at but the threshold)."""
    if worst is None or worst.reference is None:
        return []
    contrib = np.asarray(booster.predict(x_encoded, pred_contrib=True), dtype=np.float64)
    values, base = contrib[:, :-1], contrib[:, -1]
    labels = protected[worst.attribute].to_numpy().astype(str)
    decs = row_gap_decompositions(
        worst.attribute,
        labels,
        values,
        base,
        contrib.sum(axis=1),
        tuple(str(c) for c in features.columns),
        worst.reference,
    )
    ranks = proxy_ranking(features, protected[[worst.attribute]].astype(str), decs)
    mine = [
        r
        for r in ranks
        if r.group == worst.group and r.contribution is not None and r.contribution < 0
    ]
    return [
        Target(r.feature, r.attribute, r.group, r.contribution, r.auc, r.score)
        for r in mine[:top_k]
    ]
