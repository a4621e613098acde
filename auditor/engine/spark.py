"""The Spark engine: the audit computed where the decisions are; the driver holds no rows.

Every pass is a ``mapInArrow`` over the partitions that returns one small summary per
partition (pickled counts and sums, :mod:`auditor.engine.partials`), merged on the
driver into what the in-memory path computes over all rows at once. Passes are few,
because each one reads every row again:

1. *checks*: the per-decision columns validated per partition, which also count their
   rows, so each row knows its global position (the seeded sample of rows to explain,
   the proxy AUC folds, row numbers in errors: a failed check is run again with the
   positions to name the rows); the checks that need every row (outcome values; repeated
   ids by a Spark aggregate of 64-bit hashes, the ids themselves only if a hash repeats);
2. *explain* (with a model): the kernel of the in-process engine per Arrow batch
   (:func:`auditor.engine.kernel.run_chunk`): attribution sums per batch, and each row's
   score appended to the rows, which stay **persisted on the executors** for the
   following passes, packed (:mod:`auditor.engine.packed`: Arrow batches as byte
   strings, so no pass converts them value by value) (the model is loaded once per Python
   worker from its file bytes).
   The same pass prepares the next ones: the score range and its first radix digit, the
   explained rows with a known protected value, and a census of each feature (dtype, a
   few distinct values, category counts, first radix digit). Without a model a pass of
   its own does this;
3. *order statistics*: the full-sample score median (LL144 scoring rate) and the
   quantiles of numeric features (slice bins) by exact radix selection
   (:mod:`auditor.metrics.order`), in shared passes (usually one more) that read only
   the columns still being selected;
4. *cells and tables*: the decision cells per partition
   (:class:`~auditor.metrics.cells.DecisionCells`) merged: every group metric, the dataset
   summary and the within-segment ratios follow through the same
   :func:`auditor.engine.statistics.group_statistics` as in memory; in the same pass, slice
   tables, proxy-score moments/crosstabs and per-(fold, category, group) counts for the
   categorical proxy AUCs;
5. *ranks*, in the job of the cells and tables: the proxy AUC of a numeric feature with
   many values needs every row's rank: the task counting a partition's cells also stacks
   its explained rows' (feature, value, protected-value combination) triples, which are
   hash-partitioned by feature (the only shuffle of values, inside the cluster), the cells
   riding along on a row of their own; the task holding a feature returns per-group rank
   sums (a job of its own read every persisted row again: 1.8 s of 9.4 at 200k rows).

6. *controls* (with ``controls`` or ``columns.outcomes``): the regression-adjusted
   analyses from partition sums (:mod:`auditor.metrics.controls_merged`): a census pass,
   a groups pass, one pass per Newton step (usually six to ten) and one at the final
   coefficients; the driver holds k × k sums per grouping.

Nothing per row reaches the driver except the explainer's background rows (``explain.
background``, a few hundred). Per-decision records for letters are not kept by this
engine: a Spark audit's letters read the decisions again from its data, where they are
(:mod:`auditor.letters.spark`).
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditor.data import data_format, outcome_problems
from auditor.engine.kernel import ChunkPlan, run_chunk
from auditor.engine.packed import packed_rows, unpacked
from auditor.engine.partials import (
    POS,
    RANK_SUMMARY,
    SCORE,
    SUMS,
    CellsPart,
    Census,
    Job,
    Layout,
    NarrowCheck,
    Prepared,
    TablePlan,
    Tables,
    audited_scores,
    distinct_ids,
    measured,
    narrow_check,
    narrow_spec,
    order_histograms,
    prepare,
    prepare_frame,
    ranked_sums,
    stacked_rows,
)
from auditor.engine.sums import AttributionSums
from auditor.errors import AuditorError, DataValidationError
from auditor.explain.run import NO_MODEL_REASON, TURNED_OFF_REASON
from auditor.metrics.birdie_cells import BirdieCells
from auditor.metrics.cells import DecisionCells
from auditor.metrics.counts import ScoreGrid
from auditor.metrics.gap import (
    auc_from_rank_sum,
    rank_proxies,
    ranked_groups,
    share_auc,
)
from auditor.metrics.group_metrics import Grouping
from auditor.metrics.order import (
    Histogram,
    Keys,
    Probe,
    median_of,
    median_ranks,
    merge_answers,
    nanquantile_of,
    quantile_ranks,
    select,
)
from auditor.metrics.proxies import correlation_ratio_of, cramers_v_of
from auditor.metrics.slices import (
    BinPlan,
    candidates_from_table,
    category_plan,
    numeric_plan,
    select_slices,
)
from auditor.models.base import ModelAdapter
from auditor.models.checks import training_categories, unseen_from_counts
from auditor.provenance import is_url, listing_sha256
from auditor.result import MetricRecord, ProxyRank, ProxyScore
from auditor.spec import AuditSpec

if TYPE_CHECKING:
    from auditor.engine.measured import Measured

_MODELS: dict[str, ModelAdapter] = {}  # per Python worker: model digest -> adapter
_FROZEN_AT = 0  # per Python worker: how many modules it had imported at its last gc.freeze
# JVM options of a local session auditor starts itself. Such a session lives for one
# audit (or one process) and its one JVM is driver and executor: the JIT's optimising
# tier (C2) spent more CPU compiling the hot Parquet, Arrow and cache code than its
# faster code gave back within the audit (1M rows, local[2]: 14 s of C2 compiler threads;
# with C1 only, the JVM's CPU over the audit fell from 41 s to 32 s while the tasks' own
# JVM time rose from 15 s to 16 s). Given as spark.driver.defaultJavaOptions, which
# Spark puts before spark.driver.extraJavaOptions: an operator's options still win.
LOCAL_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"
_SLICE_BINS = 4
Stage = Callable[[str], Any]
# per numeric feature ranked for the proxy AUCs, per attribute: rows with a known value,
# per group (members, rank sum)
RankSums = dict[str, dict[str, tuple[int, dict[str, tuple[int, float]]]]]


def spark_session(master: str | None) -> Any:
    """The active SparkSession (spark-submit, notebooks, tests), else a new one."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise AuditorError(
            "The Spark engine needs PySpark: pip install 'auditor[spark]' (and Java 17)."
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = master or "local[*]"
    builder = SparkSession.builder.appName("auditor").config(
        "spark.ui.showConsoleProgress", "false"
    )
    if master == "local" or master.startswith("local["):
        builder = builder.config("spark.driver.defaultJavaOptions", LOCAL_JAVA_OPTIONS)
    session = builder.master(master).getOrCreate()
    # workers must run this interpreter (with auditor, lightgbm, torch), not the system
    # one: PySpark takes the workers' interpreter from $PYSPARK_PYTHON (else "python3")
    # into this attribute, which every Python function it ships carries; set here rather
    # than by writing the process environment
    if not os.environ.get("PYSPARK_PYTHON"):
        session.sparkContext.pythonExec = sys.executable
    return session


