"""How many letters the review holds, and why: the demo credit model and an Adult-like
credit model (``tests/adult_like.py``), every adverse decision.

Runs the letters' own review (:func:`auditor.letters.service._review`: same attributions,
baseline, per-decision draws and calibrated noise as ``auditor letters``) without
rendering, and prints per data set: adverse decisions, held (principal reason changed in
more than ``threshold`` of the copies), how many of the held are near ties (principal and
second reason within 10%), the principal's lead over the second (median, held vs not
held), and what the earlier rule (any change of the stated set) would have held.

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
    from auditor.explain.quality.stability import FeatureNoise
    from auditor.letters.attribution import baseline_attributions
    from auditor.letters.baseline import choose_baseline
    from auditor.letters.reasons import ReasonMapper
    from auditor.letters.review import calibrated, near_tie
    from auditor.letters.service import _model, _review, _spec
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
    )
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
    old = review.reasons_changed_share > letters.review.threshold
    return {
        "adverse": len(rows),
        "held": int(held.sum()),
        "hold_rate": float(held.mean()),
        "held_near_tie_10pct": int((held & review.near_tie).sum()),
        "held_within_25pct": int((held & (review.margin <= 0.25)).sum()),
        "median_margin_held": float(np.median(review.margin[held])) if held.any() else None,
        "median_margin_not_held": float(np.median(review.margin[~held])),
        "old_rule_held": int(old.sum()),
        "near_tie_all": int(near_tie(grouped, 1, "adverse").sum()),
        "seconds": round(seconds, 1),
    }


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
