"""Letters for decisions read with Spark, built where the decisions are.

A Spark audit stores no decision rows (the driver holds none); its letters read the
audited data again (the spec's ``data.path``, checked against the audit's data and model
fingerprints) with the reading of :class:`~auditor.engine.spark.SparkAudit`, whose layout
gives every row its global position. Three kinds of pass, each a ``mapInArrow``:

1. *summary*: one small pickled summary per partition: rows and favourable decisions
   (the letters' places in the batch), the selected ids and recipients found, the
   ``cutoff`` baseline's candidates (the lowest scores at or above the threshold, with
   their positions), per encoded feature the review's noise
   reference (a few distinct values, count, mean and squared deviations, whole-number
   flag), per actionable numeric feature its range, which integer features have gaps;
2. *rows*: the baseline rows (a ``favorable`` sample needs the positions of the k-th
   favourable decisions: one more summary pass) and the first row;
3. *letters*: each partition builds, checks and renders its letters with
   :func:`auditor.letters.plan.build_letters` (the in-memory path's code) against
   the global inputs merged on the driver, and returns per letter its record, HTML and
   PDF. The driver collects them in batch order, records the largest additivity error
   of the attributions on every letter (as the in-memory path does), and stores them in
   one transaction.

What equals the in-memory path exactly: the baseline rows, the counterfactual ranges,
each letter's attributions, reasons, counterfactual, checks, HTML and PDF. The review's
noise scale is a feature's standard deviation, merged from per-partition moments: equal
to NumPy's over all rows up to rounding (a perturbed copy can then differ in its last
bits; its principal reasons only when they tie).
"""

from __future__ import annotations

import contextlib
import pickle
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.engine.partials import PART_BITS, POS, Layout
from auditor.explain.quality.stability import DISCRETE_MAX, FeatureNoise, recorded_decimals
from auditor.letters.baseline import Baseline, choose_baseline, sample_baseline
from auditor.letters.counterfactuals import CounterfactualSearch
from auditor.letters.output import store_letters, write_letters
from auditor.letters.plan import (
    LetterDecisions,
    LetterError,
    LetterPlan,
    Progress,
    audit_spec,
    audited_model,
    build_letters,
    choose_kind,
    finish_letters,
    unknown_decisions,
)
from auditor.letters.recipients import Recipient, match_recipients
from auditor.letters.record import IssuedLetter
from auditor.letters.render import RenderQueue
from auditor.provenance import is_url
from auditor.spec import AuditSpec
from auditor.store import Store, load_result
from auditor.store.decisions import decision_source

CHUNK = 64  # letters built and returned together by a task (bounds its memory)


@dataclass
class _Part:
    """One partition's summary (see the module docstring, pass 1)."""

    key: int
    rows: int
    first: int  # global position of its first row
    favorable: int = 0
    found: dict[str, int] = field(default_factory=dict)  # selected id -> position
    addressed: set[str] = field(default_factory=set)  # recipients' ids in the data
    lacking: list[str] = field(default_factory=list)  # selected ids without a recipient
    cand_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cand_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    gaps: set[str] = field(default_factory=set)  # integer features with missing values
    distinct: list[np.ndarray] = field(default_factory=list)
    count: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    whole: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    magnitude: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decimals: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class _Job:
    """What every task receives: the spec, the model's bytes, the data's layout."""

    spec: AuditSpec
    model_bytes: bytes
    model_name: str
    layout: Layout
    features: list[str]
    floats: frozenset[str]  # features read as float64 (as the stored decisions would be)
    ints: frozenset[str]  # features read as int64
    mode: str  # adverse | all | ids
    wanted: frozenset[str] = frozenset()
    recipients: frozenset[str] | None = None
    keep: int = 5  # cutoff candidates per partition


@dataclass(frozen=True)
class _LetterJob:
    """The letters pass: the global inputs and each partition's letters."""

    job: _Job
    plan: LetterPlan
    reference: pd.DataFrame  # the counterfactual search's per-feature inputs
    offsets: dict[int, int]  # partition key -> its first letter's place (adverse, all)
    places: dict[int, list[int]]  # position -> letters' places (ids)


