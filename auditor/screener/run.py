"""Run a screener audit's screener: applications -> variants -> scores -> paired effects.

The pipeline (:func:`auditor.pipeline.run_audit`) calls :func:`screen` for a spec with a
``screener:`` section and measures :attr:`Screened.frame` through the ordinary
decisions-only path, so every pack, preset, store and web view reads a screener audit as
any other. What only a paired design shows (each probe's within-application effect, with
intervals) is the :class:`~auditor.screener_block.ScreenerSummary` added to the result.

Verdict of a paired effect: a *finding* when its interval excludes zero. The intervals are
simultaneous over every contrast of the audit (Bonferroni: each at level 1 − α/m for m
contrasts), so the chance that a screener with no effect at all gets any finding is at
most α (``screener.alpha``, 0.05 by default).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import DataValidationError
from auditor.screener.applications import Record, check_unique_ids, load_applications
from auditor.screener.names import load_name_table
from auditor.screener.paired import paired_effects, repeat_consistency, top_k_exposure
from auditor.screener.probes import (
    AGE_COLUMN,
    PROBE_NAME,
    PROBE_PRONOUN,
    Variant,
    age_label,
    build_variants,
    probe_groups,
)
from auditor.screener.sections import probe_effect_by_section, section_attributions
from auditor.screener.targets import Network, Target, open_target
from auditor.screener_block import PairedEffectRecord, ScreenerRecord, ScreenerSummary
from auditor.spec import SCREENER_ID, AuditSpec, ScreenerSpec

Progress = Callable[[str], None]

PAIRED_NOTE = (
    "Each application appears once per variant in the selection-rate tables, so their rows "
    "are paired, not independent; those intervals treat them as independent, which "
    "overstates the uncertainty of a difference between groups whenever an application's "
    "variants are positively correlated (as they are for any screener that reads the rest "
    "of the application): the tables are conservative for differences, and the paired "
    "effects below are the sharper test."
)


@dataclass(frozen=True)
class Screened:
    """What scoring the variants produced."""

    frame: pd.DataFrame  # the standard path's decisions (one row per variant and repeat)
    scored: pd.DataFrame  # the long table of every probe (contract with paired.py)
    summary: ScreenerSummary
    warnings: tuple[str, ...] = ()


def network_for(spec: AuditSpec) -> Network:
    """What the operator configured: allowed hosts (settings + --allow-host), the cache."""
    from auditor.settings import load_settings

    settings = load_settings()
    hosts = settings.screener_host_allowlist if spec.code_allowed else ()
    return Network(
        allowed_hosts=(*hosts, *spec.operator_hosts),
        cache_dir=settings.screener_cache_dir,
        api_key=settings.screener_api_key,
    )


def screen(
    spec: AuditSpec, *, network: Network | None = None, progress: Progress | None = None
) -> Screened:
    """Score every variant of every application and measure each probe's paired effect."""
    sc = spec.screener
    if sc is None:
        raise DataValidationError(f"{spec.source}: not a screener audit")
    # the target first: a host the operator did not allow stops the audit before any
    # file is read or anything is sent
    target = open_target(spec, network or network_for(spec))
    try:
        records = load_applications(spec)
        check_unique_ids(spec, records)
        table = load_name_table()
        variants = build_variants(sc, records, table)
        if not variants:
            raise DataValidationError(f"{spec.source}: the probes produced no variants")
        scored = _score(target, variants, sc, progress)
        scored["selected"] = _selected(scored, sc)
        groups = probe_groups(sc)
        refs = _references(sc)
        # the number of contrasts first (a cheap pass), then every interval at alpha / m:
        # simultaneous intervals, so the chance of any false finding is at most alpha
        m = len(_effects(scored, groups, refs, sc.alpha, spec.seed, 200))
        level = sc.alpha / max(m, 1)
        # enough resamples that a Monte Carlo p-value (at least 1 / (resamples + 1)) and
        # the interval's tails can reach alpha / m
        resamples = max(sc.resamples, math.ceil(20 / level))
        effects = [
            _record(e, level)
            for e in _effects(scored, groups, refs, level, spec.seed, resamples)
        ]
        if progress:
            progress("section attributions")
        sections = _sections(spec, sc, target, records, variants, effects)
    finally:
        target.close()
    consistency: dict[str, Any] = {}
    if sc.repeats > 1:
        consistency = _plain(repeat_consistency(scored))
    exposure: tuple[dict[str, Any], ...] = ()
    if sc.output == "rank":
        exposure = _exposure(scored, groups, sc)
    tables_from = PROBE_NAME if sc.probes.names is not None else PROBE_PRONOUN
    summary = ScreenerSummary(
        applications=len(records),
        variants=len(variants),
        repeats=sc.repeats,
        output=sc.output,
        selection=sc.selection.model_dump(exclude_none=True),
        probes={p: tuple(a) for p, a in groups.items()},
        alpha=sc.alpha,
        comparisons=m,
        interval_level=1 - level,
        effects=tuple(effects),
        statement=_statement(sc, m, level),
        names_attribution=table.attribution,
        record=ScreenerRecord(
            kind=target.kind,
            identity=dict(target.identity),
            requests=target.log.requests,
            cache_hits=target.log.cache_hits,
            retries=target.log.retries,
            response_digests=tuple(target.log.response_digests),
        ),
        tables_from=tables_from,
        consistency=consistency,
        sections=sections,
        exposure=exposure,
    )
    return Screened(_frame(scored, tables_from, spec), scored, summary)


