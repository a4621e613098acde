"""``search_alternatives``: a seeded, budgeted search for less discriminatory alternatives.

Candidates are fitted on the fit split and compared on the search split; the search stops
at the budget or when the frontier has not moved for ``patience`` candidates. The
baseline, the frontier and the recommendation are then judged on the held-out split,
which no choice of the search has seen.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.data import decisions_from_frame
from auditor.errors import AuditorError, ModelLoadError
from auditor.lda.aim import Target, aim
from auditor.lda.candidates import (
    Abilities,
    Candidate,
    aimed_candidates,
    baseline,
    label_directions,
)
from auditor.lda.evaluate import Evaluation, evaluate, evaluation_spec, ratio_packs
from auditor.lda.fit import base_model, text_categories
from auditor.lda.frontier import frontier, measure, recommend
from auditor.lda.learners import Learner, check_numeric, run_params, variant_grid
from auditor.lda.options import SearchOptions, SearchResult, Tolerance
from auditor.lda.record import write_outputs
from auditor.lda.split import Splits, features_of, load_splits, training_of
from auditor.lda.worker import (
    FitData,
    Fitted,
    fit_candidate,
    init_worker,
    inputs,
    ready,
    run_fit,
)
from auditor.models.lightgbm_adapter import LightGBMAdapter
from auditor.policy import PolicyPack, load_packs
from auditor.spec import AuditSpec, load_spec

Progress = Callable[[str], None]


@dataclass
class _Context:
    spec: AuditSpec
    splits: Splits
    data: FitData
    performance_label: str
    packs: list[PolicyPack]
    on: Any  # the audit date the packs' rules are read on
    tolerance: Tolerance
    loss: tuple[float, float] | None  # per bad approval, per good approval (gain)
    fitted: dict[tuple[Any, ...], Fitted] = field(default_factory=dict)

    @property
    def learner(self) -> Learner:
        return self.data.learner

    def judge(
        self, c: Candidate, part: str, base_scores: np.ndarray | None = None
    ) -> tuple[Evaluation, np.ndarray]:
        frame = self.splits.part(part)
        s = self.fitted[c.fit_key].scores[part]
        espec = evaluation_spec(self.spec, list(c.features), self.performance_label)
        return (
            evaluate(
                espec, frame, s, c.threshold, part, base_scores, self.packs, self.on, self.loss
            ),
            s,
        )


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
    if opts.budget < 1 or opts.patience < 1 or opts.jobs < 1:
        raise AuditorError("lda: budget, patience and jobs must be at least 1")
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    training = training_of(spec)
    tolerance = _tolerance(opts, training.tolerance_on, training.tolerance)
    features = features_of(spec)
    learner = base_model(spec)
    splits = load_splits(spec)
    check_numeric(learner, splits.frame, features, splits.path)
    packs = ratio_packs(load_packs(spec.policies, extra=spec.policy_folders()))
    ctx = _Context(
        spec=spec,
        splits=splits,
        data=FitData(
            learner=learner,
            fit=splits.part("fit"),
            search=splits.part("search"),
            holdout=splits.part("holdout"),
            label=training.label,
            categories=text_categories(splits.frame, features),
            seed=training.split.seed,
        ),
        performance_label=training.performance_label or training.label,
        packs=packs,
        on=spec.audit_date or started.date(),
        tolerance=tolerance,
        loss=None
        if training.loss_per_bad_approval is None or training.gain_per_good_approval is None
        else (training.loss_per_bad_approval, training.gain_per_good_approval),
    )

    fits = _Fits(ctx, opts.jobs).start()
    try:
        return _search(ctx, opts, fits, say, out_dir or Path("lda") / spec.name, (started, t0))
    finally:
        fits.close()


def _search(
    ctx: _Context,
    opts: SearchOptions,
    fits: _Fits,
    say: Progress,
    out_dir: Path,
    clock: tuple[datetime, float],
) -> SearchResult:
    """The search itself, with the workers already starting (see ``search_alternatives``)."""
    spec, splits, learner = ctx.spec, ctx.splits, ctx.learner
    started, t0 = clock
    training = training_of(spec)
    features = features_of(spec)
    timings: dict[str, float] = {}
    say(f"fitting the baseline ({learner.kind})")
    s = time.perf_counter()
    base = baseline(features, spec.threshold)
    fitted = fit_candidate(ctx.data, base)
    if fitted.error is not None:
        raise ModelLoadError(
            f"{spec.source}: training.model: the baseline could not be trained ({fitted.error})"
        )
    ctx.fitted[base.fit_key] = fitted
    timings["baseline_train_s"] = round(fitted.seconds, 3)
    base_search, base_search_scores = ctx.judge(base, "search")
    timings["baseline_fit_s"] = round(time.perf_counter() - s, 3)

    say("aiming at the features that carry the gap")
    targets, aimed_by = _targets(ctx, base, base_search)
    fit = ctx.data.fit
    directions = label_directions(fit[features], fit[training.label].to_numpy())
    queue, notes = aimed_candidates(
        base,
        [t.feature for t in targets],
        directions,
        base_search.worst.attribute if base_search.worst else None,
        Abilities(learner.monotone, learner.native_bins, learner.kind),
        fit,
        _variants(learner, training.variants, training.split.seed),
    )
    queue = queue[: opts.budget]
    fits.plan(queue)

    evals: dict[str, Evaluation] = {base.id: base_search}
    tried: dict[str, Candidate] = {base.id: base}
    errors: dict[str, str] = {}
    order: list[str] = []
    unmoved = 0
    stopped = "budget" if len(queue) >= opts.budget else "all candidates tried"
    current = frontier(evals)
    s = time.perf_counter()
    for k, c in enumerate(queue):
        if k % 4 == 0:
            say(f"candidates {k + 1}-{min(k + 4, len(queue))} of at most {len(queue)}")
        result = fits.get(c)
        tried[c.id] = c
        order.append(c.id)
        if result.error is not None:
            errors[c.id] = result.error
            unmoved += 1
        else:
            evals[c.id] = ctx.judge(c, "search", base_search_scores)[0]
            moved = frontier(evals)
            unmoved = 0 if moved != current else unmoved + 1
            current = moved
        # decided candidate by candidate, in queue order: the same stop for any
        # number of workers (fits done ahead of a stop are dropped, not recorded)
        if unmoved >= opts.patience and k + 1 < len(queue):
            stopped = f"frontier unmoved for {unmoved} candidates"
            break
    timings["search_s"] = round(time.perf_counter() - s, 3)
    timings["per_candidate_s"] = round(timings["search_s"] / max(1, len(order)), 3)
    timings["jobs"] = opts.jobs

    tol = ctx.tolerance
    chosen, why = recommend(evals, base.id, tol.value, tol.max_approval_change, measure(tol.on))

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

    return write_outputs(
        spec=spec,
        out_dir=out_dir,
        splits=splits,
        options=opts,
        tolerance=ctx.tolerance,
        learner=learner,
        performance_label=ctx.performance_label,
        targets=targets,
        aimed_by=aimed_by,
        notes=notes,
        candidates=[tried[base.id]] + [tried[c] for c in order],
        search=evals,
        errors=errors,
        holdout=held,
        frontier_ids=current,
        recommended=chosen,
        why=why,
        stopped=stopped,
        models={cid: ctx.fitted[tried[cid].fit_key].model for cid in judged_ids},
        started=started,
        timings=timings,
    )


class _Fits:
    """The candidates' fits: in this process (one job), or in a pool of worker processes
    (LightGBM, torch and scikit-learn all run one thread per fit), submitted in queue
    order a few ahead of the one read, and read back in the same order."""

    def __init__(self, ctx: _Context, jobs: int) -> None:
        self.ctx = ctx
        self.jobs = jobs
        self.pool: ProcessPoolExecutor | None = None
        self.todo: list[Candidate] = []
        self.futures: dict[tuple[Any, ...], Future[Fitted]] = {}

    def start(self) -> _Fits:
        """Start the workers now: they load while this process fits the baseline."""
        if self.jobs > 1:
            # forkserver: workers start from a clean process, not a fork of one whose
            # OpenMP or torch threads may hold locks
            context: BaseContext
            if "forkserver" in multiprocessing.get_all_start_methods():
                server = multiprocessing.get_context("forkserver")
                # the server imports the fitting code once; each worker is a cheap fork
                server.set_forkserver_preload(["auditor.lda.worker"])
                context = server
            else:  # Windows: spawned workers, the same results
                context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=context,
                initializer=init_worker,
                initargs=(self.ctx.data,),
            )
            with _caller_main_hidden():  # the workers start at the first submit
                for _ in range(self.jobs):
                    self.pool.submit(ready)
        return self

    def plan(self, queue: list[Candidate]) -> None:
        """The fits the queue needs, one per distinct model, in queue order."""
        seen = set(self.ctx.fitted)
        for c in queue:
            if c.fit_key not in seen:
                seen.add(c.fit_key)
                self.todo.append(c)

    def get(self, c: Candidate) -> Fitted:
        if c.fit_key not in self.ctx.fitted:
            if self.pool is not None:
                # keep every worker busy, and no more: fits past an early stop are waste
                at = next(k for k, t in enumerate(self.todo) if t.fit_key == c.fit_key)
                for t in self.todo[at : at + self.jobs + 1]:
                    if t.fit_key not in self.futures:
                        self.futures[t.fit_key] = self.pool.submit(run_fit, t)
                self.ctx.fitted[c.fit_key] = self.futures[c.fit_key].result()
            else:
                self.ctx.fitted[c.fit_key] = fit_candidate(self.ctx.data, c)
        return self.ctx.fitted[c.fit_key]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _caller_main_hidden() -> Iterator[None]:
    """Workers need nothing from the caller's ``__main__``; a new process would otherwise
    import it again, re-running an unguarded script (no ``if __name__ == "__main__"``)."""
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _tolerance(opts: SearchOptions, on: str, from_spec: float | None) -> Tolerance:
    """The tolerance the search applies: the option's, else the spec's, else 0.01."""
    value = opts.tolerance if opts.tolerance is not None else from_spec
    value = 0.01 if value is None else value
    if value < 0 or (on != "expected_loss" and value >= 1):
        raise AuditorError(
            f"lda: a tolerance on {on} must be in [0, 1) (it is {value}); only a tolerance on "
            "expected_loss, in the unit of the loss values, may be 1 or more"
        )
    return Tolerance(on, value, opts.max_approval_change)


def _variants(learner: Learner, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` hyperparameter changes drawn (seeded) from the learner's small grid, in
    grid order."""
    grid = variant_grid(learner)
    if count <= 0 or not grid:
        return []
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(grid), size=min(count, len(grid)), replace=False).tolist())
    return [grid[i] for i in picked]