def issue_letters_spark(
    store: Store,
    audit_id: str,
    *,
    kind: str | None = None,
    decisions: str = "adverse",
    out_dir: Path | None = None,
    json_path: Path | None = None,
    progress: Progress | None = None,
    recipients: Mapping[str, Recipient] | None = None,
    master: str | None = None,
) -> list[IssuedLetter]:
    """:func:`~auditor.letters.service.issue_letters` with the decisions read by Spark."""
    from auditor.engine.spark import SparkAudit

    with store.session() as session:
        result = load_result(session, audit_id)
        source = decision_source(session, audit_id)
    if source is None:
        raise LetterError(
            f"Audit {audit_id} kept no decisions for letters: its spec had no 'letters:' "
            "section when it was stored."
        )
    spec = audit_spec(result.spec, source[1], audit_id)
    if master:
        spec = spec.model_copy(update={"engine": spec.engine.model_copy(update={"master": master})})
    letters = spec.letters
    assert letters is not None  # checked by audit_spec
    chosen = choose_kind(kind, letters, spec.domain)
    model = audited_model(spec, result.provenance.model_sha256, audit_id)
    _check_data(spec, result.provenance.data_sha256, audit_id)
    audit = SparkAudit(spec)
    audit.layout()
    schema = {f.name: f.dataType for f in audit.frame.schema.fields}
    features = list(spec.columns.features)
    mode = decisions if decisions in ("adverse", "all") else "ids"
    wanted = [d.strip() for d in decisions.split(",") if d.strip()] if mode == "ids" else []
    assert spec.model is not None
    model_path = spec.resolve(spec.model.path)
    job = _Job(
        spec=spec,
        model_bytes=model_path.read_bytes(),
        model_name=model_path.name,
        layout=audit.job.layout,
        features=features,
        floats=frozenset(f for f in features if _fractional(schema[f])),
        ints=frozenset(f for f in features if _integral(schema[f])),
        mode=mode,
        wanted=frozenset(wanted),
        recipients=frozenset(recipients) if recipients is not None else None,
        keep=max(letters.baseline.max_rows, 5),
    )
    columns = _columns(spec)
    parts = [r for _, r in audit._map(audit.frame, columns, partial(_summary, job=job))]
    parts.sort(key=lambda p: p.first)
    gaps = set().union(*(p.gaps for p in parts))
    job = replace(job, floats=job.floats | gaps, ints=job.ints - gaps)
    # the letters' places in the batch, as the in-memory path orders them
    places: dict[int, list[int]] = {}
    offsets: dict[int, int] = {}
    if mode == "ids":
        found = {d: pos for p in parts for d, pos in p.found.items()}
        unknown = [d for d in wanted if d not in found]
        if unknown or not wanted:
            raise unknown_decisions(unknown)
        for i, d in enumerate(wanted):
            places.setdefault(found[d], []).append(i)
        total = len(wanted)
        lacking = wanted
    else:
        total = 0
        for p in parts:
            offsets[p.key] = total
            total += p.rows if mode == "all" else p.rows - p.favorable
        lacking = [d for p in parts for d in p.lacking]
    if recipients is not None:
        addressed = set().union(*(p.addressed for p in parts))
        match_recipients(recipients, addressed, lacking)
    base = _baseline(audit, job, parts)
    baseline_x = model.encode(_as_stored(audit.take(base.rows, features), job))
    first = _as_stored(audit.take(np.array([0]), features), job)
    reference = _reference(first, parts, job)
    # validates the counterfactual settings here, before any task runs
    CounterfactualSearch(model, letters.counterfactual, reference, spec.threshold)
    noise = _noise(parts, letters.review.noise) if total else None
    plan = LetterPlan.of(spec, chosen, base, baseline_x, noise, total, model, recipients)
    letter_job = _LetterJob(job, plan, reference, offsets, places)
    out = _collect(audit, columns, letter_job, progress)
    store_letters(store, audit_id, out)
    write_letters(out, out_dir, json_path)
    return out


def _check_data(spec: AuditSpec, expected: str, audit_id: str) -> None:
    from auditor.engine.spark import data_location
    from auditor.pipeline import data_sha256

    where = data_location(spec)
    if not is_url(spec.data.path) and not Path(where).exists():
        raise LetterError(
            f"Data {where} of audit {audit_id} is gone; with --engine spark the letters read "
            "the audited decisions from it."
        )
    actual = data_sha256(spec)
    if actual != expected:
        raise LetterError(
            f"Data {where} has changed since audit {audit_id} (SHA-256 {actual[:12]}..., "
            f"audit recorded {expected[:12]}...); letters must explain the decisions "
            "that were audited."
        )


def _columns(spec: AuditSpec) -> list[str]:
    cols = spec.columns
    # the consumer-report columns the letters name (per-consumer FCRA facts)
    report = spec.letters.consumer_report.columns.named() if spec.letters is not None else []
    wanted = [cols.id, cols.decision, cols.score, *cols.features, *report]
    return list(dict.fromkeys(c for c in wanted if c))


