"""Per-decision check the letters code calls: are this decision's principal reasons stable?

A letter for a decision whose top-k reasons change under small, plausible perturbations of
its inputs, or when the explainer's background sample is redrawn, should go to human
review rather than out silently. :func:`reasons_unstable` answers yes/no;
:func:`check_reasons` gives the details to show the reviewer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from auditor.explain.base import get_explainer
from auditor.explain.quality.stability import (
    Direction,
    FeatureNoise,
    near_tie,
    perturbation_run,
    sets_differ,
    top_k,
)
from auditor.models.base import ModelAdapter

DEFAULT_THRESHOLD = 0.1


@dataclass(frozen=True)
class ReasonStability:
    """What the stability check found for one decision."""

    unstable: bool
    method: str
    reasons: tuple[str, ...]
    changed_share: float
    background_changed: bool
    near_tie: bool
    alternatives: tuple[tuple[str, ...], ...]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the letter's review record)."""
        return asdict(self)


def check_reasons(
    model: ModelAdapter,
    row: np.ndarray,
    *,
    background: np.ndarray,
    method: str,
    k: int = 3,
    direction: Direction = "adverse",
    draws: int = 20,
    noise: float = 0.05,
    threshold: float = DEFAULT_THRESHOLD,
    reference: np.ndarray | None = None,
    steps: int = 64,
    seed: int = 0,
    alt_background: np.ndarray | None = None,
) -> ReasonStability:
    """Explain ``row`` (one encoded row) and ``draws`` perturbed copies; compare reasons.

    Unstable when more than ``threshold`` of the perturbed copies have a different set of
    top-k reasons, or when a second, seeded background sample changes them.
    ``reference`` (default: ``background``) sets each feature's perturbation scale;
    ``alt_background`` is the second background (default: a seeded bootstrap of the first).
    """
    explainer = get_explainer(method)
    x = np.asarray(row, dtype=np.float64).reshape(1, -1)
    names = tuple(model.feature_names)
    noise_model = FeatureNoise.from_reference(background if reference is None else reference, noise)
    rng = np.random.default_rng(seed)
    copies = np.vstack([noise_model.perturb(x, rng) for _ in range(draws)])
    values = explainer.explain(model, np.vstack([x, copies]), background=background, steps=steps)[0]
    base_top = top_k(values[:1], k, direction)
    others = top_k(values[1:], k, direction)
    changed = sets_differ(np.repeat(base_top, draws, axis=0), others)
    alt_bg = alt_background
    if alt_bg is None:
        redraw = np.random.default_rng(seed + 1).integers(0, len(background), len(background))
        alt_bg = background[redraw]
    v_bg = explainer.explain(model, x, background=alt_bg, steps=steps)[0]
    bg_changed = bool(sets_differ(base_top, top_k(v_bg, k, direction))[0])
    share = float(changed.mean()) if draws else 0.0
    tie = bool(near_tie(values[:1], k, direction)[0])
    alternatives = sorted({tuple(names[j] for j in sorted(t)) for t in others[changed]})
    unstable = share > threshold or bg_changed
    reasons = tuple(names[j] for j in base_top[0])
    detail = (
        f"the top {k} reasons ({', '.join(reasons)}) changed in {share:.0%} of {draws} "
        f"small perturbations of this applicant's inputs"
        + ("; and with another background sample" if bg_changed else "")
        + ("; the last reason is nearly tied with the next one" if tie else "")
    )
    return ReasonStability(
        unstable=unstable,
        method=method,
        reasons=reasons,
        changed_share=share,
        background_changed=bg_changed,
        near_tie=tie,
        alternatives=tuple(alternatives),
        detail=detail,
    )


def reasons_unstable(
    model: ModelAdapter, row: np.ndarray, *, background: np.ndarray, method: str, **options: Any
) -> bool:
    """True when :func:`check_reasons` finds the decision's reasons unstable."""
    return check_reasons(model, row, background=background, method=method, **options).unstable


def unstable_decisions(
    model: ModelAdapter,
    rows: np.ndarray,
    *,
    background: np.ndarray,
    method: str,
    k: int = 3,
    direction: Direction = "adverse",
    draws: int = 20,
    noise: float = 0.05,
    threshold: float = DEFAULT_THRESHOLD,
    reference: np.ndarray | None = None,
    steps: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """:func:`reasons_unstable` for many encoded rows at once (one bool per row).

    Same rule as :func:`check_reasons`, with every row's perturbed copies explained in one
    batch per draw; use it when flagging a whole batch of letters.
    """
    explainer = get_explainer(method)
    x = np.asarray(rows, dtype=np.float64)
    noise_model = FeatureNoise.from_reference(background if reference is None else reference, noise)

    def explain_fn(z: np.ndarray, bg: np.ndarray = background) -> np.ndarray:
        return np.asarray(explainer.explain(model, z, background=bg, steps=steps)[0])

    values = explain_fn(x)
    run = perturbation_run(
        explain_fn, x, values, noise_model, k=k, direction=direction, draws=draws, seed=seed
    )
    redraw = np.random.default_rng(seed + 1).integers(0, len(background), len(background))
    v_bg = explain_fn(x, background[redraw])
    bg_changed = sets_differ(top_k(values, k, direction), top_k(v_bg, k, direction))
    flagged: np.ndarray = (run.changed_share > threshold) | bg_changed
    return flagged