def remote_sha256(spec: AuditSpec, url: str) -> str:
    """:func:`~auditor.provenance.path_sha256` of data that Spark reads from a URL: each
    file's SHA-256 is computed on the cluster; only the digests reach the driver."""
    import posixpath
    from urllib.parse import urlparse

    from pyspark.sql import functions as F

    session = spark_session(spec.engine.master)
    try:
        files = session.read.format("binaryFile").option("recursiveFileLookup", "true").load(url)
        found = files.select("path", F.sha2(F.col("content"), 256).alias("d")).toArrow()
    except Exception as exc:  # Spark raises its own analysis errors
        raise DataValidationError(f"{url}: Spark cannot read it: {exc}") from None
    root = urlparse(url).path
    listing = [
        (posixpath.relpath(urlparse(p).path, root), d)
        for p, d in zip(
            found.column("path").to_pylist(), found.column("d").to_pylist(), strict=True
        )
    ]
    if len(listing) == 1 and listing[0][0] == ".":
        return str(listing[0][1])  # one file: its own digest, as for a local file
    return listing_sha256(listing)


def data_location(spec: AuditSpec) -> str:
    """``data.path`` as Spark reads it: a URL as written, a local path resolved."""
    path = spec.data.path
    return path if is_url(path) else str(spec.resolve(path))


def _ids_as_text(spark: Any, path: str, key: str) -> Any:
    """A CSV read with inferred types, but the id column as written (as
    :func:`auditor.data.read_table` reads it): ``007`` is not ``7``."""
    from pyspark.sql.types import StringType, StructField, StructType

    frame = spark.read.csv(path, header=True, inferSchema=True)
    fields = frame.schema.fields
    if all(f.name != key or isinstance(f.dataType, StringType) for f in fields):
        return frame
    schema = StructType(
        [StructField(f.name, StringType(), True) if f.name == key else f for f in fields]
    )
    # the schema was inferred from this file, so its columns are in the file's order
    return spark.read.schema(schema).csv(path, header=True)


