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
from auditor.text_values import text_codes

CATEGORICAL_MAX = 64


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
    codes, _ = text_codes(column)
    n_in, member_in = fold_category_counts(codes, [np.asarray(member, dtype=bool)])
    return share_auc(n_in, member_in[0])


_FOLDS = 5
_PRIOR_WEIGHT = 1.0  # pseudo-observations pulling a category's share to the overall share


def fold_category_counts(
    codes: np.ndarray, members: list[np.ndarray], offset: int = 0
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows per (fold, category), and each membership mask's members among them: what
    :func:`share_auc` scores a categorical feature from, on every engine.

    Row ``i`` is in fold ``(offset + i) % 5`` (its position among the data's known rows),
    so chunks and Spark partitions of one data set count into the same folds and their
    counts add exactly. Scoring each row by its category's share of the group estimated
    without the row's own fold (5-fold cross-fitting, pulled lightly towards the overall
    share) keeps a many-category feature from predicting its own rows: a category of one
    person would otherwise identify that person perfectly.
    """
    k = int(codes.max()) + 1 if len(codes) else 0
    fold = (offset + np.arange(len(codes))) % _FOLDS
    n_in = np.zeros((_FOLDS, k), dtype=np.int64)
    np.add.at(n_in, (fold, codes), 1)
    out = []
    for member in members:
        m_in = np.zeros((_FOLDS, k))
        np.add.at(m_in, (fold[member], codes[member]), 1.0)
        out.append(m_in)
    return n_in, out


def group_aucs(
    column: pd.Series,
    labels: np.ndarray,
    groups: list[int],
    ranked: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[float | None]:
    """``feature_auc`` of ``column`` for membership of each group code in ``labels``.

    Numeric features are ranked once (not once per group); categorical features are
    scored by their out-of-fold category share, as in :func:`feature_auc`. ``ranked``
    keeps each numeric column's (non-NaN mask, ranks) by name for the next attribute's
    call on the same rows (the ranks do not depend on the attribute).
    """
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    out: list[float | None] = []
    if numeric and column.nunique(dropna=False) > CATEGORICAL_MAX:
        key = str(column.name)
        if ranked is not None and key in ranked:
            ok, ranks = ranked[key]
        else:
            values = column.to_numpy(dtype=np.float64)
            ok = ~np.isnan(values)
            ranks = stats.rankdata(values[ok])
            if ranked is not None:
                ranked[key] = (ok, ranks)
        lab = labels[ok]
        for group in groups:  # per-group rank sums, as each Spark task returns them
            member = lab == group
            n1 = int(member.sum())
            out.append(auc_from_rank_sum(float(ranks[member].sum()), n1, len(member) - n1))
        return out
    codes, _ = text_codes(column)
    n_in, member_in = fold_category_counts(codes, [labels == group for group in groups])
    return [share_auc(n_in, m_in) for m_in in member_in]


def proxy_ranking(
    features: pd.DataFrame,
    protected: pd.DataFrame,
    decompositions: list[GapDecomposition],
) -> list[ProxyRank]:
    """Every (feature, attribute, group) with its AUC and gap share, strongest first."""
    by_group = {(d.attribute, d.group): d for d in decompositions}
    setups: list[tuple[str, np.ndarray, list[int], np.ndarray, list[str]]] = []
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
        wanted = [index[str(g)] for g in groups]
        setups.append((str(attr), known, wanted, codes.astype(np.int64), [str(g) for g in groups]))
    aucs: dict[str, dict[str, list[float | None]]] = {a[0]: {} for a in setups}
    for feat in features.columns:
        # ranking a column is most of the work: the attributes known on every row share
        # one ranking of it (feature by feature, so one column's ranks are held at a time)
        every_row: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for attr, known, wanted, labels, _ in setups:
            shared = every_row if bool(known.all()) else None
            column = features[feat][known].reset_index(drop=True)
            aucs[attr][str(feat)] = group_aucs(column, labels, wanted, shared)
    out: list[ProxyRank] = []
    for attr, _, _, _, names in setups:
        out += rank_proxies(attr, names, aucs[attr], by_group)
    return sorted(out, key=lambda p: (-p.score, p.attribute, p.group, p.feature))


def ranked_groups(
    attr: str, known_groups: list[str], decompositions: list[GapDecomposition]
) -> list[str]:
    """The groups of ``attr`` that :func:`proxy_ranking` ranks (sorted known groups; with
    attributions, those with a gap decomposition)."""
    by_group = {(d.attribute, d.group) for d in decompositions}
    decomposed = any(d.attribute == attr for d in decompositions)
    return [g for g in sorted(known_groups) if not (decomposed and (attr, g) not in by_group)]


def rank_proxies(
    attr: str,
    groups: list[str],
    aucs: dict[str, list[float | None]],
    by_group: dict[tuple[str, str], GapDecomposition],
) -> list[ProxyRank]:
    """The :class:`ProxyRank` records of one attribute from each feature's group AUCs."""
    out: list[ProxyRank] = []
    for gi, group in enumerate(groups):
        dec = by_group.get((attr, group))
        total = sum(abs(v) for v in dec.contributions.values()) if dec else 0.0
        for feat, per in aucs.items():
            a = per[gi]
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
                    feature=feat,
                    attribute=attr,
                    group=group,
                    auc=a,
                    gap_share=share,
                    contribution=contribution,
                    score=(2 * a - 1) * weight,
                )
            )
    return out


def auc_from_rank_sum(rank_sum: float, n1: int, n0: int) -> float | None:
    """Direction-free AUC from the members' rank sum (Mann–Whitney), as :func:`auc`."""
    if n1 == 0 or n0 == 0:
        return None
    a = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)
    return max(a, 1.0 - a)


def rank_sum_of_levels(scores: np.ndarray, members: np.ndarray, totals: np.ndarray) -> float:
    """Members' rank sum (ties averaged) from counts per score level.

    ``scores``: one value per cell (cells with equal values are one level); ``members``
    and ``totals``: members and rows per cell. Exact: ranks are half-integers.
    """
    levels, inverse = np.unique(scores, return_inverse=True)
    m = np.bincount(inverse, weights=members, minlength=len(levels))
    c = np.bincount(inverse, weights=totals, minlength=len(levels))
    below = np.concatenate([[0.0], np.cumsum(c)[:-1]])
    return float((m * (below + (c + 1) / 2)).sum())


def share_auc(n_in: np.ndarray, m_in: np.ndarray) -> float | None:
    """The AUC of a categorical feature for a group from per-(fold, category) counts
    (:func:`fold_category_counts`): the one form on every engine.

    ``n_in``: rows per fold × category; ``m_in``: the group's members among them. Each
    row's score is its category's out-of-fold share of the group; the AUC comes from the
    counts per share level, exactly the rank statistic over the rows (the row-by-row
    computation is the tests' oracle, ``tests/_proxy_oracle.py``).
    """
    n_all = n_in.sum(axis=0)
    m_all = m_in.sum(axis=0)
    total, n1 = int(n_all.sum()), round(float(m_all.sum()))
    if not total:
        return None
    prior = float(m_all.sum()) / total
    share = (m_all - m_in + prior * _PRIOR_WEIGHT) / (n_all - n_in + _PRIOR_WEIGHT)
    used = n_in > 0
    r = rank_sum_of_levels(share[used], m_in[used], n_in[used])
    return auc_from_rank_sum(r, n1, total - n1)
