"""How many letters the review holds, and why: the demo credit model and an Adult-like
credit model (``tests/adult_like.py``), every adverse decision.

Runs the letters' own review (:func:`auditor.letters.service._review`: same attributions,
baseline, per-decision draws and calibrated noise as ``auditor letters``) without
rendering, and prints per data set: which features the calibrated noise perturbs and how,
adverse decisions, held (principal reason changed in more than ``threshold`` of the
copies), the hold rate, how many of the held are near ties (the principal's lead over the
next statable reason, in attribution units, within ``TIE_SPREADS`` median changes of that
lead under the perturbation: :mod:`auditor.letters.review`), the same under the earlier
relative rule (the second within 10% of the principal), and what the earlier rule (any
change of the stated set) would have held.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_letters_review.py [--adult-rows 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def review_stats(spec_path: Path, db: str) -> dict[str, Any]:
    from auditor.explain.quality.stability import FeatureNoise, near_tie
    from auditor.letters.attribution import baseline_attributions
    from auditor.letters.baseline import choose_baseline
    from auditor.letters.reasons import ReasonMapper
    from auditor.letters.review import TIE_SPREADS, calibrated
    from auditor.letters.service import _categorical, _model, _review, _spec
    from auditor.service import perform_audit
    from auditor.store import load_result, open_store
    from auditor.store.decisions import load_decisions

    audit_id = perform_audit(spec_path, database_url=db).result.audit_id
    with open_store(db) as store, store.session() as session:
        result = load_result(session, audit_id)
        stored = load_decisions(session, audit_id)
    spec = _spec(result.spec, stored.spec_dir, audit_id)
    letters = spec.letters
    assert letters is not None
    model = _model(spec, result.provenance.model_sha256, audit_id)
    x_all = model.encode(stored.features)
    scores = stored.scores if stored.scores is not None else model.score(x_all)
    base = choose_baseline(
        letters.baseline, scores, stored.favorable, spec.threshold, seed=spec.seed
    )
    noise = calibrated(
        FeatureNoise.from_reference(x_all, letters.review.noise),
        model.feature_names,
        letters.review,
        categorical=_categorical(model),
    )
    names = model.feature_names
    perturbed = {
        names[j]: (
            f"sd {noise.absolute[j]:g}"
            if noise.absolute[j] > 0
            else f"{noise.relative[j]:.0%} of value"
            if noise.relative[j] > 0
            else f"within +/-{noise.within[j]:g}"
        )
        for j in np.flatnonzero(noise.perturbed)
        if noise.within is not None
    }
    rows = np.flatnonzero(~stored.favorable)
    x = x_all[rows]
    ids = [stored.ids[r] for r in rows]
    started = time.perf_counter()
    attr = baseline_attributions(model, x, x_all[base.rows], seed=spec.seed)
    mapper = ReasonMapper(letters, model.feature_names, spec.protected, credit=True)
    grouped = mapper.grouped(attr.values)
    review = _review(model, x, x_all[base.rows], mapper, grouped, letters, spec, noise, ids)
    seconds = time.perf_counter() - started
    held = review.needs_review
    assert review.margin is not None
    assert review.reasons_changed_share is not None
    assert review.lead is not None
    assert review.lead_spread is not None
    old = review.reasons_changed_share > letters.review.threshold
    ties = int((held & review.near_tie).sum())
    crossing = _split_crossings(
        model,
        noise,
        x[held],
        [ids[i] for i in np.flatnonzero(held)],
        spec.seed,
        letters.review.draws,
    )
    return {
        "perturbed": perturbed,
        "adverse": len(rows),
        "held": int(held.sum()),
        "hold_rate": round(float(held.mean()), 4),
        "held_near_tie": ties,
        "held_near_tie_share": round(ties / int(held.sum()), 3) if held.any() else None,
        "tie_rule": f"lead <= {TIE_SPREADS:g} x median change of the lead under the noise",
        "near_tie_all": int(review.near_tie.sum()),
        "held_not_tie_min_share": int(
            (held & ~review.near_tie & (review.changed_share <= 0.5)).sum()
        ),
        "held_copies_crossing_a_split": crossing,
        "held_near_tie_10pct": int((held & near_tie(grouped, 1, "adverse")).sum()),
        "held_within_25pct": int((held & (review.margin <= 0.25)).sum()),
        "median_margin_held": float(np.median(review.margin[held])) if held.any() else None,
        "median_margin_not_held": float(np.median(review.margin[~held])),
        "old_rule_held": int(old.sum()),
        "seconds": round(seconds, 1),
    }


def _split_crossings(
    model: Any, noise: Any, x: np.ndarray, ids: list[str], seed: int, draws: int
) -> float | None:
    """Share of the held decisions' perturbed copies in which a perturbed feature crosses
    one of the model's split points on it (LightGBM models only)."""
    from auditor.letters.review import decision_draws

    booster = getattr(model, "booster", None)
    if booster is None or not len(x):
        return None
    points: dict[int, list[float]] = {}

    def walk(node: dict[str, Any]) -> None:
        if "split_feature" in node:
            if node.get("decision_type") == "<=":
                points.setdefault(int(node["split_feature"]), []).append(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    crossed = np.zeros((draws, len(x)), dtype=bool)
    for d, z in enumerate(decision_draws(seed, ids, draws, x.shape[1])):
        moved = noise.shift(x, z)
        for j in np.flatnonzero(noise.perturbed):
            cuts = np.sort(points.get(int(j), []))
            crossed[d] |= np.searchsorted(cuts, moved[:, j]) != np.searchsorted(cuts, x[:, j])
    return round(float(crossed.mean()), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adult-rows", type=int, default=3000)
    args = parser.parse_args()
    from auditor.demo import prepare_credit
    from tests.adult_like import prepare

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "demo").mkdir()
        (folder / "adult").mkdir()
        demo = prepare_credit(folder / "demo", seed=0)
        adult = prepare(folder / "adult", n=args.adult_rows)
        for name, spec in (("demo credit (German credit)", demo.spec_path), ("adult-like", adult)):
            stats = review_stats(spec, f"sqlite:///{folder / name.split()[0]}.db")
            print(name, stats, flush=True)


if __name__ == "__main__":
    main()