def _fractional(kind: Any) -> bool:
    from pyspark.sql.types import DecimalType, DoubleType, FloatType

    return isinstance(kind, DoubleType | FloatType | DecimalType)


def _integral(kind: Any) -> bool:
    from pyspark.sql.types import ByteType, IntegerType, LongType, ShortType

    return isinstance(kind, ByteType | ShortType | IntegerType | LongType)


def _as_stored(frame: pd.DataFrame, job: _Job) -> pd.DataFrame:
    """The features as the stored decisions hold them (JSON values, read back by pandas):
    integers as int64 (float64 when the column has a gap anywhere), numbers as float64."""
    out = frame[job.features].reset_index(drop=True)
    for name in job.features:
        if name in job.floats:
            out[name] = pd.to_numeric(out[name]).astype(np.float64)
        elif name in job.ints:
            out[name] = out[name].astype(np.int64)
    return out


def _outcomes(
    frame: pd.DataFrame, job: _Job, model: Any, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's score and favourable outcome, as the in-memory audit stores them."""
    from auditor.data import binary_column, score_column
    from auditor.errors import DataValidationError

    spec = job.spec
    problems: list[str] = []
    decided = binary_column(frame, spec.columns.decision, spec.favorable, problems, True)
    scores = score_column(frame, spec.columns.score, problems)
    if problems:  # the layout's checks passed: only a file changed under us gets here
        raise DataValidationError(f"{spec.data.path}: the data changed.", problems=problems)
    if scores is None:
        scores = np.asarray(model.score(x), dtype=np.float64)
    if decided is None:
        decided = (scores >= spec.threshold).astype(np.int8)
    return scores, np.asarray(decided).astype(bool)


def _partition(frame: pd.DataFrame, job: _Job) -> tuple[Any, pd.DataFrame, np.ndarray, Any]:
    from auditor.engine.spark import worker_model

    # one task per core: one OpenMP thread, one thread for the TreeSHAP kernels
    from auditor.worker_threads import limit_worker_threads

    model = worker_model(job.spec, job.model_bytes, job.model_name)
    limit_worker_threads(1)  # after the model library loaded its OpenMP
    raw = frame.drop(columns=[POS])
    features = _as_stored(raw, job)
    positions = job.layout.positions(frame[POS].to_numpy(dtype=np.int64))
    return model, features, positions, raw


def _summary(frame: pd.DataFrame, part: int, job: _Job) -> _Part:
    """Pass 1 (see the module docstring)."""
    del part
    spec = job.spec
    letters = spec.letters
    assert letters is not None
    gaps = {f for f in job.ints if frame[f].isna().any()}
    model, features, positions, raw = _partition(frame, replace(job, ints=job.ints - gaps))
    x = np.asarray(model.encode(features), dtype=np.float64)
    scores, favorable = _outcomes(raw, job, model, x)
    ids = raw[spec.columns.id].astype(str).to_numpy()
    out = _Part(
        key=int(frame[POS].iloc[0]) >> PART_BITS,
        rows=len(frame),
        first=int(positions[0]),
        favorable=int(favorable.sum()),
        gaps=gaps,
    )
    selected = ~favorable if job.mode == "adverse" else np.ones(len(ids), dtype=bool)
    if job.mode == "ids":
        out.found = {d: int(p) for d, p in zip(ids, positions, strict=True) if d in job.wanted}
    if job.recipients is not None:
        if job.mode != "ids":
            out.lacking = [d for d in ids[selected] if d not in job.recipients]
        out.addressed = {d for d in ids if d in job.recipients}
    above = np.flatnonzero(scores >= spec.threshold)
    order = np.lexsort((positions[above], scores[above]))[: job.keep]
    out.cand_scores, out.cand_pos = scores[above][order], positions[above][order]
    for name in letters.counterfactual.actionable:
        col = features[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=np.float64)
            if not np.all(np.isnan(values)):
                out.low[name], out.high[name] = np.nanmin(values), np.nanmax(values)
    known = ~np.isnan(x)
    out.count = known.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out.mean = np.where(known, x, 0.0).sum(axis=0) / out.count
        out.m2 = np.where(known, (x - out.mean) ** 2, 0.0).sum(axis=0)
    out.distinct = [np.unique(c[~np.isnan(c)])[: DISCRETE_MAX + 1] for c in x.T]
    out.whole = np.all(~known | (x == np.round(x)), axis=0)
    out.magnitude = np.where(known, np.abs(x), 0.0).max(axis=0, initial=0.0)
    out.decimals = recorded_decimals(x)
    return out


def _baseline(audit: Any, job: _Job, parts: list[_Part]) -> Baseline:
    """``choose_baseline`` over all rows, from the partitions' summaries."""
    spec = job.spec
    settings = spec.letters.baseline if spec.letters is not None else None
    assert settings is not None
    if settings.kind == "cutoff":
        # the lowest scores at or above the threshold, by position: the band is their
        # prefix, so choose_baseline over these candidates picks what it picks over all
        scores = np.concatenate([p.cand_scores for p in parts])
        pos = np.concatenate([p.cand_pos for p in parts])
        order = np.lexsort((pos, scores))[: job.keep]
        by_pos = order[np.argsort(pos[order], kind="stable")]
        cand_pos, cand_scores = pos[by_pos], scores[by_pos]
        # keep >= max_rows and >= 5: the band's count among the candidates decides as it
        # does among all rows (at least five, or fewer than five and all of them here)
        chosen = choose_baseline(
            settings,
            cand_scores,
            np.ones(len(cand_scores), dtype=bool),
            spec.threshold,
            seed=spec.seed,
        )
        return Baseline(cand_pos[chosen.rows], chosen.description, chosen.record)
    pool = [p.rows if settings.kind == "all" else p.favorable for p in parts]
    ranks, text, record = sample_baseline(settings, sum(pool), seed=spec.seed)
    if settings.kind == "all":
        return Baseline(ranks.astype(np.int64), text, record)
    starts = np.cumsum([0, *pool])
    wanted: dict[int, list[int]] = {}
    for r in ranks:
        at = int(np.searchsorted(starts, r, side="right") - 1)
        wanted.setdefault(parts[at].key, []).append(int(r - starts[at]))
    found = audit._map(audit.frame, _columns(spec), partial(_favorable_at, job=job, wanted=wanted))
    rows = np.sort(np.concatenate([np.asarray(r, dtype=np.int64) for _, r in found]))
    return Baseline(rows, text, record)


def _favorable_at(
    frame: pd.DataFrame, part: int, job: _Job, wanted: dict[int, list[int]]
) -> np.ndarray:
    """Positions of this partition's k-th favourable decisions (k: ``wanted``)."""
    del part
    ranks = wanted.get(int(frame[POS].iloc[0]) >> PART_BITS)
    if not ranks:
        return np.zeros(0, dtype=np.int64)
    model, features, positions, raw = _partition(frame, job)
    _, favorable = _outcomes(raw, job, model, np.asarray(model.encode(features)))
    return np.asarray(positions[np.flatnonzero(favorable)[ranks]], dtype=np.int64)


def _reference(first: pd.DataFrame, parts: list[_Part], job: _Job) -> pd.DataFrame:
    """The counterfactual search's inputs from all rows: the first row (the probe of the
    categories' codes) and each actionable numeric feature's observed range."""
    rows = [first]
    for name in sorted({n for p in parts for n in p.low}):
        lo = min(p.low[name] for p in parts if name in p.low)
        hi = max(p.high[name] for p in parts if name in p.high)
        for value in (lo, hi):
            row = first.copy()
            row[name] = value
            rows.append(row)
    return _as_stored(pd.concat(rows, ignore_index=True), job)


def _noise(parts: list[_Part], noise: float) -> FeatureNoise:
    """``FeatureNoise.from_reference`` over all rows, from per-partition moments."""
    count = np.zeros_like(parts[0].count)
    mean = np.zeros_like(parts[0].mean)
    m2 = np.zeros_like(parts[0].m2)
    for p in parts:  # Chan et al.'s pairwise update, partition by partition
        n = count + p.count
        safe = np.where(n > 0, n, 1.0)
        pm = np.nan_to_num(p.mean)
        delta = pm - mean
        mean = np.where(n > 0, mean + delta * p.count / safe, 0.0)
        m2 = m2 + p.m2 + delta**2 * count * p.count / safe
        count = n
    distinct = [
        len(np.unique(np.concatenate([p.distinct[j] for p in parts]))) for j in range(len(count))
    ]
    continuous = np.array(distinct) > DISCRETE_MAX
    std = np.sqrt(m2 / np.where(count > 0, count, 1.0))
    scale = np.where(continuous, noise * std, 0.0)
    whole = np.all([p.whole for p in parts], axis=0)
    magnitude = np.max([p.magnitude for p in parts], axis=0)
    decimals = np.max([p.decimals for p in parts], axis=0)  # the finest any part needs
    return FeatureNoise(scale, whole, magnitude, decimals)


def _collect(
    audit: Any, columns: list[str], job: _LetterJob, progress: Progress | None
) -> list[IssuedLetter]:
    """Run the letters pass and gather its letters, in batch order."""
    from pyspark.sql.types import BinaryType, LongType, StructField, StructType

    from auditor.errors import AuditorError

    schema = StructType([StructField("i", LongType()), StructField("out", BinaryType())])
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "PySpark does not yet fully support pandas", FutureWarning
        )
        mapped = audit.frame.select(*columns, POS).mapInArrow(
            partial(_letters_task, job=job), schema
        )
    got: list[tuple[int, IssuedLetter]] = []
    largest = 0.0
    # every partition at once (toLocalIterator would run them one after another, on one
    # core); the driver holds the letters until they are stored in any case
    table = mapped.toArrow()
    for i, out in zip(table.column("i").to_pylist(), table.column("out").to_pylist(), strict=True):
        if i < 0:
            raise AuditorError(pickle.loads(out))
        record, html, pdf, error = pickle.loads(out)
        largest = max(largest, error)
        got.append((int(i), IssuedLetter(record, html, pdf)))
        if progress:
            progress(len(got), job.plan.total)
    got.sort(key=lambda item: item[0])
    # one baseline record for the batch: the largest error over all its letters
    return [
        IssuedLetter(lt.record.with_additivity_error(largest), lt.html, lt.pdf) for _, lt in got
    ]


