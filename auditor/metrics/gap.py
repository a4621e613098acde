"""Decomposing group gaps in model output into features, and ranking proxy features.

Gap decomposition. With additive attributions (output_i = base_i + Σ_f φ_if, up to the
method's additivity error e_i), the gap in mean model output between a group and the
reference group is, exactly:

    mean_g(output) − mean_ref(output) = [mean_g(base) − mean_ref(base)]
                                        + Σ_f [mean_g(φ_f) − mean_ref(φ_f)]
                                        + [mean_g(e) − mean_ref(e)]

The first bracket is 0 for a shared base (tree SHAP, integrated gradients with one
baseline); the last one (``residual``) is bounded by twice the additivity error and is
reported, not hidden. Means are over the explained rows.

Proxy ranking. For each feature and each known group of a protected attribute (one vs
the rest): the AUC with which the feature alone separates the group, by the rank
(Mann–Whitney) statistic, direction-free (max(AUC, 1 − AUC)). Numeric features with
more than ``CATEGORICAL_MAX`` distinct values are scored by their value; others by the
group's share in each category, estimated out of fold (5-fold cross-fitting), so that a
feature with many small categories is not flattered by fitting its own rows. The AUC
is combined with the feature's contribution to the group's output gap:
``score = (2·AUC − 1) · |contribution| / Σ_f |contribution_f|`` (without attributions,
``2·AUC − 1``), ranked highest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from auditor.batch import UNKNOWN
from auditor.result import GapDecomposition, ProxyRank

CATEGORICAL_MAX = 64


def gap_decomposition(
    attribute: str,
    labels: np.ndarray,
    values: np.ndarray,
    base_values: np.ndarray,
    outputs: np.ndarray,
    feature_names: tuple[str, ...],
    reference: str | None,
) -> list[GapDecomposition]:
    """One decomposition per known non-reference group against ``reference``."""
    if reference is None or not (labels == reference).any():
        return []
    residuals = outputs - base_values - values.sum(axis=1)

    def means(mask: np.ndarray) -> tuple[float, float, np.ndarray, float]:
        return (
            float(outputs[mask].mean()),
            float(base_values[mask].mean()),
            values[mask].mean(axis=0),
            float(residuals[mask].mean()),
        )

    ref_mask = labels == reference
    r_out, r_base, r_phi, r_res = means(ref_mask)
    out = []
    for group in sorted(set(labels.tolist()) - {UNKNOWN, reference}):
        mask = labels == group
        g_out, g_base, g_phi, g_res = means(mask)
        contrib = g_phi - r_phi
        out.append(
            GapDecomposition(
                attribute=attribute,
                group=str(group),
                reference=reference,
                n=int(mask.sum()),
                n_reference=int(ref_mask.sum()),
                output_gap=g_out - r_out,
                base_gap=g_base - r_base,
                contributions={f: float(c) for f, c in zip(feature_names, contrib, strict=True)},
                residual=g_res - r_res,
            )
        )
    return out


def auc(score: np.ndarray, member: np.ndarray) -> float | None:
    """Direction-free AUC of ``score`` for ``member`` (rank statistic, ties averaged)."""
    n1 = int(member.sum())
    n0 = len(member) - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = stats.rankdata(score)
    a = (float(ranks[member].sum()) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return max(a, 1.0 - a)


def feature_auc(column: pd.Series, member: np.ndarray) -> float | None:
    """AUC of a feature for group membership (value, or per-category group share)."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and column.nunique(dropna=False) > CATEGORICAL_MAX:
        values = column.to_numpy(dtype=np.float64)
        ok = ~np.isnan(values)
        return auc(values[ok], member[ok])
    codes, _ = pd.factorize(column.astype(str))
    return auc(out_of_fold_share(codes, member), member)


_FOLDS = 5
_PRIOR_WEIGHT = 1.0  # pseudo-observations pulling a category's share to the overall share