def _each_partition(
    fn: Callable[[pd.DataFrame, int], Any], packed: bool = False
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """A mapInArrow function: ``fn`` over the whole partition, one pickled result row
    (``packed``: the partition's rows are packed batches, :mod:`auditor.engine.packed`)."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        freeze_spark_worker()
        frame = _partition_frame(batches, packed)
        if frame is None:
            return
        result = fn(frame, _partition_id())
        yield pa.RecordBatch.from_pydict({"out": [pickle.dumps(result)]})

    return run


def freeze_spark_worker() -> None:
    """In a Spark task: the Python worker's objects kept out of the cyclic collector's way.

    PySpark's daemon runs ``gc.collect()`` after every task of a reused worker, and a full
    collection walks every object of the modules the worker imported (pandas, pyarrow,
    scipy, numba, LightGBM): about 90 ms of CPU per task, however few its rows (36
    trivial tasks: 3.3 s of the workers' CPU; 0.07 s with those objects frozen). They are
    frozen (:func:`gc.freeze`) after a collection, whenever the worker has imported
    modules since it last froze them: rarely, so that few of the tasks' own objects are
    frozen with them (a frozen object in a reference cycle is never freed).
    """
    global _FROZEN_AT
    from pyspark import TaskContext

    if TaskContext.get() is None or len(sys.modules) <= _FROZEN_AT:
        return
    gc.collect()
    gc.freeze()
    _FROZEN_AT = len(sys.modules)


def _partition_id() -> int:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else 0


def _partition_frame(batches: Iterator[Any], packed: bool) -> pd.DataFrame | None:
    """A task's whole partition as one frame (None: no rows), from its Arrow batches
    (``packed``: batches of packed rows, :mod:`auditor.engine.packed`)."""
    import pyarrow as pa

    rows = unpacked(batches) if packed else batches
    tables = [pa.Table.from_batches([b]) for b in rows]
    if not tables:
        return None
    frame: pd.DataFrame = pa.concat_tables(tables).to_pandas()
    return frame


class SparkAudit:
    """One audit's passes over a Spark DataFrame of decisions (see the module docstring)."""

    def __init__(self, spec: AuditSpec) -> None:
        if spec.data.protected_path:
            raise DataValidationError(
                "engine: spark reads one dataset; join the protected attributes "
                "(data.protected_path) into it first."
            )
        from pyspark.sql import functions as F

        self.spec = spec
        self.spark = spark_session(spec.engine.master)
        path = data_location(spec)
        self.label = path
        kind = data_format(path, spec.data.format)
        reader = self.spark.read
        try:
            frame = (
                reader.parquet(path)
                if kind == "parquet"
                else _ids_as_text(self.spark, path, spec.columns.id)
            )
        except Exception as exc:  # Spark raises its own analysis errors
            raise DataValidationError(f"{path}: Spark cannot read it: {exc}") from None
        self.frame = frame.withColumn(POS, F.monotonically_increasing_id())
        self.names = [c for c in self.frame.columns if c != POS]
        self.decided = self.frame  # the rows with the model's scores once explained
        self.packed = False  # whether ``decided`` holds packed batches (once explained)
        self.kept: pd.DataFrame | None = None  # rows the explain pass returned (see take)
        self.has_model = False
        self.rank_sums: RankSums = {}  # the proxy AUCs' rank sums, from the cells pass
        if spec.engine.chunk_rows:
            self.spark.conf.set(
                "spark.sql.execution.arrow.maxRecordsPerBatch", str(spec.engine.chunk_rows)
            )
        missing = [f for f in spec.columns.features if f not in self.names]
        if missing:
            raise DataValidationError(
                f"{self.label}: the data do not match the spec.",
                problems=[f"column '{f}' (named in columns.features) is missing" for f in missing],
            )
        probabilities = [c for g in spec.protected_probabilities.values() for c in g.values()]
        cols = spec.columns
        wanted = [cols.id, cols.decision, cols.score, cols.label, *spec.protected]
        wanted += [*probabilities, *spec.strata, *spec.controls, *cols.outcomes]
        wanted += spec.geography  # read only for the features' association with them
        self.narrow = [c for c in dict.fromkeys(w for w in wanted if w) if c in self.names]
        self.job = Job(spec, narrow_spec(spec), Layout({}, None), False)

    # -- running passes ---------------------------------------------------------------

    def _map(
        self,
        frame: Any,
        columns: list[str],
        fn: Callable[[pd.DataFrame, int], Any],
        positions: bool = True,
    ) -> list[tuple[int, Any]]:
        """Run ``fn`` per partition over these columns; (partition, result) in order."""
        packed = self.packed and frame is self.decided
        with warnings.catch_warnings():
            # mapInArrow goes through pandas_udf's version check; we convert ourselves
            warnings.filterwarnings(
                "ignore", "PySpark does not yet fully support pandas", FutureWarning
            )
            wanted = [*columns, POS] if positions else columns
            mapped = frame.select(*dict.fromkeys(wanted)).mapInArrow(
                _each_partition(lambda f, p: (p, fn(f, p)), packed), "out binary"
            )
            rows = mapped.toArrow().column("out").to_pylist()
        out = [pickle.loads(r) for r in rows]
        return sorted(out, key=lambda r: r[0])

    def _merged(
        self, frame: Any, columns: list[str], fn: Callable[[pd.DataFrame, int], Any]
    ) -> Any:
        parts = [r for _, r in self._map(frame, columns, fn)]
        return reduce(lambda a, b: a.merge(b), parts) if parts else None

    # -- 1, 2: layout and checks --------------------------------------------------------

    def layout(self) -> None:
        """The checks, and rows per partition (hence every row's global position).

        One pass: each partition counts its rows and checks them with row numbers within
        the partition; only when a check fails is the pass repeated with the layout, so
        that the error names global row numbers.
        """
        job, label = self.job, self.label
        local = replace(job, layout=Layout(None, None))
        parts = [r for _, r in self._map(self.frame, self.narrow, partial(_check, local, label))]
        offsets, start = {}, 0
        for part in sorted((c for c in parts if c.rows), key=lambda c: c.part):
            offsets[part.part] = start
            start += part.rows
        self.rows = start
        self.job = replace(job, layout=Layout(offsets, None))
        if not self.rows:
            raise DataValidationError(
                f"{self.label}: the data do not match the spec.", problems=["the file has no rows"]
            )
        distinct = distinct_ids(parts)  # before merging (which adds into the first)
        found = reduce(lambda a, b: a.merge(b), parts)
        if found.problems:
            found = self._merged(self.frame, self.narrow, partial(_check, self.job, label))
        problems = list(found.problems)
        for name, values in found.outcomes.items():
            if not any(name in p for p in problems):
                problems += outcome_problems(name, values, self.spec.favorable)
        if not distinct:  # ids that may repeat: grouped on the cluster
            problems += self._repeated_ids()
        if problems:
            raise DataValidationError(
                f"{self.label}: the data do not match the spec.", problems=problems
            )
        self.protected_values = found.protected

    def _repeated_ids(self) -> list[str]:
        from pyspark.sql import functions as F

        key = self.spec.columns.id
        # a 64-bit hash first (a long is far cheaper to group than a string); only if
        # some hash repeats are the ids themselves grouped, exactly
        hashed = self.frame.groupBy(F.xxhash64(F.col(key)).alias("h")).count()
        if not hashed.filter(F.col("count") > 1).limit(1).count():
            return []
        dup = (
            self.frame.groupBy(F.col(key).cast("string").alias("id"))
            .agg(F.count("*").alias("n"), F.min(POS).alias("first"))
            .filter(F.col("n") > 1)
        )
        total = dup.count()
        if not total:
            return []
        shown = [r["id"] for r in dup.orderBy("first").limit(5).collect()]
        more = f" … ({total} in all)" if total > 5 else ""
        return [f"id column repeats {total} id(s), e.g. {', '.join(shown)}{more}"]

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """A few rows by sorted global position (the explainer's background, the
        explanation-quality sample): from the rows the explain pass returned where it
        returned them all, else by a pass over the data."""
        from pyspark.sql import functions as F

        ids = self.job.layout.ids(np.asarray(positions, dtype=np.int64))
        kept = self.kept
        if kept is not None and set(columns) <= set(kept.columns) and len(kept):
            have = kept[POS].to_numpy(dtype=np.int64)
            where = np.minimum(np.searchsorted(have, ids), len(have) - 1)
            if bool(np.all(have[where] == ids)):
                return kept.iloc[where][columns].reset_index(drop=True)
        found = self.frame.filter(F.col(POS).isin(ids.tolist()))
        table = found.select(*columns, POS).toArrow()
        out: pd.DataFrame = table.to_pandas().sort_values(POS, kind="stable")
        return out.drop(columns=[POS]).reset_index(drop=True)

    # -- 3: explain ---------------------------------------------------------------------

    def explain(
        self, plan: ChunkPlan, model: ModelAdapter, keep: np.ndarray | None = None
    ) -> AttributionSums:
        """Score and attribute every partition; keep the scored rows on the executors.

        The same pass prepares the later ones (:class:`~auditor.engine.partials.Prepared`:
        the score range and first radix digit, the features' census) and returns the
        features of the rows at the sorted global positions ``keep`` (the explanation-
        quality sample, read by :meth:`take` without another pass over the data).
        """
        from pyspark import StorageLevel
        from pyspark.sql import functions as F
        from pyspark.sql.types import BinaryType, StructField, StructType

        spec = self.spec
        assert spec.model is not None
        model_path = spec.resolve(spec.model.path)
        layout = self.job.layout
        explained = plan.explain_rows if plan.method is not None else None
        self.job = replace(self.job, has_model=True, layout=replace(layout, explain_rows=explained))
        payload = _Payload(
            job=self.job,
            model_bytes=model_path.read_bytes(),
            model_name=model_path.name,
            plan=plan
            if plan.explain_rows is None
            else replace(plan, explain_rows=layout.ids(plan.explain_rows)),
            task_cpus=int(self.spark.conf.get("spark.task.cpus", "1") or 1),
            keep=None if keep is None else layout.ids(np.asarray(keep, dtype=np.int64)),
        )
        columns = list(dict.fromkeys([*spec.columns.features, *self.narrow, POS]))
        source = self.frame.select(*columns)
        # packed (auditor.engine.packed): a few MiB of a batch per row, a blob per column
        schema = StructType(
            [StructField(name, BinaryType(), True) for name in [*columns, SCORE, SUMS]]
        )
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "PySpark does not yet fully support pandas", FutureWarning
            )
            mapped = source.mapInArrow(partial(_partition_kernel, payload=payload), schema)
        # the packed rows are cached uncompressed: their columns are mostly features
        # (doubles, which do not compress) and each later pass reads them, so compression
        # would cost every pass time for no space (the session's setting is restored once
        # the first action has built the cache)
        conf, key = self.spark.conf, "spark.sql.inMemoryColumnarStorage.compressed"
        before = conf.get(key, None)
        conf.set(key, "false")
        try:
            self.decided = mapped.persist(StorageLevel.MEMORY_AND_DISK)
            self.packed = self.has_model = True
            blobs = (
                self.decided.filter(F.col(SUMS).isNotNull()).select(SUMS).toArrow().column(0)
            ).to_pylist()
        finally:
            if before is None:
                conf.unset(key)
            else:
                conf.set(key, before)
        total = AttributionSums(len(spec.columns.features))
        prepared: dict[int, Prepared] = {}
        kept: list[pd.DataFrame] = []
        for part, sums, prep, rows in sorted((pickle.loads(b) for b in blobs), key=lambda r: r[0]):
            total.merge(sums)
            prepared[part] = prepared[part].merge(prep) if part in prepared else prep
            if rows is not None:
                kept.append(rows)
        self.prepared = prepared
        if kept:
            self.kept = pd.concat(kept).sort_values(POS, kind="stable").reset_index(drop=True)
        return total

    def prepare(self) -> None:
        """Without a model: the pass that scoring would have done (census, score range)."""
        job = self.job
        columns = list(dict.fromkeys([*self.narrow, *self.spec.columns.features]))
        self.prepared = dict(self._map(self.frame, columns, partial(_prepare, job)))

    def release(self) -> None:
        """Drop the persisted rows from the executors."""
        if self.decided is not self.frame:
            self.decided.unpersist()

    # -- 4, 5, 6: order statistics, cells and feature tables ------------------------------

    def _select(
        self, targets: dict[str, list[int]], first: dict[str, Histogram]
    ) -> dict[tuple[str, int], float]:
        job = self.job
        score = self.spec.columns.score or SCORE  # recorded scores win over the model's

        def run(probes: list[Probe]) -> dict[Probe, Histogram | Keys]:
            # each pass reads only the columns still being selected in
            wanted = sorted({score if p.column == SCORE else p.column for p in probes})
            hist = partial(_order_hist, job, probes)
            parts = self._map(self.decided, wanted, hist, positions=False)
            merged: dict[Probe, Histogram | Keys] = {}
            for _, part in parts:
                for probe, h in part.items():
                    merged[probe] = merge_answers(merged[probe], h) if probe in merged else h
            return merged

        return select(targets, run, first)

    def measure(self) -> tuple[DecisionCells, int]:
        """The merged decision cells, and (kept for :meth:`features`) the feature tables.

        The score median and the slice bins' quantiles are selected in shared passes;
        cells and tables then come from one pass over the rows.
        """
        spec = self.spec
        features = list(spec.columns.features)
        # merged into a new summary: the partitions' own are read again (fold offsets)
        found = reduce(lambda a, b: a.merge(b), self.prepared.values(), Prepared(Census(), {}, {}))
        self.found = found
        census = found.census
        targets: dict[str, list[int]] = {}
        first = dict(census.first)
        scored = spec.columns.score is not None or self.has_model
        if scored and found.score_range is not None and found.score_first is not None:
            targets[SCORE] = median_ranks(self.rows)
            first[SCORE] = found.score_first
        # slice bins: quantiles of many-valued numeric features, else top categories
        numeric_bins = [f for f in features if census.numeric[f] and census.distinct[f] is None]
        q = np.linspace(0, 1, _SLICE_BINS + 1)
        for f in numeric_bins:
            if census.valid[f]:
                targets[f] = quantile_ranks(census.valid[f], q)
        values = self._select(targets, first) if targets else {}
        if SCORE in targets:
            assert found.score_range is not None
            median = median_of(self.rows, partial(_value, values, SCORE))
            grid = ScoreGrid.for_scores(np.array(found.score_range))
            self.job = replace(self.job, median=median, grid=grid)
        bins: dict[str, BinPlan] = {}
        for f in features:
            if f in targets:
                quantiles = nanquantile_of(census.valid[f], q, partial(_value, values, f))
                bins[f] = numeric_plan(quantiles)
            elif f not in numeric_bins:
                cats = census.categories[f]
                assert cats is not None
                bins[f] = category_plan(cats, 8)
        # proxy AUCs: categorical (share) or by rank (numeric with many values)
        self.share = {
            a: [f for f in features if census.ranked_distinct.get((f, a)) is not None]
            for a in spec.protected
        }
        self.ranked = {
            a: [f for f in features if census.ranked_distinct.get((f, a)) is None]
            for a in spec.protected
        }
        folds: dict[int, dict[str, int]] = {}
        before = dict.fromkeys(spec.protected, 0)
        for p in sorted(self.prepared):
            folds[p] = dict(before)
            for a in spec.protected:
                before[a] += self.prepared[p].explained_known[a]
        self.bins = bins
        plan = TablePlan(bins, self.share, folds) if features else None
        columns = [*self._audited_columns(), *features]
        many = [f for f in features if any(f in fs for fs in self.ranked.values())]
        parts: list[CellsPart]
        if many:
            parts, self.rank_sums = self._cells_and_ranks(columns, plan, many)
        else:
            parts = [
                r for _, r in self._map(self.decided, columns, partial(_measured, self.job, plan))
            ]
        merged = reduce(lambda a, b: a.merge(b), [c.cells for c in parts])
        tables = [c.tables for c in parts if c.tables is not None]
        self.tables = reduce(lambda a, b: a.merge(b), tables) if tables else Tables()
        return merged, sum(c.disagree for c in parts)

    def controls(
        self, groups: list[Grouping], references: dict[str, str | None]
    ) -> tuple[list[MetricRecord], list[str]]:
        """The ``controls`` records (adjusted odds ratio and marginal effect, residual SMD,
        CDD, adjusted mean differences) from partition sums: a pass per Newton step
        (:mod:`auditor.metrics.controls_merged`)."""
        from auditor.metrics.controls_merged import controls_from_passes, merge_parts

        spec, job, columns = self.spec, self.job, self._audited_columns()
        # the named control group per attribute (as the in-memory path reads it)
        control = dict(spec.reference) if isinstance(spec.reference, dict) else {}

        def run(fn: Any) -> dict[Any, Any]:
            parts = self._map(self.decided, columns, partial(_controls_part, job, groups, fn))
            return reduce(merge_parts, [r for _, r in parts], {})

        return controls_from_passes(
            run,
            [(g.name, control.get(g.name) or references.get(g.name)) for g in groups],
            controls=list(spec.controls),
            cdd_by=spec.cdd_by,
            outcomes=list(spec.columns.outcomes),
            has_scores=spec.columns.score is not None or self.has_model,
            min_group_size=spec.min_group_size,
        )

    def birdie(self) -> tuple[list[MetricRecord], list[str]]:
        """BIRDiE's bias-corrected rates: each partition reduces its rows to a cell table
        per grouping (distinct outcome and membership weights, with counts), the driver
        merges them and fits the EM and its bootstrap on the merged table, the table the
        in-memory engine fits (:mod:`auditor.metrics.birdie_cells`)."""
        from auditor.engine.statistics import birdie_from_cells

        columns = self._audited_columns()
        parts = self._map(self.decided, columns, partial(_birdie_part, self.job))
        tables: dict[str, BirdieCells] = {}
        for _, part in parts:
            for name, cells in part.items():
                tables[name] = tables[name].merge(cells) if name in tables else cells
        return birdie_from_cells(self.spec, tables)

    def _audited_columns(self) -> list[str]:
        return [*self.narrow, *([SCORE] if self.has_model else [])]

    # -- 7: features -----------------------------------------------------------------------

    def features(
        self, decompositions: list[Any]
    ) -> tuple[list[MetricRecord], list[ProxyScore], list[ProxyRank]]:
        """Slice candidates (BH-selected), proxy scores and the proxy ranking."""
        spec, bins, tables = self.spec, self.bins, self.tables
        candidates: list[MetricRecord] = []
        proxies: list[ProxyScore] = []
        for attr in spec.protected:
            for f in spec.columns.features:
                if f in bins and (attr, f) in tables.slices:
                    candidates += candidates_from_table(
                        attr,
                        f,
                        tables.slices[(attr, f)],
                        list(bins[f].labels),
                        min_size=spec.min_group_size,
                    )
                if (attr, f) in tables.moments:
                    eta = correlation_ratio_of(tables.moments[(attr, f)])
                    proxies.append(ProxyScore(f, attr, "correlation_ratio", eta))
                elif (attr, f) in tables.crosstabs:
                    v = cramers_v_of(tables.crosstabs[(attr, f)])
                    proxies.append(ProxyScore(f, attr, "cramers_v", v))
        ranking = self._ranking(decompositions)
        proxies.sort(key=lambda p: (-p.value, p.attribute, p.feature))
        ranking.sort(key=lambda p: (-p.score, p.attribute, p.group, p.feature))
        return select_slices(candidates), proxies, ranking

    def geography(self) -> list[ProxyScore]:
        """Each feature's association with each ``geography`` column, from the merged
        tables (the statistics the in-memory :func:`auditor.metrics.proxies.proxy_scores`
        reduces each column to)."""
        tables = self.tables
        out: list[ProxyScore] = []
        for column in self.spec.geography:
            for f in self.spec.columns.features:
                if (column, f) in tables.geo_moments:
                    eta = correlation_ratio_of(tables.geo_moments[(column, f)])
                    out.append(ProxyScore(f, column, "correlation_ratio", eta))
                elif (column, f) in tables.geo_crosstabs:
                    v = cramers_v_of(tables.geo_crosstabs[(column, f)])
                    out.append(ProxyScore(f, column, "cramers_v", v))
        return out

    def _ranking(self, decompositions: list[Any]) -> list[ProxyRank]:
        spec, tables, share = self.spec, self.tables, self.share
        by_group = {(d.attribute, d.group): d for d in decompositions}
        sums = self.rank_sums
        out: list[ProxyRank] = []
        for attr in spec.protected:
            known = self.found.ranked_values.get(attr, set())
            groups = ranked_groups(attr, sorted(known), decompositions)
            aucs: dict[str, list[float | None]] = {}
            for f in spec.columns.features:
                if f in share[attr]:
                    counts = tables.shares.get((attr, f), {})
                    aucs[f] = [_share_auc(counts, g) for g in groups]
                else:
                    n, per = sums[f][attr]
                    aucs[f] = [
                        auc_from_rank_sum(
                            per.get(g, (0, 0.0))[1],
                            per.get(g, (0, 0.0))[0],
                            n - per.get(g, (0, 0.0))[0],
                        )
                        for g in groups
                    ]
            out += rank_proxies(attr, groups, aucs, by_group)
        return out

    def _cells_and_ranks(
        self, columns: list[str], plan: TablePlan | None, features: list[str]
    ) -> tuple[list[CellsPart], RankSums]:
        """The partitions' cells and tables (in partition order) and, per numeric feature
        ranked for the proxy AUCs and attribute, its rows and per-group (members, rank sum).

        One job: each partition's task counts its cells and stacks its explained rows'
        (feature index, value, combination of protected values), hash-partitioned by
        feature so each feature's values are ranked in one task (tasks return rank sums
        only); the cells travel the same way, on a row of their own, rather than a second
        job reading every persisted row again for the ranks.
        """
        from pyspark.sql import functions as F

        attrs = list(self.spec.protected)
        mapper = partial(
            _cells_and_stacked, job=self.job, plan=plan, features=features, packed=self.packed
        )
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "PySpark does not yet fully support pandas", FutureWarning
            )
            stacked = self.decided.select(*dict.fromkeys([*columns, POS])).mapInArrow(
                mapper, "fi int, v binary, c binary, k binary"
            )
        # as many tasks as partitions with rows (a Python task costs about 0.1 s however
        # few its rows: an empty one, or asking Spark through .rdd, cost 0.45 s at 200k)
        parts = max(1, min(len(features), len(self.prepared)))
        by_feature = stacked.repartition(parts, F.col("fi"))
        results = self._map(
            by_feature, ["fi", "v", "c", "k"], partial(_cells_ranked, attrs), positions=False
        )
        sums: RankSums = {f: {a: (0, {}) for a in attrs} for f in features}
        cells: list[tuple[int, CellsPart]] = []
        for _, (found, ranked) in results:
            cells += found
            for fi, per_attr in ranked.items():
                sums[features[fi]] = per_attr
        return [c for _, c in sorted(cells, key=lambda r: r[0])], sums