def _exposure(
    scored: pd.DataFrame, groups: dict[str, tuple[str, ...]], sc: ScreenerSpec
) -> tuple[dict[str, Any], ...]:
    """Top-k exposure of a ranker's pool of name variants, k = the variants it selects."""
    pool = scored[scored["probe"] == PROBE_NAME]
    if pool.empty:
        return ()
    k = max(int(pool.groupby(["application_id", "variant"])["selected"].mean().round().sum()), 1)
    return tuple(
        _plain(e) for e in top_k_exposure(pool, list(groups[PROBE_NAME]), k, higher_is_better=False)
    )


def _references(sc: ScreenerSpec) -> dict[str, str]:
    """Reference groups: Male and White (paired.py's defaults), the later graduation year,
    a custom probe's first variant."""
    refs: dict[str, str] = {}
    if sc.probes.age is not None:
        refs[AGE_COLUMN] = age_label(sc.probes.age.younger, sc.probes.age)
    for custom in sc.probes.custom:
        refs[custom.name] = next(iter(custom.variants))
    return refs


def _effects(
    scored: pd.DataFrame,
    groups: dict[str, tuple[str, ...]],
    refs: dict[str, str],
    alpha: float,
    seed: int,
    resamples: int,
) -> list[Any]:
    out: list[Any] = []
    for probe, attrs in groups.items():
        part = scored[scored["probe"] == probe]
        if part.empty:
            continue
        out += paired_effects(
            part, list(attrs), alpha=alpha, seed=seed, resamples=resamples, references=refs
        )
    return out


THROUGH_ALPHA = 0.05  # the "runs through a section" intervals: 95% each, descriptive
METHOD_LABELS = {
    "leave_one_out": "leave one section out",
    "occlusion": "occlusion",
    "gradients": "gradients (input x gradient, local torch model)",
}
SECTION_COLUMNS = [
    "Section",
    "Mean change of score",
    "Interval low",
    "Interval high",
    "Applications with text",
]


def _sections(
    spec: AuditSpec,
    sc: ScreenerSpec,
    target: Target,
    records: list[Record],
    variants: list[Variant],
    effects: list[PairedEffectRecord],
) -> dict[str, Any]:
    """Section attributions by each method the spec names (``screener.attributions``) on
    the first applications, and, for each name finding of sex or race/ethnicity, the
    effect re-measured with each field removed from both variants.

    The first method's table stays under the block's top-level keys (``method``,
    ``columns``, ``rows``, ``note``) and the first name finding's under ``probe``, as in
    results written before the methods could be chosen; ``tables`` and ``probes`` hold all
    of them, each with the records it scored (``calls``)."""
    how = sc.attributions
    if not how.methods and not how.through_sections:
        return {}
    sample = records[: how.applications]

    def score(rs: list[dict[str, object]]) -> list[float]:
        return target.score(rs, 0)

    tables = [_attribution_table(m, score, sample, sc, spec.seed, target) for m in how.methods]
    out: dict[str, Any] = {}
    if tables:
        first = tables[0]
        out.update(
            method=first["label"],
            columns=SECTION_COLUMNS,
            rows=first["rows"],
            note=first["note"],
        )
    out["applications"] = len(sample)
    out["tables"] = tables
    probes = (
        _through_sections(sc, score, variants, effects, how.applications, spec.seed)
        if how.through_sections
        else []
    )
    if probes:
        out["probe"] = probes[0]
        out["probes"] = probes
    out["calls"] = sum(t["calls"] for t in tables) + sum(p["calls"] for p in probes)
    return out