def out_of_fold_share(codes: np.ndarray, member: np.ndarray, offset: int = 0) -> np.ndarray:
    """Each row's category share of ``member``, estimated without the row's own fold.

    An in-sample share flatters features with many categories (a category of one person
    predicts that person perfectly); 5-fold cross-fitting with a light pull to the
    overall share keeps the AUC honest. Row ``i`` is in fold ``(offset + i) % 5`` (its
    position in the whole data), so chunks of one data set give the same folds and the
    per-(fold, category) counts merge exactly.
    """
    k = int(codes.max()) + 1
    weights = member.astype(np.float64)
    fold = (offset + np.arange(len(codes))) % _FOLDS
    n_all = np.bincount(codes, minlength=k)
    m_all = np.bincount(codes, weights=weights, minlength=k)
    prior = float(weights.mean())
    out = np.empty(len(codes))
    for f in range(_FOLDS):
        rows = fold == f
        n_in = np.bincount(codes[rows], minlength=k)
        m_in = np.bincount(codes[rows], weights=weights[rows], minlength=k)
        share = (m_all - m_in + prior * _PRIOR_WEIGHT) / (n_all - n_in + _PRIOR_WEIGHT)
        out[rows] = share[codes[rows]]
    return out


def group_aucs(column: pd.Series, labels: np.ndarray, groups: list[int]) -> list[float | None]:
    """``feature_auc`` of ``column`` for membership of each group code in ``labels``.

    Numeric features are ranked once (not once per group); categorical features are
    scored by their out-of-fold category share, as in :func:`feature_auc`.
    """
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    out: list[float | None] = []
    if numeric and column.nunique(dropna=False) > CATEGORICAL_MAX:
        values = column.to_numpy(dtype=np.float64)
        ok = ~np.isnan(values)
        ranks = stats.rankdata(values[ok])
        lab = labels[ok]
        for group in groups:
            member = lab == group
            n1 = int(member.sum())
            n0 = len(member) - n1
            if n1 == 0 or n0 == 0:
                out.append(None)
                continue
            a = (float(ranks[member].sum()) - n1 * (n1 + 1) / 2) / (n1 * n0)
            out.append(max(a, 1.0 - a))
        return out
    codes, _ = pd.factorize(column.astype(str))
    for group in groups:
        out.append(auc(out_of_fold_share(codes, labels == group), labels == group))
    return out


def proxy_ranking(
    features: pd.DataFrame,
    protected: pd.DataFrame,
    decompositions: list[GapDecomposition],
) -> list[ProxyRank]:
    """Every (feature, attribute, group) with its AUC and gap share, strongest first."""
    by_group = {(d.attribute, d.group): d for d in decompositions}
    out: list[ProxyRank] = []
    for attr in protected.columns:
        col = protected[attr].to_numpy()
        known = col != UNKNOWN
        # with attributions, groups are ranked by their gap to the reference (which has none)
        decomposed = any(d.attribute == attr for d in decompositions)
        groups = [
            g
            for g in sorted(set(col[known].tolist()))
            if not (decomposed and (attr, str(g)) not in by_group)
        ]
        codes, uniques = pd.factorize(col[known])
        index = {str(u): i for i, u in enumerate(uniques)}
        labels = codes.astype(np.int64)
        wanted = [index[str(g)] for g in groups]
        aucs = {
            feat: group_aucs(features[feat][known].reset_index(drop=True), labels, wanted)
            for feat in features.columns
        }
        for gi, group in enumerate(groups):
            dec = by_group.get((attr, str(group)))
            total = sum(abs(v) for v in dec.contributions.values()) if dec else 0.0
            for feat in features.columns:
                a = aucs[feat][gi]
                if a is None:
                    continue
                contribution = dec.contributions.get(feat) if dec else None
                share = None
                weight = 1.0
                if dec is not None and contribution is not None:
                    share = contribution / dec.output_gap if dec.output_gap else None
                    weight = abs(contribution) / total if total else 0.0
                out.append(
                    ProxyRank(
                        feature=str(feat),
                        attribute=str(attr),
                        group=str(group),
                        auc=a,
                        gap_share=share,
                        contribution=contribution,
                        score=(2 * a - 1) * weight,
                    )
                )
    return sorted(out, key=lambda p: (-p.score, p.attribute, p.group, p.feature))