def _value(values: dict[tuple[str, int], float], column: str, rank: int) -> float:
    return values[(column, rank)]


def _share_auc(counts: dict[tuple[int, str, str], int], group: str) -> float | None:
    cats = sorted({c for _, c, _ in counts})
    where = {c: i for i, c in enumerate(cats)}
    n_in = np.zeros((5, len(cats)), dtype=np.int64)
    m_in = np.zeros((5, len(cats)), dtype=np.float64)
    for (fold, cat, g), n in counts.items():
        n_in[fold, where[cat]] += n
        if g == group:
            m_in[fold, where[cat]] += n
    return share_auc(n_in, m_in)


def _check(job: Job, label: str, frame: pd.DataFrame, part: int) -> NarrowCheck:
    return narrow_check(frame, job, label)


def _prepare(job: Job, frame: pd.DataFrame, part: int) -> Prepared:
    return prepare_frame(frame, job)


def _order_hist(job: Job, probes: list[Probe], frame: pd.DataFrame, part: int) -> Any:
    return order_histograms(frame, job, probes)


def _controls_part(
    job: Job, groups: list[Grouping], fn: Any, frame: pd.DataFrame, part: int
) -> Any:
    from auditor.engine.partials import audited
    from auditor.metrics.controls_merged import chunk_view

    batch, _ = audited(frame, job)
    return fn(chunk_view(batch, groups))