def _letters_task(batches: Iterator[Any], job: _LetterJob) -> Iterator[Any]:
    """mapInArrow function: this partition's letters, ``CHUNK`` at a time.

    A Spark Python worker only runs tasks, so it may take what a letter render worker
    takes: its module objects out of PySpark's per-task collection and WeasyPrint's
    layout fast path (the same PDF bytes)."""
    import pyarrow as pa
    from pyspark import TaskContext

    from auditor.engine.spark import freeze_spark_worker
    from auditor.errors import AuditorError
    from auditor.report import layout_fastpath

    if TaskContext.get() is not None:  # in a Python worker, never in the driver
        layout_fastpath.install()
        freeze_spark_worker()

    tables = [pa.Table.from_batches([b]) for b in batches]
    if not tables:
        return
    frame = pa.concat_tables(tables).to_pandas()
    try:
        yield from _letters_of(frame, job)
    except AuditorError as exc:
        # a user error (e.g. an unmapped principal reason): its message, not a traceback
        yield pa.RecordBatch.from_pydict(
            {"i": [-1], "out": [pickle.dumps(str(exc))]},
            schema=pa.schema([("i", pa.int64()), ("out", pa.binary())]),
        )


def _letters_of(frame: pd.DataFrame, job: _LetterJob) -> Iterator[Any]:
    import pyarrow as pa

    base = job.job
    spec, plan = base.spec, job.plan
    letters = spec.letters
    assert letters is not None
    model, features, positions, raw = _partition(frame, base)
    x = np.asarray(model.encode(features), dtype=np.float64)
    _, favorable = _outcomes(raw, base, model, x)
    ids = raw[spec.columns.id].astype(str).to_numpy()
    key = int(frame[POS].iloc[0]) >> PART_BITS
    if base.mode == "ids":
        rows = [r for r, p in enumerate(positions) for _ in job.places.get(int(p), [])]
        index = np.array([i for p in positions for i in job.places.get(int(p), [])])
    else:
        rows = list(np.flatnonzero(~favorable)) if base.mode == "adverse" else list(range(len(x)))
        index = job.offsets[key] + np.arange(len(rows))
    if not rows:
        return
    search = CounterfactualSearch(model, letters.counterfactual, job.reference, spec.threshold)
    report = [c for c in letters.consumer_report.columns.named() if c in raw.columns]
    schema = pa.schema([("i", pa.int64()), ("out", pa.binary())])
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        with RenderQueue() as queue, contextlib.ExitStack() as scope:
            decided = LetterDecisions(
                features.iloc[chunk],
                x[chunk],
                [str(ids[r]) for r in chunk],
                favorable[chunk],
                index=index[start : start + CHUNK],
                reports=[{c: raw[c].iloc[r] for c in report} for r in chunk] if report else None,
            )
            built = build_letters(
                plan, decided, model=model, search=search, queue=queue, scope=scope
            )
            error = built.additivity_error
            done = finish_letters(built, plan.kind, queue.results())
        yield pa.RecordBatch.from_pydict(
            {
                "i": [int(i) for i in index[start : start + CHUNK]],
                "out": [pickle.dumps((lt.record, lt.html, lt.pdf, error)) for lt in done],
            },
            schema=schema,
        )