def _targets(ctx: _Context, base: Candidate, judged: Evaluation) -> tuple[list[Target], str]:
    """The features to aim at, and what explained the refit model: its own exact tree SHAP
    (LightGBM), or that of a LightGBM surrogate fitted to its log-odds on the fit rows."""
    training = training_of(ctx.spec)
    frame = ctx.splits.part("search")
    espec = evaluation_spec(ctx.spec, list(base.features), ctx.performance_label)
    batch = decisions_from_frame(espec, frame, ctx.splits.path)
    model = ctx.fitted[base.fit_key].model
    x = inputs(ctx.data, frame, base)
    if ctx.learner.kind == "lightgbm":
        booster: lgb.Booster = model
        how = "exact tree SHAP of the refit LightGBM model"
    else:
        booster, r2 = _surrogate(ctx, base)
        how = (
            f"exact tree SHAP of a LightGBM surrogate fitted to the refit {ctx.learner.kind} "
            f"model's log-odds on the fit split (R² {r2:.3f} on the search split)"
        )
        x = inputs(_lgb_data(ctx), frame, base)
    plain = x.copy()
    for col in plain.columns:
        if isinstance(plain[col].dtype, pd.CategoricalDtype):
            plain[col] = plain[col].astype(object)
    adapter = LightGBMAdapter(booster)
    found = aim(
        booster,
        adapter.encode(plain),
        frame[list(base.features)],
        batch.protected,
        judged.worst,
        training.top_k,
    )
    return found, how


def _lgb_data(ctx: _Context) -> FitData:
    return FitData(
        Learner("lightgbm", "surrogate", {}),
        ctx.data.fit,
        ctx.data.search,
        ctx.data.holdout,
        ctx.data.label,
        ctx.data.categories,
        ctx.data.seed,
    )


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    out: np.ndarray = np.log(q / (1 - q))
    return out


def _surrogate(ctx: _Context, base: Candidate) -> tuple[lgb.Booster, float]:
    """A LightGBM regression of the refit model's log-odds (seeded, one thread)."""
    data = _lgb_data(ctx)
    scores = ctx.fitted[base.fit_key].scores
    params = run_params(
        {"objective": "regression", "num_leaves": 31, "learning_rate": 0.1}, ctx.data.seed
    )
    booster = lgb.train(
        params,
        lgb.Dataset(inputs(data, data.fit, base), _logit(scores["fit"])),
        num_boost_round=150,
    )
    truth = _logit(scores["search"])
    pred = np.asarray(booster.predict(inputs(data, data.search, base)), dtype=np.float64)
    r2 = 1.0 - float(np.sum((truth - pred) ** 2) / max(np.sum((truth - truth.mean()) ** 2), 1e-12))
    return booster, r2