def _birdie_part(job: Job, frame: pd.DataFrame, part: int) -> dict[str, BirdieCells]:
    from auditor.engine.partials import audited
    from auditor.engine.statistics import birdie_cell_tables

    batch, _ = audited(frame, job)
    return birdie_cell_tables(job.spec, batch)


def _measured(job: Job, plan: TablePlan | None, frame: pd.DataFrame, part: int) -> CellsPart:
    return measured(frame, job, plan, part)


def _cells_and_stacked(
    batches: Iterator[Any], job: Job, plan: TablePlan | None, features: list[str], packed: bool
) -> Iterator[Any]:
    """mapInArrow: the partition's :func:`measured` cells (pickled with the partition
    index, on a row of feature index :data:`RANK_SUMMARY`), then its rows for the ranks
    (:func:`stacked_rows`)."""
    import pyarrow as pa

    freeze_spark_worker()
    frame = _partition_frame(batches, packed)
    if frame is None:
        return
    part = _partition_id()
    summary = pickle.dumps((part, measured(frame, job, plan, part)))
    yield pa.RecordBatch.from_arrays(
        [
            pa.array([RANK_SUMMARY], pa.int32()),
            pa.array([summary], pa.binary()),
            pa.array([b""], pa.binary()),
            pa.array([b""], pa.binary()),
        ],
        names=["fi", "v", "c", "k"],
    )
    yield stacked_rows(frame, job, features)