def _attribution_table(
    method: str,
    score: Callable[[list[dict[str, object]]], list[float]],
    sample: list[Record],
    sc: ScreenerSpec,
    seed: int,
    target: Target,
) -> dict[str, Any]:
    attrs = section_attributions(
        score,
        sample,
        list(sc.text_fields),
        method="gradient" if method == "gradients" else method,
        seed=seed,
        resamples=2_000,
        window=sc.attributions.window,
        model=getattr(target, "model", None),
    )
    label = METHOD_LABELS[method]
    if method == "occlusion":
        label += f" ({sc.attributions.window} words at a time)"
        meaning = (
            "the sum over the section's windows of the score with the window minus the "
            "score with it deleted"
        )
    elif method == "gradients":
        meaning = (
            "the sum over the section's tokens of the gradient of the score with respect to "
            "the token's presence (no calls)"
        )
    else:
        meaning = "the score with the section minus the score with it removed"
    cost = (
        "no calls to the screener"
        if attrs.calls == 0
        else f"{attrs.calls:,} records scored ({len(sample):,} unchanged and "
        f"{attrs.calls - len(sample):,} changed)"
    )
    return {
        "method": method,
        "label": label,
        "calls": attrs.calls,
        "columns": SECTION_COLUMNS,
        "rows": [
            [a.section, a.mean, a.ci_low, a.ci_high, a.applications] for a in attrs.sections
        ],
        "note": f"{len(sample):,} applications; mean score of the unchanged applications "
        f"{attrs.mean_score:.4f}; a section's attribution is {meaning}; intervals: "
        f"{attrs.interval}, each on its own (not simultaneous); cost: {cost}.",
    }


