"""``search_alternatives``: a seeded, budgeted search for less discriminatory alternatives.

Candidates are fitted on the fit split and compared on the search split; the search stops
at the budget or when the frontier has not moved for ``patience`` candidates. The
baseline, the frontier and the recommendation are then judged on the held-out split,
which no choice of the search has seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.data import decisions_from_frame
from auditor.errors import AuditorError
from auditor.lda.aim import Target, aim
from auditor.lda.candidates import (
    Candidate,
    aimed_candidates,
    baseline,
    label_directions,
    reweighing_weights,
)
from auditor.lda.evaluate import Evaluation, evaluate, evaluation_spec
from auditor.lda.fit import (
    BaseModel,
    base_model,
    fit_booster,
    model_frame,
    run_params,
    score,
    text_categories,
)
from auditor.lda.frontier import frontier, recommend
from auditor.lda.options import SearchOptions, SearchResult
from auditor.lda.record import write_outputs
from auditor.lda.split import Splits, features_of, load_splits, training_of
from auditor.models.lightgbm_adapter import LightGBMAdapter
from auditor.spec import AuditSpec, load_spec

Progress = Callable[[str], None]


@dataclass
class _Context:
    spec: AuditSpec
    splits: Splits
    base: BaseModel
    categories: dict[str, list[Any]]
    label: str
    performance_label: str
    seed: int
    boosters: dict[tuple[Any, ...], lgb.Booster] = field(default_factory=dict)

    def fit(self, c: Candidate) -> lgb.Booster:
        if c.fit_key not in self.boosters:
            fit = self.splits.part("fit")
            x = model_frame(fit, list(c.features), self.categories)
            y = fit[self.label].to_numpy(dtype=np.int64)
            weight = None
            if c.reweight_by is not None:
                weight = reweighing_weights(fit[c.reweight_by].to_numpy(), y)
            params = {**run_params(self.base, self.seed), **c.params}
            self.boosters[c.fit_key] = fit_booster(x, y, params, self.base.rounds, weight)
        return self.boosters[c.fit_key]

    def scores(self, c: Candidate, part: str) -> np.ndarray:
        frame = self.splits.part(part)
        return score(self.fit(c), model_frame(frame, list(c.features), self.categories))

    def judge(
        self, c: Candidate, part: str, base_scores: np.ndarray | None = None
    ) -> tuple[Evaluation, np.ndarray]:
        frame = self.splits.part(part)
        s = self.scores(c, part)
        espec = evaluation_spec(self.spec, list(c.features), self.performance_label)
        return evaluate(espec, frame, s, c.threshold, part, base_scores), s


def search_alternatives(
    spec: AuditSpec | str | Path | Mapping[str, Any],
    *,
    options: SearchOptions | None = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Search for less discriminatory alternatives to the audited model and write the record.

    Returns the record (also written as ``lda_record.json`` in ``out_dir``, with every
    frontier model saved under ``models/`` with its SHA-256, the held-out rows and an audit
    spec of the recommended alternative). Raises :class:`~auditor.errors.AuditorError`
    for a spec without ``training:`` or unusable training data.
    """
    opts = options or SearchOptions()
    if not isinstance(spec, AuditSpec):
        spec = load_spec(spec)
    if not 0 <= opts.tolerance < 1 or opts.budget < 1 or opts.patience < 1:
        raise AuditorError("lda: tolerance must be in [0, 1), budget and patience at least 1")
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    training = training_of(spec)
    features = features_of(spec)
    splits = load_splits(spec)
    ctx = _Context(
        spec=spec,
        splits=splits,
        base=base_model(spec),
        categories=text_categories(splits.frame, features),
        label=training.label,
        performance_label=training.performance_label or training.label,
        seed=training.split.seed,
    )
    timings: dict[str, float] = {}

    say("fitting the baseline")
    s = time.perf_counter()
    base = baseline(features, spec.threshold)
    base_search, base_search_scores = ctx.judge(base, "search")
    timings["baseline_fit_s"] = round(time.perf_counter() - s, 3)

    say("aiming at the features that carry the gap")
    targets = _targets(ctx, base, base_search)
    fit = splits.part("fit")
    directions = label_directions(fit[features], fit[training.label].to_numpy())
    queue = aimed_candidates(
        base,
        [t.feature for t in targets],
        directions,
        base_search.worst.attribute if base_search.worst else None,
    )[: opts.budget]

    evals: dict[str, Evaluation] = {base.id: base_search}
    tried: dict[str, Candidate] = {base.id: base}
    order: list[str] = []
    unmoved = 0
    stopped = "budget" if len(queue) >= opts.budget else "all candidates tried"
    current = frontier(evals)
    s = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        for start in range(0, len(queue), max(1, opts.jobs)):
            batch = queue[start : start + max(1, opts.jobs)]
            say(f"candidates {start + 1}-{start + len(batch)} of at most {len(queue)}")
            # LightGBM releases the GIL while it trains: threads use both cores
            list(pool.map(ctx.fit, batch))
            for c in batch:
                evals[c.id] = ctx.judge(c, "search", base_search_scores)[0]
                tried[c.id] = c
                order.append(c.id)
                moved = frontier(evals)
                unmoved = 0 if moved != current else unmoved + 1
                current = moved
            if unmoved >= opts.patience:
                stopped = f"frontier unmoved for {unmoved} candidates"
                break
    timings["search_s"] = round(time.perf_counter() - s, 3)
    timings["per_candidate_s"] = round(timings["search_s"] / max(1, len(order)), 3)

    chosen, why = recommend(evals, base.id, opts.tolerance, opts.max_approval_change)

    say("judging the frontier on the held-out split")
    s = time.perf_counter()
    judged_ids = sorted({base.id, *current, *([chosen] if chosen else [])})
    base_hold, base_hold_scores = ctx.judge(base, "holdout")
    held: dict[str, Evaluation] = {base.id: base_hold}
    for cid in judged_ids:
        if cid != base.id:
            held[cid] = ctx.judge(tried[cid], "holdout", base_hold_scores)[0]
    timings["holdout_s"] = round(time.perf_counter() - s, 3)
    timings["total_s"] = round(time.perf_counter() - t0, 3)

    boosters = {cid: ctx.fit(tried[cid]) for cid in judged_ids}
    return write_outputs(
        spec=spec,
        out_dir=out_dir or Path("lda") / spec.name,
        splits=splits,
        options=opts,
        base_source=ctx.base,
        performance_label=ctx.performance_label,
        targets=targets,
        candidates=[tried[base.id]] + [tried[c] for c in order],
        search=evals,
        holdout=held,
        frontier_ids=current,
        recommended=chosen,
        why=why,
        stopped=stopped,
        boosters=boosters,
        started=started,
        timings=timings,
    )


def _targets(ctx: _Context, base: Candidate, judged: Evaluation) -> list[Target]:
    training = training_of(ctx.spec)
    frame = ctx.splits.part("search")
    espec = evaluation_spec(ctx.spec, list(base.features), ctx.performance_label)
    batch = decisions_from_frame(espec, frame, ctx.splits.path)
    booster = ctx.fit(base)
    x = model_frame(frame, list(base.features), ctx.categories)
    plain = x.copy()
    for col in plain.columns:
        if isinstance(plain[col].dtype, pd.CategoricalDtype):
            plain[col] = plain[col].astype(object)
    adapter = LightGBMAdapter(booster)
    return aim(
        booster,
        adapter.encode(plain),
        frame[list(base.features)],
        batch.protected,
        judged.worst,
        training.top_k,
    )