def _cells_ranked(
    attrs: list[str], frame: pd.DataFrame, part: int
) -> tuple[
    list[tuple[int, CellsPart]], dict[int, dict[str, tuple[int, dict[str, tuple[int, float]]]]]
]:
    """A task of the shuffled rows: the cells it carries and its features' rank sums."""
    summary = frame["fi"].to_numpy() == RANK_SUMMARY
    cells = [pickle.loads(b) for b in frame["v"].to_numpy(dtype=object)[summary]]
    return cells, ranked_sums(frame, attrs)


def run_spark(
    spec: AuditSpec,
    model: ModelAdapter | None,
    groups: list[Grouping],
    stage: Stage,
    timings: dict[str, float] | None = None,
) -> Measured:
    """The passes of a Spark audit, merged on the driver, ready for
    :func:`auditor.engine.driver.finish` (the finalisation every engine shares)."""
    from auditor.engine.measured import Measured, encoded, plan_for
    from auditor.engine.quality import explanation_quality, quality_settings
    from auditor.engine.statistics import (
        check_control_values,
        finish_controls,
        group_statistics,
    )
    from auditor.engine.summary import gap_decompositions
    from auditor.explain.quality import draw_sample

    audit = SparkAudit(spec)
    try:
        with stage("load data"):
            audit.layout()
            check_control_values(spec, audit.protected_values)
        sums = plan = None
        reason = None
        if model is None:
            reason = NO_MODEL_REASON
            audit.prepare()
        else:
            with stage("explain"):
                features = list(spec.columns.features)
                plan = plan_for(
                    spec,
                    model,
                    audit.rows,
                    lambda positions: encoded(model, audit.take(positions, features)),
                    audit.label,
                )
                if plan.method is None:
                    reason = TURNED_OFF_REASON
                keep = None
                if plan.method is not None and spec.explain.quality.enabled:
                    # the explanation-quality sample (a function of the row count and the
                    # seed): its rows come back with the explain pass
                    keep = draw_sample(audit.rows, quality_settings(spec)).positions
                merged = audit.explain(plan, model, keep)
                sums = merged if plan.method is not None else None
        method = plan.method if sums is not None and plan is not None else None
        with stage("explanation quality"):
            features = list(spec.columns.features)
            quality = explanation_quality(
                spec,
                model,
                method,
                audit.rows,
                lambda positions: encoded(model, audit.take(positions, features)),
                timings,
            )
        with stage("measure"):
            cells, disagree = audit.measure()
            unseen = {}
            if model is not None:
                cats = training_categories(model)
                unseen = unseen_from_counts(audit.found.census.categories, cats)
            decisions_from = "data"
            if model is not None and spec.columns.decision is None and spec.columns.score is None:
                decisions_from = "model"
            metrics, references = group_statistics(spec, cells, groups)
            extra_notes: list[str] = []
            if spec.controls or spec.columns.outcomes:
                adjusted, extra_notes = audit.controls(groups, references)
                metrics += finish_controls(spec, adjusted)  # as in memory
            if spec.protected_probabilities:
                corrected, corrected_notes = audit.birdie()
                metrics += corrected
                extra_notes += corrected_notes
            names = tuple(model.feature_names) if model is not None else ()
            decompositions = gap_decompositions(sums, names, groups, references) if sums else []
            ranked_with = [d for d in decompositions if d.attribute in spec.protected]
            proxies: list[ProxyScore] = []
            ranking: list[ProxyRank] = []
            geography: list[ProxyScore] = []
            if spec.columns.features:
                slices, proxies, ranking = audit.features(ranked_with)
                metrics += slices
                geography = audit.geography()
    finally:
        audit.release()
    return Measured(
        cells=cells,
        decisions_from=decisions_from,
        metrics=metrics,
        references=references,
        sums=sums,
        method=method,
        reason=reason,
        quality=quality,
        disagree=disagree,
        unseen=unseen,
        proxies=proxies,
        ranking=ranking,
        decompositions=decompositions,
        extra_notes=extra_notes,
        geography=geography,
    )