def _through_sections(
    sc: ScreenerSpec,
    score: Callable[[list[dict[str, object]]], list[float]],
    variants: list[Variant],
    effects: list[PairedEffectRecord],
    limit: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Does a name finding's effect run through a field? For the largest finding of each
    attribute (sex, race/ethnicity; not their intersection), the paired effect of the first
    name of each side, with nothing removed and with each field removed from both."""
    found = [e for e in effects if e.finding and e.probe == PROBE_NAME and " & " not in e.attribute]
    largest: dict[str, PairedEffectRecord] = {}
    for e in found:
        if e.attribute not in largest or abs(e.mean_difference) > abs(
            largest[e.attribute].mean_difference
        ):
            largest[e.attribute] = e
    fields = [sc.name_field, *sc.text_fields]
    out = []
    for top in largest.values():
        by_app: dict[str, dict[str, Record]] = {}
        for v in variants:
            side_value = v.groups.get(top.attribute)
            if v.probe != PROBE_NAME or side_value not in (top.group, top.reference):
                continue
            side = "group" if side_value == top.group else "reference"
            by_app.setdefault(v.application_id, {}).setdefault(side, v.record)
        pairs = [p for p in by_app.values() if len(p) == 2][:limit]
        if not pairs:
            continue
        through = probe_effect_by_section(
            score,
            [p["group"] for p in pairs],
            [p["reference"] for p in pairs],
            fields,
            alpha=THROUGH_ALPHA,
            seed=seed,
        )
        rows = [
            [t.removed or "(nothing removed)", t.mean_difference, t.ci_low, t.ci_high]
            for t in through
        ]
        out.append(
            {
                "contrast": f"{top.attribute} = {top.group} vs {top.reference}, "
                "the first name variant of each",
                "applications": len(pairs),
                "level": 1 - THROUGH_ALPHA,
                "calls": 2 * len(pairs) * (1 + len(fields)),
                "rows": rows,
                "reading": _through_reading(rows),
            }
        )
    return out


def _through_reading(rows: list[list[Any]]) -> str:
    """One sentence answering "does the effect run through a field?" from the intervals."""

    def covers_zero(row: list[Any]) -> bool:
        return bool(row[2] <= 0 <= row[3])

    base, removed = rows[0], rows[1:]
    if covers_zero(base):
        return (
            "On these applications the effect's 95% interval includes 0 even with nothing "
            "removed, so no field can be said to carry it."
        )
    gone = [str(r[0]) for r in removed if covers_zero(r)]
    if not gone:
        return (
            "The effect's interval excludes 0 whichever single field is removed: it does "
            "not run through any one field alone."
        )
    which = f"the {gone[0]} field" if len(gone) == 1 else "the fields " + ", ".join(gone)
    kept = (
        ""
        if len(gone) == len(removed)
        else " With any other field removed it stays (interval excludes 0)."
    )
    return (
        f"The effect's 95% interval includes 0 when {which} "
        f"{'is' if len(gone) == 1 else 'are each'} removed from both variants: it runs "
        f"through {which}.{kept}"
    )


def _score(
    target: Target, variants: list[Variant], sc: ScreenerSpec, progress: Progress | None
) -> pd.DataFrame:
    records = [v.record for v in variants]
    columns: dict[str, list[Any]] = {
        "application_id": [],
        "probe": [],
        "variant": [],
        "repeat": [],
        "score": [],
    }
    group_names = sorted({g for v in variants for g in v.groups})
    group_cols: dict[str, list[Any]] = {g: [] for g in group_names}
    for repeat in range(sc.repeats):
        if progress:
            progress(f"score variants ({repeat + 1}/{sc.repeats})")
        scores = target.score(records, repeat)
        for v, s in zip(variants, scores, strict=True):
            columns["application_id"].append(v.application_id)
            columns["probe"].append(v.probe)
            columns["variant"].append(v.variant)
            columns["repeat"].append(repeat)
            columns["score"].append(s)
            for g in group_names:
                group_cols[g].append(v.groups.get(g))
    frame = pd.DataFrame({**columns, **group_cols})
    frame["score"] = frame["score"].astype(float)
    frame["repeat"] = frame["repeat"].astype(int)
    return frame


def _selected(scored: pd.DataFrame, sc: ScreenerSpec) -> pd.Series:
    """Which variants the screener selects: at or above the threshold (at or below it for
    ranks, 1 = first), or the top share of the variant pool."""
    score = scored["score"].to_numpy(float)
    if sc.output == "rank":
        score = -score  # lower rank is better
    rule = sc.selection
    if rule.threshold is not None:
        cut = -rule.threshold if sc.output == "rank" else rule.threshold
        return pd.Series(score >= cut, index=scored.index)
    # top share: the cut-off from the pool the standard tables cover
    share = float(rule.top_share or 0.0)
    pool = scored["probe"] == (PROBE_NAME if sc.probes.names is not None else PROBE_PRONOUN)
    cut = float(np.quantile(score[pool.to_numpy()], 1 - share))
    return pd.Series(score >= cut, index=scored.index)


def _record(e: Any, level: float) -> PairedEffectRecord:
    # the interval excludes zero, and the sign-flip test agrees: with a handful of
    # applications a constant difference gives a bootstrap interval of zero width, while
    # the exact sign-flip p-value (2 / 2**n at best) says how little n applications show
    finding = bool((e.ci_low > 0 or e.ci_high < 0) and e.p_value < level)
    return PairedEffectRecord(
        probe=e.probe,
        attribute=e.attribute,
        group=e.group,
        reference=e.reference,
        applications=int(e.applications),
        mean_difference=float(e.mean_difference),
        ci_low=float(e.ci_low),
        ci_high=float(e.ci_high),
        p_value=float(e.p_value),
        method=str(e.method),
        selection_rate_difference=(
            None if e.selection_rate_difference is None else float(e.selection_rate_difference)
        ),
        finding=finding,
    )


def _plain(obj: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = dataclasses.asdict(obj)
    elif isinstance(obj, dict):
        data = dict(obj)
    else:
        data = {"value": repr(obj)}
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in data.items()}


def _statement(sc: ScreenerSpec, m: int, level: float) -> str:
    return (
        f"A probe's effect is a finding when its interval excludes zero and the paired "
        f"sign-flip test agrees (p below {level:.2g}). The {m} intervals and tests are "
        f"simultaneous (Bonferroni: each at {1 - level:.2%} for {m} contrasts), so a "
        f"screener with no effect at all gets any finding with probability at most "
        f"{sc.alpha:g}. Differences are in the screener's {sc.output} units, the variant "
        "minus the reference variant of the same application, averaged over applications."
    )


def _frame(scored: pd.DataFrame, tables_from: str, spec: AuditSpec) -> pd.DataFrame:
    """The standard path's decisions: one row per variant and repeat of the probe whose
    groups the tables cover, with the audit's protected columns."""
    part = scored[scored["probe"] == tables_from].reset_index(drop=True)
    ids = (
        part["application_id"].astype(str)
        + "|"
        + part["variant"].astype(str)
        + "|"
        + part["repeat"].astype(str)
    )
    # a ranker's rank is negated, so that a higher score is better in the scoring-rate
    # tables as for every other screener (rank 1 scores -1, the highest)
    rank = spec.screener is not None and spec.screener.output == "rank"
    score = -part["score"] if rank else part["score"]
    frame = pd.DataFrame(
        {SCREENER_ID: ids, "selected": part["selected"].astype(int), "score": score}
    )
    for attr in spec.protected:
        frame[attr] = part[attr].astype(str) if attr in part else None
    return frame