class _Payload:
    """What each task receives: the spec, the model's file bytes, the plan."""

    def __init__(
        self,
        job: Job,
        model_bytes: bytes,
        model_name: str,
        plan: ChunkPlan,
        task_cpus: int = 1,
        keep: np.ndarray | None = None,
    ) -> None:
        self.task_cpus = task_cpus
        self.keep = keep  # sorted Spark ids of the rows whose features to return
        self.job = job
        self.spec = job.spec
        self.model_bytes = model_bytes
        self.model_name = model_name
        self.plan = plan


def _worker_model(payload: _Payload) -> ModelAdapter:
    return worker_model(payload.spec, payload.model_bytes, payload.model_name)


def worker_model(spec: AuditSpec, model_bytes: bytes, model_name: str) -> ModelAdapter:
    """The model of ``spec`` from its file's bytes, loaded once per Python worker."""
    from auditor.models import load_model

    key = hashlib.sha256(model_bytes).hexdigest()
    if key not in _MODELS:
        folder = Path(tempfile.mkdtemp(prefix="auditor-model-"))
        try:  # the adapters read the whole file: the copy is not needed after loading
            path = folder / model_name
            path.write_bytes(model_bytes)
            assert spec.model is not None
            model_spec = spec.model.model_copy(update={"path": str(path)})
            model = load_model(spec.model_copy(update={"model": model_spec}))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        assert model is not None
        _MODELS[key] = model
    return _MODELS[key]


def _kept(frame: pd.DataFrame, keep: np.ndarray | None, columns: list[str]) -> pd.DataFrame | None:
    """These columns of the batch's rows whose Spark ids are among the sorted ``keep``."""
    if keep is None or not len(keep):
        return None
    ids = frame[POS].to_numpy(dtype=np.int64)
    where = np.minimum(np.searchsorted(keep, ids), len(keep) - 1)
    hit = np.flatnonzero(keep[where] == ids)
    return frame.iloc[hit][columns].copy() if len(hit) else None


def _partition_kernel(batches: Iterator[Any], payload: _Payload) -> Iterator[Any]:
    """mapInArrow function: each batch of rows with their scores as packed rows
    (:mod:`auditor.engine.packed`); on the first, in the :data:`SUMS` column, the pickled
    (partition, attribution sums, :class:`Prepared`, the rows of ``payload.keep`` among
    them or None, for :meth:`SparkAudit.take`)."""
    # Spark runs one task per core: task_cpus OpenMP threads and TreeSHAP threads per
    # task (numba's pool is as large as the machine: tasks × pool threads would
    # oversubscribe the cores), unless the cluster says otherwise (auditor.worker_threads)
    import pyarrow as pa
    from pyspark import TaskContext

    from auditor.data import protected_frame
    from auditor.worker_threads import limit_worker_threads

    freeze_spark_worker()
    ctx = TaskContext.get()
    part = ctx.partitionId() if ctx is not None else 0
    model = _worker_model(payload)
    limit_worker_threads(payload.task_cpus)  # after the model library loaded its OpenMP
    spec, job = payload.spec, payload.job
    features = list(spec.columns.features)
    for rb in batches:
        if not rb.num_rows:
            continue
        frame = rb.to_pandas()
        ids = frame[POS].to_numpy(dtype=np.int64)
        protected, _ = protected_frame(frame, spec)  # the driver reported any problem
        scores, sums = run_chunk(payload.plan, model, frame[features], protected, ids)
        scores = np.asarray(scores, dtype=np.float64)
        frame[SCORE] = scores
        prep = prepare(frame, job, protected, audited_scores(frame, job))
        scored = rb.append_column(pa.field(SCORE, pa.float64()), pa.array(scores, pa.float64()))
        kept = _kept(frame, payload.keep, rb.schema.names)  # the rows as the pass read them
        summary: bytes | None = pickle.dumps((part, sums, prep, kept))
        for row in packed_rows(scored):
            yield pa.RecordBatch.from_arrays(
                [*row, pa.array([summary], pa.binary())], names=[*scored.schema.names, SUMS]
            )
            summary = None  # on the batch's first packed row only
